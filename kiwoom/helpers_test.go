package kiwoom

import (
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/brokertest"
)

// Obviously fake credentials and token, long enough that any leak into an
// error string is unmistakable.
const (
	fakeAppKey    = "KWfakeAPPKEY0000000000000000000000000000000"
	fakeAppSecret = "fakeSECRETKEYfakeSECRETKEYfakeSECRETKEYfake00"
	fakeToken     = "fakeTOKENfakeTOKENfakeTOKENfakeTOKENfakeTOKENfakeTOKENfakeTOKEN00"
)

var (
	mockCreds = kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Mock, AppKey: fakeAppKey, AppSecret: fakeAppSecret}
	realCreds = kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Real, AppKey: fakeAppKey, AppSecret: fakeAppSecret}

	// received is the fixed receipt time of the tests: 2024-11-06 08:37:13 KST.
	received = time.Date(2024, 11, 6, 8, 37, 13, 0, kauth.KST)

	// broker is Kiwoom as the shared assertions of brokertest see it.
	broker = brokertest.Broker{
		Name:        kauth.Kiwoom,
		ContentType: "application/json;charset=UTF-8",
		Secrets:     []string{fakeAppKey, fakeAppSecret, fakeToken},
	}
)

func fixedNow() time.Time { return received }

// errWant is the *kauth.Error a test expects (a zero code or status is not
// checked; RetryAfter always is).
type errWant = brokertest.ErrWant
