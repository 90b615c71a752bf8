package config_test

import (
	"fmt"
	"github.com/kauth/kauth/internal/inittrace"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth/agent/internal/config"
)

const exampleConfig = `
listen:
  socket: /run/user/1000/kauth/config.sock
  tcp: 127.0.0.1:8700
  key_file: ~/.cache/kauth/config.key
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
	got, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		Listen:           config.Listen{Socket: "/run/user/1000/kauth/config.sock", TCP: "127.0.0.1:8700", KeyFile: "~/.cache/kauth/config.key"},
		MaxBodyBytes:     65536,
		ShutdownTimeout:  5 * time.Second,
		RevokeOnShutdown: true,
		Accounts: []config.Account{
			{Name: "kis-real", Broker: "kis", Env: "real", AppKey: config.Secret{Env: "KIS_APPKEY"}, AppSecret: config.Secret{Env: "KIS_APPSECRET"}},
			{Name: "kiwoom-mock", Broker: "kiwoom", Env: "paper",
				AppKey:    config.Secret{File: filepath.Join(dir, "kiwoom.key")}, // relative to the config file
				AppSecret: config.Secret{File: "/etc/kauth/kiwoom.secret"},
				BaseURL:   "https://mockapi.kiwoom.com", RateLimit: 4, Burst: 2},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", got, want)
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
			_, err := config.Parse([]byte(tc.doc))
			if err == nil {
				t.Fatal("Parse succeeded; want an error")
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
			cfg, err := config.FromEnv(func(k string) string { return tc.env[k] })
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
}

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadConfigTenThousandAccounts: a config of 10,000 accounts (about
// 2 MiB, each naming its base URL and credentials) loads whole; a file over
// MaxSize is still refused with one line naming it and the limit.
func TestLoadConfigTenThousandAccounts(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("accounts:\n")
	const n = 10000
	for i := range n {
		fmt.Fprintf(&b, "  - name: acct%05d\n    broker: kis\n    env: real\n    base_url: http://127.0.0.1:40000/kis/real\n    appkey: {env: BENCH_APPKEY_%d}\n    appsecret: {env: BENCH_SECRET_%d}\n", i, i, i)
	}
	if b.Len() <= 1<<20 {
		t.Fatalf("the config is %d bytes; the test wants one over 1 MiB", b.Len())
	}
	path := filepath.Join(dir, "kauth.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("Load of %d accounts (%d bytes): %v", n, b.Len(), err)
	}
	if len(cfg.Accounts) != n || cfg.Accounts[n-1].Name != fmt.Sprintf("acct%05d", n-1) {
		t.Fatalf("loaded %d accounts; want %d", len(cfg.Accounts), n)
	}

	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("# comment\n", config.MaxSize/10+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(big)
	if err == nil || !strings.Contains(err.Error(), big) || !strings.Contains(err.Error(), fmt.Sprintf("%d MiB", config.MaxSize>>20)) {
		t.Fatalf("Load of a file over MaxSize = %v; want an error naming it and the limit", err)
	}
}

// TestInitIsCheap: every kauth command links this package (kauth serve
// reads configs with it), so its initialization runs before `kauth token`
// does anything. It compiles no regular expression then: the host name
// pattern alone cost 1,200 allocations and about 0.4 ms of each start.
func TestInitIsCheap(t *testing.T) {
	allocs, bytes, ok := inittrace.Allocs(t, "github.com/kauth/kauth/agent/internal/config")
	if !ok {
		return
	}
	if allocs > 50 {
		t.Errorf("the package's init made %d allocations (%d bytes); want at most 50", allocs, bytes)
	}
}
