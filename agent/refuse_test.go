package agent_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth/agent"
)

// TestConfigRefusesWhatItMust: settings that would
// unleash the rate limit, stall every call, call a metadata service or
// send the secret in clear, and credential files that hang or leak, are
// refused with one line naming the field.
func TestConfigRefusesWhatItMust(t *testing.T) {
	dir := shortTempDir(t)
	getenv := func(k string) string {
		return map[string]string{"KEY": "some-app-key", "SECRET": "some-secret"}[k]
	}
	fifo := filepath.Join(dir, "fifo")
	mkfifo(t, fifo)
	big := writeFile(t, dir, "big", strings.Repeat("k", 64<<10+1), 0o600)
	environ := filepath.Join(dir, "environ")
	os.Symlink("/proc/self/environ", environ)
	good := agent.Account{Name: "a", Broker: "kis", Env: "real", AppKey: agent.Secret{Env: "KEY"}, AppSecret: agent.Secret{Env: "SECRET"}}
	with := func(f func(*agent.Account)) agent.Account { a := good; f(&a); return a }
	rate := func(r float64) agent.Account { return with(func(a *agent.Account) { a.RateLimit = r }) }
	base := func(u string) agent.Account { return with(func(a *agent.Account) { a.BaseURL = u }) }
	file := func(p string) agent.Account {
		return with(func(a *agent.Account) { a.AppSecret = agent.Secret{File: p} })
	}
	for _, tc := range []struct {
		name  string
		acct  agent.Account
		field string
	}{
		{"nan rate", rate(math.NaN()), "rate_limit"},
		{"infinite rate", rate(math.Inf(1)), "rate_limit"},
		{"minus infinite rate", rate(math.Inf(-1)), "rate_limit"},
		{"tiny rate", rate(1e-300), "rate_limit"},
		{"huge rate", rate(1e9), "rate_limit"},
		{"huge burst", with(func(a *agent.Account) { a.Burst = 1 << 30 }), "burst"},
		{"metadata", base("http://169.254.169.254"), "base_url"},
		{"metadata over https", base("https://169.254.169.254/latest"), "base_url"},
		{"link-local v6", base("https://[fe80::1]:9443"), "base_url"},
		{"aws v6 metadata", base("https://[fd00:ec2::254]"), "base_url"},
		{"mapped metadata", base("https://[::ffff:169.254.169.254]"), "base_url"},
		{"metadata name", base("https://metadata.google.internal"), "base_url"},
		{"unspecified", base("https://0.0.0.0:9443"), "base_url"},
		{"multicast", base("https://224.0.0.1"), "base_url"},
		{"plain http off loopback", base("http://openapi.koreainvestment.com:9443"), "base_url"},
		{"plain http to a LAN", base("http://192.168.0.10:8080"), "base_url"},
		{"fifo", file(fifo), "appsecret"},
		{"proc environ", file("/proc/self/environ"), "appsecret"},
		{"symlink to proc", file(environ), "appsecret"},
		{"device", file("/dev/zero"), "appsecret"},
		{"over 64 KiB", file(big), "appsecret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errc := make(chan error, 1)
			go func() {
				a, err := agent.New(agent.Config{Accounts: []agent.Account{tc.acct}}, agent.Options{Getenv: getenv, Logger: discard(), HTTPClient: deadClient()})
				if err == nil {
					a.Close()
				}
				errc <- err
			}()
			var err error
			select {
			case err = <-errc:
			case <-time.After(5 * time.Second):
				t.Fatal("New hangs")
			}
			if err == nil {
				t.Fatalf("New accepted it; want a refusal naming %s", tc.field)
			}
			var ce *agent.ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a ConfigError", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, tc.field) || !strings.Contains(msg, "account a") {
				t.Errorf("error %q; want one line naming account a and %s", msg, tc.field)
			}
			if strings.Contains(msg, "some-secret") || strings.Contains(msg, "some-app-key") {
				t.Error("the error reveals a credential")
			}
		})
	}
	// Loopback over plain http (the simulator) and https anywhere are fine.
	for _, u := range []string{"http://127.0.0.1:8600/kis/real", "http://localhost:8600", "http://[::1]:8600", "https://openapi.koreainvestment.com:9443"} {
		a, err := agent.New(agent.Config{Accounts: []agent.Account{base(u)}}, agent.Options{Getenv: getenv, Logger: discard(), HTTPClient: deadClient()})
		if err != nil {
			t.Errorf("base_url %s: %v", u, err)
			continue
		}
		a.Close()
	}
}

// TestDialRefusesMetadata: a broker name that resolves to a metadata or
// link-local address is refused when the agent's transport dials it, not
// only in the config. The check runs before connecting; the test connects
// nowhere.
func TestDialRefusesMetadata(t *testing.T) {
	for _, addr := range []string{"169.254.169.254:80", "[fe80::1]:443", "[fd00:ec2::254]:80", "0.0.0.0:443", "[::ffff:169.254.169.254]:80"} {
		if err := agent.RefuseDial(addr); err == nil || !strings.Contains(err.Error(), "refusing to connect") {
			t.Errorf("dial %s: %v; want a refusal", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:8600", "[::1]:8600", "203.0.113.7:443"} {
		if err := agent.RefuseDial(addr); err != nil {
			t.Errorf("dial %s: %v; want it allowed", addr, err)
		}
	}
}
