package kis

import (
	"errors"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/brokertest"
)

// Obviously fake credentials and token, long enough that any leak into an
// error string is unmistakable.
const (
	fakeAppKey    = "PSfakeAPPKEY0000000000000000000000000"
	fakeAppSecret = "fakeAPPSECRET/fakeAPPSECRET+fakeAPPSECRET/fakeAPPSECRET=="
	fakeToken     = "eyJfakeTOKEN.fakeTOKENfakeTOKENfakeTOKEN.fakeSIGNATURE"
)

var (
	mockCreds = kauth.Credentials{Broker: kauth.KIS, Env: kauth.Mock, AppKey: fakeAppKey, AppSecret: fakeAppSecret}
	realCreds = kauth.Credentials{Broker: kauth.KIS, Env: kauth.Real, AppKey: fakeAppKey, AppSecret: fakeAppSecret}

	// received is the fixed receipt time of the tests: 2023-12-21 08:16:59 KST.
	received = time.Date(2023, 12, 21, 8, 16, 59, 0, kauth.KST)

	// broker is KIS as the shared assertions of brokertest see it.
	broker = brokertest.Broker{
		Name:        kauth.KIS,
		ContentType: "application/json; charset=UTF-8",
		Secrets:     []string{fakeAppKey, fakeAppSecret, fakeToken},
	}
)

func fixedNow() time.Time { return received }

// errWant is the *kauth.Error a test expects (a zero code or status is not
// checked; RetryAfter always is).
type errWant = brokertest.ErrWant

func errorsAs(err error, e **kauth.Error) bool { return errors.As(err, e) }
func errorsIs(err, kind error) bool            { return errors.Is(err, kind) }
