package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kauth/kauth/brokers"
)

// Made-up credentials that a fuzzed config may reference: errors must never
// repeat them.
const (
	fuzzEnvSecret  = "FUZZ-FAKE-ENV-SECRET-0123456789"
	fuzzFileSecret = "FUZZ-FAKE-FILE-SECRET-9876543210"
)

// fuzzConfigSeeds are real configs: the documented one, the forms the
// agent's own tests use, and near misses.
var fuzzConfigSeeds = []string{
	`listen:
  socket: /run/user/1000/kauth/agent.sock
  tcp: 127.0.0.1:8700
  key_file: ~/.cache/kauth/agent.key
max_body_bytes: 1048576
shutdown_timeout: 10s
revoke_on_shutdown: false
accounts:
  - name: kis-real
    broker: kis
    env: real
    appkey: {env: KIS_APPKEY}
    appsecret: {env: KIS_APPSECRET}
  - name: kiwoom-mock
    broker: kiwoom
    env: mock
    appkey: {file: /etc/kauth/kiwoom-mock.appkey}
    appsecret: {file: /etc/kauth/kiwoom-mock.secret}
    rate_limit: 4.5
`,
	"accounts:\n  - name: kis-mock\n    broker: 한국투자증권\n    env: vts\n    appkey: {env: A}\n    appsecret: {file: secret.txt}\n    base_url: http://127.0.0.1:9/kis/mock\n    burst: 3\n",
	"listen:\n  tcp: 0.0.0.0:8700\n  allow_non_loopback: true\n  allowed_hosts: [kauth.internal]\naccounts:\n  - {name: a, broker: kiwoom, env: prod, appkey: {env: K}, appsecret: {env: S}}\n",
	"accounts:\n  - name: a\n    appsecret: {value: hunter2}\n",
	"accounts:\n  - name: a\n    rate_limit: fast\n",
	"accounts: []\n---\naccounts: []\n",
	"accounts:\n  - name: A B\n    broker: nyse\n    env: live\n    appkey: {env: K, file: f}\n",
	"max_body_bytes: -1\nshutdown_timeout: -5s\naccounts:\n  - name: x\n    broker: kis\n    env: real\n    appkey: {env: K}\n    appsecret: {env: S}\n    base_url: ftp://user:pw@host/?q#f\n",
	"",
	"{",
}

// FuzzParseConfig parses arbitrary YAML as a config and resolves it, with
// every credential variable and file holding a made-up secret: nothing
// panics, a config never carries a secret value itself, and no error
// repeats a secret.
func FuzzParseConfig(f *testing.F) {
	for _, s := range fuzzConfigSeeds {
		f.Add([]byte(s))
	}
	secretFile := filepath.Join(f.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(fuzzFileSecret+"\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	// Every variable holds a secret, but for the base URLs, which are not
	// secret and which errors may quote.
	getenv := func(name string) string {
		if strings.HasSuffix(name, "_BASE_URL") {
			return ""
		}
		return fuzzEnvSecret
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		for i := range cfg.Accounts {
			for _, s := range []*Secret{&cfg.Accounts[i].AppKey, &cfg.Accounts[i].AppSecret} {
				if s.Value != "" {
					t.Fatalf("account %d: a config file set a credential's value", i)
				}
				// Read the made-up secret wherever the config points: a
				// fuzzed path could name a FIFO, which would block.
				if s.File != "" {
					s.File = secretFile
				}
			}
		}
		rs, err := Resolve(cfg, getenv, brokers.All())
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, fuzzEnvSecret) || strings.Contains(msg, fuzzFileSecret) {
				t.Fatalf("Resolve() error repeats a secret: %v", err)
			}
			return
		}
		for _, r := range rs {
			if r.Creds.Validate() != nil || r.RateLimit <= 0 || r.Burst <= 0 {
				t.Fatalf("Resolve() accepted account %q with credentials %v, rate %v, burst %d", r.Name, r.Creds, r.RateLimit, r.Burst)
			}
			if !strings.HasPrefix(r.BaseURL, "http://") && !strings.HasPrefix(r.BaseURL, "https://") {
				t.Fatalf("Resolve() accepted base URL %q", r.BaseURL)
			}
		}
		if err := CheckTCPAddr(cfg.Listen.TCP, cfg.Listen.AllowNonLoopback); err != nil {
			t.Fatalf("Resolve() accepted a listen address that CheckTCPAddr refuses: %v", err)
		}
	})
}

// FuzzLoadConfig loads arbitrary bytes from a config file: nothing panics,
// and every relative credential file is resolved against the config's
// directory.
func FuzzLoadConfig(f *testing.F) {
	for _, s := range fuzzConfigSeeds {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "kauth.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("Load() error %q does not name the file", err)
			}
			return
		}
		for i, a := range cfg.Accounts {
			for _, s := range []Secret{a.AppKey, a.AppSecret} {
				if s.File != "" && !strings.HasPrefix(s.File, "~/") && !filepath.IsAbs(s.File) {
					t.Fatalf("account %d: credential file %q left relative", i, s.File)
				}
			}
		}
	})
}
