package toss

import (
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/brokertest"
)

// Obviously fake credentials and token, long enough that any leak into an
// error string is unmistakable.
const (
	fakeClientID = "c_01FAKECLIENTIDfakeCLIENTID0000000000"
	fakeSecret   = "s_fakeSECRETfakeSECRETfakeSECRETfakeSECRETfake00"
	fakeToken    = "eyFAKEtokenFAKEtokenFAKEtokenFAKEtokenFAKEtokenFAKE00"
)

var (
	realCreds = kauth.Credentials{Broker: Broker, Env: kauth.Real, AppKey: fakeClientID, AppSecret: fakeSecret}

	// received is the fixed receipt time of the tests.
	received = time.Date(2026, 12, 7, 8, 37, 13, 0, kauth.KST)

	// broker is Toss as the shared assertions of brokertest see it.
	broker = brokertest.Broker{
		Name:        Broker,
		ContentType: "application/x-www-form-urlencoded",
		Secrets:     []string{fakeClientID, fakeSecret, fakeToken},
	}
)

type errWant = brokertest.ErrWant
