package agent_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
)

const exampleConfig = `
listen:
  socket: /run/user/1000/kauth/agent.sock
  tcp: 127.0.0.1:8700
  key_file: ~/.cache/kauth/agent.key
max_body_bytes: 65536
shutdown_timeout: 5s
revoke_on_shutdown: true
accounts:
  - name: kis-real
    broker: kis
    env: real
    appkey: {env: KIS_APPKEY}
    appsecret: {env: KIS_APPSECRET}
  - name: kiwoom-mock
    broker: kiwoom
    env: paper
    appkey: {file: kiwoom.key}
    appsecret: {file: /etc/kauth/kiwoom.secret}
    base_url: https://mockapi.kiwoom.com
    rate_limit: 4
    burst: 2
`

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "kauth.yaml", exampleConfig, 0o644)
	got, err := agent.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := agent.Config{
		Listen:           agent.Listen{Socket: "/run/user/1000/kauth/agent.sock", TCP: "127.0.0.1:8700", KeyFile: "~/.cache/kauth/agent.key"},
		MaxBodyBytes:     65536,
		ShutdownTimeout:  5 * time.Second,
		RevokeOnShutdown: true,
		Accounts: []agent.Account{
			{Name: "kis-real", Broker: "kis", Env: "real", AppKey: agent.Secret{Env: "KIS_APPKEY"}, AppSecret: agent.Secret{Env: "KIS_APPSECRET"}},
			{Name: "kiwoom-mock", Broker: "kiwoom", Env: "paper",
				AppKey:    agent.Secret{File: filepath.Join(dir, "kiwoom.key")}, // relative to the config file
				AppSecret: agent.Secret{File: "/etc/kauth/kiwoom.secret"},
				BaseURL:   "https://mockapi.kiwoom.com", RateLimit: 4, Burst: 2},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadConfig =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseConfigStrict(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string // substrings of the error
	}{
		{"unknown top-level field", "accounts: []\nrevoke_on_shutdwn: true\n", []string{"line 2", "revoke_on_shutdwn"}},
		{"unknown account field", "accounts:\n  - name: a\n    broker: kis\n    app_secret: x\n", []string{"line 4", "app_secret"}},
		{"secret value in the file", "accounts:\n  - name: a\n    appsecret: {value: hunter2}\n", []string{"line 3", "value"}},
		{"wrong type", "accounts:\n  - name: a\n    rate_limit: fast\n", []string{"line 3"}},
		{"empty", "", []string{"empty config"}},
		{"two documents", "accounts: []\n---\naccounts: []\n", []string{"more than one"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := agent.ParseConfig([]byte(tc.doc))
			if err == nil {
				t.Fatal("ParseConfig succeeded; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q reveals the value", err)
			}
		})
	}
}

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

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string // account names
		err  string
	}{
		{"nothing", map[string]string{}, nil, "no accounts"},
		{"kis defaults to real", map[string]string{"KIS_APPKEY": "k", "KIS_APPSECRET": "s"}, []string{"kis-real"}, ""},
		{"kis both", map[string]string{"KIS_APPKEY": "k", "KIS_APPSECRET": "s", "KIS_ENV": "real, paper"}, []string{"kis-real", "kis-mock"}, ""},
		{"kauth env for both brokers", map[string]string{"KIS_APPKEY": "k", "KIS_APPSECRET": "s", "KIWOOM_APPKEY": "k", "KIWOOM_SECRETKEY": "s", "KAUTH_ENV": "mock"}, []string{"kis-mock", "kiwoom-mock"}, ""},
		{"broker env wins", map[string]string{"KIWOOM_APPKEY": "k", "KIWOOM_SECRETKEY": "s", "KAUTH_ENV": "mock", "KIWOOM_ENV": "real"}, []string{"kiwoom-real"}, ""},
		{"bad env", map[string]string{"KIS_APPKEY": "k", "KIS_APPSECRET": "s", "KIS_ENV": "staging"}, nil, "KIS_ENV"},
		// The README's Configuration section names these variables.
		{"ls and db", map[string]string{"LS_APPKEY": "k", "LS_APPSECRET": "s", "LS_ENV": "mock", "DBSEC_APPKEY": "k", "DBSEC_APPSECRET": "s"}, []string{"ls-mock", "db-real"}, ""},
		{"db by kauth env", map[string]string{"DBSEC_APPKEY": "k", "DBSEC_APPSECRET": "s", "KAUTH_ENV": "real,mock", "DBSEC_ENV": ""}, []string{"db-real", "db-mock"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := agent.FromEnv(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("FromEnv: err = %v; want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, a := range cfg.Accounts {
				names = append(names, a.Name)
				if a.AppKey.Value != "" || a.AppSecret.Value != "" {
					t.Errorf("%s: the config holds the credential itself; want a variable name", a.Name)
				}
			}
			if !reflect.DeepEqual(names, tc.want) {
				t.Errorf("accounts = %v; want %v", names, tc.want)
			}
		})
	}

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

func TestDefaultPaths(t *testing.T) {
	env := map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000", "KAUTH_CACHE_DIR": "/var/cache/kauth"}
	getenv := func(k string) string { return env[k] }
	if p, _ := agent.DefaultSocketPath(getenv); p != "/run/user/1000/kauth/agent.sock" {
		t.Errorf("DefaultSocketPath = %q", p)
	}
	if p, _ := agent.DefaultKeyFile(getenv); p != "/var/cache/kauth/agent.key" {
		t.Errorf("DefaultKeyFile = %q", p)
	}
	delete(env, "XDG_RUNTIME_DIR")
	if p, _ := agent.DefaultSocketPath(getenv); p != "/var/cache/kauth/agent.sock" {
		t.Errorf("DefaultSocketPath without XDG_RUNTIME_DIR = %q", p)
	}
}
