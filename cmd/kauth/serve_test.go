package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testlog"
)

// TestServeSharesStoreWithToken runs kauth serve with a config file and
// then kauth token on the same store: the agent's token is the command's,
// with one issuance between them.
func TestServeSharesStoreWithToken(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	config := filepath.Join(dir, "kauth.yaml")
	os.WriteFile(config, []byte(`listen:
  socket: `+sock+`
accounts:
  - name: paper
    broker: kis
    env: mock
    appkey: {env: KIS_APPKEY}
    appsecret: {env: KIS_APPSECRET}
`), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testlog.Buffer
	code := make(chan int, 1)
	go func() {
		code <- Main(ctx, []string{"serve", "--config", config}, nil, &stdout, &stderr, func(k string) string { return env[k] })
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stdout.String(), "accounts  paper") {
		if time.Now().After(deadline) {
			t.Fatalf("kauth serve did not get ready:\n%s\n%s", stdout.String(), stderr.String())
		}
		select {
		case c := <-code:
			t.Fatalf("kauth serve exited %d:\n%s", c, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}

	unix := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	var fromAgent tokenJSON
	getJSON(t, unix, "http://localhost/v1/accounts/paper/token", "", &fromAgent)

	r := run(t, env, "", "token", "--broker", "kis", "--env", "mock")
	r.wantCode(t, 0)
	if strings.TrimSpace(r.stdout) != fromAgent.AccessToken {
		t.Errorf("kauth token and the agent hold different tokens")
	}
	if n := sim.Issued(kauth.KIS, kauth.Mock, fakeKISKey); n != 1 {
		t.Errorf("issued %d; want 1 between the agent and the command", n)
	}

	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("kauth serve exited %d after its context ended; want 0\n%s", c, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("kauth serve did not stop")
	}
	if strings.Contains(stderr.String(), fromAgent.AccessToken) || strings.Contains(stderr.String(), fakeKISSecret) {
		t.Errorf("kauth serve logged a secret or whole token")
	}
}

// TestServeConfigErrorsExit2: a configuration the agent refuses is a
// configuration error, exit 2 per the contract, with one line naming the
// field.
func TestServeConfigErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"KAUTH_CACHE_DIR": filepath.Join(dir, "cache"), "KAUTH_STORE": "memory",
		"K": "PSabcdefghijklmnopqrstuvwxyz0123456789", "S": strings.Repeat("s", 180)}
	loose := filepath.Join(dir, "loose.key")
	os.WriteFile(loose, []byte("x\n"), 0o644)
	os.Chmod(loose, 0o644)
	account := func(extra string) string {
		return "listen:\n  socket: " + filepath.Join(dir, "a.sock") + "\naccounts:\n  - name: a\n    broker: kis\n    env: mock\n    appkey: {env: K}\n    appsecret: {env: S}\n" + extra
	}
	for _, tc := range []struct{ name, config, want string }{
		{"nan rate", account("    rate_limit: .nan\n"), "rate_limit"},
		{"infinite rate", account("    rate_limit: .inf\n"), "rate_limit"},
		{"tiny rate", account("    rate_limit: 1e-300\n"), "rate_limit"},
		{"metadata", account("    base_url: http://169.254.169.254\n"), "base_url"},
		{"plain http", account("    base_url: http://broker.example\n"), "base_url"},
		{"client key", account("client_keys:\n  - file: " + loose + "\n    accounts: [a]\n"), "chmod 600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config := filepath.Join(dir, "kauth.yaml")
			os.WriteFile(config, []byte(tc.config), 0o600)
			r := run(t, env, "", "serve", "--config", config)
			if r.code != exitUsage {
				t.Fatalf("exit code = %d; want %d\n%s", r.code, exitUsage, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if last := lines[len(lines)-1]; !strings.Contains(last, tc.want) {
				t.Errorf("last stderr line = %q; want it to name %q", last, tc.want)
			}
			if strings.Contains(r.stderr, env["S"]) || strings.Contains(r.stderr, env["K"]) {
				t.Error("stderr shows a credential")
			}
		})
	}
}

// TestServeReloadsOnItsHangups: each kauth serve reloads its config when
// its own Options.Hangups delivers, and only then; two in one process keep
// their reloads apart.
func TestServeReloadsOnItsHangups(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	type served struct {
		sock, config string
		hup          chan os.Signal
		stdout       testlog.Buffer
		code         chan int
	}
	write := func(s *served, names ...string) {
		cfg := "listen:\n  socket: " + s.sock + "\naccounts:\n"
		for _, n := range names {
			cfg += "  - name: " + n + "\n    broker: kis\n    env: mock\n    appkey: {env: KIS_APPKEY}\n    appsecret: {env: KIS_APPSECRET}\n"
		}
		if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	accounts := func(s *served) string {
		unix := &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", s.sock)
			},
		}}
		defer unix.CloseIdleConnections()
		var list struct{ Accounts []struct{ Name string } }
		getJSON(t, unix, "http://localhost/v1/accounts", "", &list)
		var names []string
		for _, a := range list.Accounts {
			names = append(names, a.Name)
		}
		return strings.Join(names, ",")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var both []*served
	for i := range 2 {
		dir := t.TempDir()
		s := &served{sock: filepath.Join(dir, "agent.sock"), config: filepath.Join(dir, "kauth.yaml"), hup: make(chan os.Signal, 1), code: make(chan int, 1)}
		write(s, "paper")
		go func() {
			var stderr testlog.Buffer
			s.code <- MainOptions(ctx, []string{"serve", "--config", s.config}, Options{Stdout: &s.stdout, Stderr: &stderr,
				Getenv: func(k string) string { return env[k] }, Hangups: s.hup})
		}()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(s.stdout.String(), "accounts  paper") {
			if time.Now().After(deadline) {
				t.Fatalf("kauth serve %d did not get ready:\n%s", i, s.stdout.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		both = append(both, s)
	}
	for _, s := range both {
		write(s, "paper", "second")
	}
	both[0].hup <- syscall.SIGHUP
	deadline := time.Now().Add(10 * time.Second)
	for accounts(both[0]) != "paper,second" {
		if time.Now().After(deadline) {
			t.Fatalf("after its hangup, kauth serve serves %q; want paper,second", accounts(both[0]))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := accounts(both[1]); got != "paper" {
		t.Errorf("the other kauth serve reloaded too: it serves %q", got)
	}
	cancel()
	for _, s := range both {
		if c := <-s.code; c != 0 {
			t.Errorf("kauth serve exited %d", c)
		}
	}
}
