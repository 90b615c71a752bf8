package agent_test

import (
	"os"
	"strings"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
)

func TestCredentialFileModes(t *testing.T) {
	dir := t.TempDir()
	const secret = "SECRET-IN-A-FILE-0123456789"
	getenv := func(k string) string { return map[string]string{"KEY": "some-app-key"}[k] }
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o640, false},
		{0o644, false},
		{0o604, false},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			path := writeFile(t, dir, "secret-"+tc.mode.String(), secret, tc.mode)
			cfg := agent.Config{Accounts: []agent.Account{{Name: "kis-real", Broker: "kis", Env: "real",
				AppKey: agent.Secret{Env: "KEY"}, AppSecret: agent.Secret{File: path}}}}
			a, err := agent.New(cfg, agent.Options{Getenv: getenv, Logger: discard(), HTTPClient: deadClient()})
			if tc.ok {
				if err != nil {
					t.Fatalf("New with a %04o file: %v", tc.mode, err)
				}
				a.Close()
				return
			}
			if err == nil {
				a.Close()
				t.Fatalf("New accepted a credential file with mode %04o", tc.mode)
			}
			for _, w := range []string{path, "chmod 600", "account kis-real", "appsecret"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Error("the error reveals the secret")
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	getenv := func(k string) string {
		return map[string]string{"KEY": "some-app-key", "SECRET": "some-secret"}[k]
	}
	good := agent.Account{Name: "a", Broker: "kis", Env: "real", AppKey: agent.Secret{Env: "KEY"}, AppSecret: agent.Secret{Env: "SECRET"}}
	with := func(f func(*agent.Account)) agent.Account { a := good; f(&a); return a }
	for _, tc := range []struct {
		name     string
		accounts []agent.Account
		listen   agent.Listen
		want     string
	}{
		{"no accounts", nil, agent.Listen{}, "no accounts"},
		{"bad broker", []agent.Account{with(func(a *agent.Account) { a.Broker = "samsung" })}, agent.Listen{}, "unknown broker"},
		{"bad env", []agent.Account{with(func(a *agent.Account) { a.Env = "staging" })}, agent.Listen{}, "unknown env"},
		{"no mock env", []agent.Account{with(func(a *agent.Account) { a.Broker, a.Env = "toss", "mock" })}, agent.Listen{}, "no paper-trading (mock) environment"},
		{"bad name", []agent.Account{with(func(a *agent.Account) { a.Name = "My Account" })}, agent.Listen{}, "name"},
		{"duplicate name", []agent.Account{good, good}, agent.Listen{}, "name used twice"},
		{"unset variable", []agent.Account{with(func(a *agent.Account) { a.AppSecret.Env = "NOPE" })}, agent.Listen{}, "NOPE is empty or unset"},
		{"no source", []agent.Account{with(func(a *agent.Account) { a.AppKey = agent.Secret{} })}, agent.Listen{}, "appkey: missing"},
		{"two sources", []agent.Account{with(func(a *agent.Account) { a.AppKey.File = "/x" })}, agent.Listen{}, "only one"},
		{"missing file", []agent.Account{with(func(a *agent.Account) { a.AppKey = agent.Secret{File: "/nonexistent/key"} })}, agent.Listen{}, "/nonexistent/key"},
		{"bad base url", []agent.Account{with(func(a *agent.Account) { a.BaseURL = "openapi.koreainvestment.com" })}, agent.Listen{}, "base_url"},
		{"negative rate", []agent.Account{with(func(a *agent.Account) { a.RateLimit = -1 })}, agent.Listen{}, "negative"},
		{"negative ws cap", []agent.Account{with(func(a *agent.Account) { a.WSClientMaxSubscriptions = -1 })}, agent.Listen{}, "ws_client_max_subscriptions -1"},
		{"negative ws control rate", []agent.Account{with(func(a *agent.Account) { a.WSControlRate = -1 })}, agent.Listen{}, "ws_control_rate -1"},
		{"public tcp", []agent.Account{good}, agent.Listen{TCP: "0.0.0.0:8700"}, "allow_non_loopback"},
		{"advertise no port", []agent.Account{good}, agent.Listen{AdvertiseAddr: "10.0.0.7"}, "advertise_addr"},
		{"advertise a URL", []agent.Account{good}, agent.Listen{AdvertiseAddr: "http://10.0.0.7:8700/"}, "advertise_addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := agent.New(agent.Config{Accounts: tc.accounts, Listen: tc.listen}, agent.Options{Getenv: getenv, Logger: discard(), HTTPClient: deadClient()})
			if err == nil {
				a.Close()
				t.Fatalf("New succeeded; want an error with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "some-secret") {
				t.Error("the error reveals the secret")
			}
		})
	}
}

func TestFromEnvServes(t *testing.T) {
	// The base URL comes from KIS_BASE_URL through Options.Getenv.
	h := newHarness(t, setup{noServe: true})
	env := map[string]string{"KIS_APPKEY": kisMock.AppKey, "KIS_APPSECRET": kisMock.Secret, "KIS_ENV": "mock",
		"KIS_BASE_URL": brokersim.BaseURL(h.simURL, kauth.KIS, kauth.Mock)}
	getenv := func(k string) string { return env[k] }
	cfg, err := agent.FromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, agent.Options{Getenv: getenv, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	eventually(t, "the keeper got a token from the simulator", func() bool {
		return h.sim.Issued(kauth.KIS, kauth.Mock, kisMock.AppKey) == 1
	})
}

// The default paths are listen's (tested there), under agent's names.
func TestDefaultPaths(t *testing.T) {
	getenv := func(k string) string {
		return map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000", "KAUTH_CACHE_DIR": "/var/cache/kauth"}[k]
	}
	if p, err := agent.DefaultSocketPath(getenv); p != "/run/user/1000/kauth/agent.sock" || err != nil {
		t.Errorf("DefaultSocketPath = %q, %v", p, err)
	}
	if p, err := agent.DefaultKeyFile(getenv); p != "/var/cache/kauth/agent.key" || err != nil {
		t.Errorf("DefaultKeyFile = %q, %v", p, err)
	}
}
