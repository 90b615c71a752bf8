package brokersim

import (
	"strings"

	"github.com/kauth/kauth"
)

// App is an application registered at the simulator: one app key and its
// secret (the KIS appsecret or the Kiwoom secretkey) at one broker env.
type App struct {
	Broker kauth.Broker
	Env    kauth.Env
	AppKey string
	Secret string
}

// Credentials returns the kauth credentials of a.
func (a App) Credentials() kauth.Credentials {
	return kauth.Credentials{Broker: a.Broker, Env: a.Env, AppKey: a.AppKey, AppSecret: a.Secret}
}

// String names a without revealing its key or secret.
func (a App) String() string { return a.Credentials().String() }

// demoKey builds an obviously fake credential of the broker's length.
func demoKey(prefix string, n int) string {
	const filler = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b strings.Builder
	b.WriteString(prefix)
	for i := 0; b.Len() < n; i++ {
		b.WriteByte(filler[i%len(filler)])
	}
	return b.String()[:n]
}

// The demo apps that New registers. They are made up and work only against
// the simulator. KIS app keys are 36 characters and app secrets 180, like the
// real ones; the Kiwoom ones are shorter.
var (
	DemoKISReal    = App{kauth.KIS, kauth.Real, demoKey("PSDEMOKISREALAPPKEY", 36), demoKey("DEMOSECRET-KIS-REAL-NOT-A-REAL-SECRET-", 180)}
	DemoKISMock    = App{kauth.KIS, kauth.Mock, demoKey("PSDEMOKISMOCKAPPKEY", 36), demoKey("DEMOSECRET-KIS-MOCK-NOT-A-REAL-SECRET-", 180)}
	DemoKiwoomReal = App{kauth.Kiwoom, kauth.Real, demoKey("DEMOKIWOOMREALAPPKEY", 43), demoKey("DEMOSECRET-KIWOOM-REAL-", 43)}
	DemoKiwoomMock = App{kauth.Kiwoom, kauth.Mock, demoKey("DEMOKIWOOMMOCKAPPKEY", 43), demoKey("DEMOSECRET-KIWOOM-MOCK-", 43)}
	// DemoTossReal is shaped like the OpenAPI document's example client
	// (c_01HXYZABCDEFG123456789, s_…). Toss has no mock environment.
	DemoTossReal = App{tossBroker, kauth.Real, demoKey("c_01DEMOTOSSREALCLIENT", 26), demoKey("s_DEMOSECRET-TOSS-REAL-NOT-A-REAL-SECRET-", 64)}
)

// DemoApps returns the demo apps, one per broker and env: the four above,
// then those of every igw broker (LS, DB), made from its name —
// 36-character keys and secrets, the length of LS's.
func DemoApps() []App {
	apps := []App{DemoKISReal, DemoKISMock, DemoKiwoomReal, DemoKiwoomMock}
	for _, sb := range simBrokers {
		if sb.family != familyIGW {
			continue
		}
		up := strings.ToUpper(string(sb.name))
		for _, e := range []kauth.Env{kauth.Real, kauth.Mock} {
			ue := strings.ToUpper(string(e))
			apps = append(apps, App{sb.name, e, demoKey("DEMO"+up+ue+"APPKEY", 36), demoKey("DEMOSECRET-"+up+"-"+ue+"-", 36)})
		}
	}
	return append(apps, DemoTossReal)
}

// Demo returns the demo app of broker b at env e.
func Demo(b kauth.Broker, e kauth.Env) App {
	for _, a := range DemoApps() {
		if a.Broker == b && a.Env == e {
			return a
		}
	}
	return App{}
}

func isDemo(a App) bool {
	for _, d := range DemoApps() {
		if d == a {
			return true
		}
	}
	return false
}
