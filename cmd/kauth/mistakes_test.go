package main

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testredis"
)

// Each test here is a mistake a user met: the command must answer with one
// line that says what to do, and the exit code of the contract.

// TestSecondServeOnBusyAddress: a second kauth serve on a port or socket
// that is in use fails before it starts any keeper: one line, exit 2, and
// no token issued for it.
func TestSecondServeOnBusyAddress(t *testing.T) {
	sim := newTestSim(t)
	env := with(sim.env(t, kauth.Mock), "KAUTH_STORE", "memory", "KIS_ENV", "mock")

	t.Run("port", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		before := sim.Issued(kauth.KIS, kauth.Mock, fakeKISKey)
		r := run(t, with(env, "XDG_RUNTIME_DIR", shortDir(t)), "", "serve", "--addr", ln.Addr().String())
		r.wantCode(t, exitUsage)
		if !strings.Contains(r.stderr, ln.Addr().String()) || !strings.Contains(r.stderr, "in use") {
			t.Errorf("stderr = %q; want it to say that %s is in use", r.stderr, ln.Addr())
		}
		if n := sim.Issued(kauth.KIS, kauth.Mock, fakeKISKey) - before; n != 0 {
			t.Errorf("the refused serve issued %d tokens; want 0", n)
		}
	})

	t.Run("socket", func(t *testing.T) {
		dir := shortDir(t)
		sock := filepath.Join(dir, "kauth", "agent.sock")
		if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Skipf("no unix sockets here: %v", err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		before := sim.Issued(kauth.KIS, kauth.Mock, fakeKISKey)
		r := run(t, with(env, "XDG_RUNTIME_DIR", dir), "", "serve")
		r.wantCode(t, exitUsage)
		if !strings.Contains(r.stderr, sock) || !strings.Contains(r.stderr, "already") {
			t.Errorf("stderr = %q; want it to say that an agent already serves on %s", r.stderr, sock)
		}
		if n := sim.Issued(kauth.KIS, kauth.Mock, fakeKISKey) - before; n != 0 {
			t.Errorf("the refused serve issued %d tokens; want 0", n)
		}
	})

	t.Run("port out of range", func(t *testing.T) {
		r := run(t, with(env, "XDG_RUNTIME_DIR", shortDir(t)), "", "serve", "--addr", "127.0.0.1:99999")
		r.wantCode(t, exitUsage)
		if !strings.Contains(r.stderr, "99999") {
			t.Errorf("stderr = %q; want it to name the port", r.stderr)
		}
	})
}

// TestRedisURLMistakes: the Redis URL is checked when the store opens, so
// that a wrong database is a configuration error and not a warning after a
// token was issued; a scheme is case-insensitive; an unreachable Redis is
// named once, with what to do.
func TestRedisURLMistakes(t *testing.T) {
	sim := newTestSim(t)
	key := "KAUTH_KEY"
	env := with(sim.env(t, kauth.Mock), key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")

	t.Run("unreachable", func(t *testing.T) {
		r := run(t, with(env, "KAUTH_STORE", "redis://127.0.0.1:1/0"), "", "token", "--broker", "kis", "--env", "mock", "--timeout", "10s")
		r.wantCode(t, 0)
		line := strings.TrimSpace(r.stderr)
		if strings.Count(line, "\n") != 0 {
			t.Fatalf("stderr has more than one line:\n%s", r.stderr)
		}
		if n := strings.Count(line, "kauth"); n != 1 {
			t.Errorf("stderr names kauth %d times; want once: %s", n, line)
		}
		if n := strings.Count(line, "kis mock"); n != 1 {
			t.Errorf("stderr names the broker and env %d times; want once: %s", n, line)
		}
		if !strings.Contains(line, "KAUTH_STORE") {
			t.Errorf("stderr does not say what to check (KAUTH_STORE): %s", line)
		}
	})

	base, ok := testredis.Try(t)
	if !ok {
		return
	}
	u := strings.TrimPrefix(base, "redis://")
	host, _, _ := strings.Cut(u, "/")

	t.Run("no such database", func(t *testing.T) {
		app := freshApp(t, sim, kauth.Kiwoom, kauth.Mock, "DB")
		r := run(t, with(env, "KAUTH_STORE", "redis://"+host+"/99999", "KIWOOM_APPKEY", app), "", "token", "--broker", "kiwoom", "--env", "mock")
		r.wantCode(t, exitUsage)
		if !strings.Contains(r.stderr, "99999") || !strings.Contains(r.stderr, "database") {
			t.Errorf("stderr = %q; want it to name database 99999", r.stderr)
		}
		if n := sim.Issued(kauth.Kiwoom, kauth.Mock, app); n != 0 {
			t.Errorf("issued %d tokens with a wrong store; want 0", n)
		}
	})

	for _, scheme := range []string{"Redis", "REDIS"} {
		t.Run(scheme, func(t *testing.T) {
			app := freshApp(t, sim, kauth.Kiwoom, kauth.Mock, scheme)
			r := run(t, with(env, "KAUTH_STORE", scheme+"://"+u, "KIWOOM_APPKEY", app), "", "token", "--broker", "kiwoom", "--env", "mock")
			r.wantCode(t, 0)
			if r.stderr != "" {
				t.Errorf("stderr = %q; want nothing", r.stderr)
			}
		})
	}
}

// TestPlainSecretInConfig: a credential written into the agent's YAML is
// refused with a line that says how to give it instead.
func TestPlainSecretInConfig(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "kauth.yaml")
	os.WriteFile(config, []byte("listen:\n  socket: "+filepath.Join(dir, "a.sock")+
		"\naccounts:\n  - name: a\n    broker: kis\n    env: mock\n    appkey: PSabcdefghijklmnopqrstuvwxyz0123456789\n    appsecret: {env: S}\n"), 0o600)
	r := run(t, map[string]string{"KAUTH_STORE": "memory", "S": strings.Repeat("s", 180)}, "", "serve", "--config", config)
	r.wantCode(t, exitUsage)
	for _, want := range []string{"appkey", "{env: NAME}", "{file: PATH}"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr = %q; want it to say %q", r.stderr, want)
		}
	}
	if strings.Contains(r.stderr, "PSabcdefghijklmnopqrstuvwxyz0123456789") || strings.Contains(r.stderr, "unmarshal") {
		t.Errorf("stderr shows the value or the decoder's words: %q", r.stderr)
	}
}

// TestPrintSocket: kauth serve --print-socket says where the agent's socket
// is, by the same rule serve follows, with and without XDG_RUNTIME_DIR.
func TestPrintSocket(t *testing.T) {
	dir := shortDir(t)
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_RUNTIME_DIR": dir}, filepath.Join(dir, "kauth", "agent.sock")},
		{map[string]string{"KAUTH_CACHE_DIR": filepath.Join(dir, "cache")}, filepath.Join(dir, "cache", "agent.sock")},
	} {
		r := run(t, tc.env, "", "serve", "--print-socket")
		r.wantCode(t, 0)
		if got := strings.TrimSpace(r.stdout); got != tc.want {
			t.Errorf("env %v: --print-socket = %q; want %q", tc.env, got, tc.want)
		}
	}
	config := filepath.Join(dir, "kauth.yaml")
	os.WriteFile(config, []byte("listen:\n  socket: "+filepath.Join(dir, "x.sock")+
		"\naccounts:\n  - name: a\n    broker: kis\n    env: mock\n    appkey: {env: K}\n    appsecret: {env: S}\n"), 0o600)
	r := run(t, map[string]string{"K": "PSabcdefghijklmnopqrstuvwxyz0123456789", "S": strings.Repeat("s", 180)}, "", "serve", "--config", config, "--print-socket")
	r.wantCode(t, 0)
	if got := strings.TrimSpace(r.stdout); got != filepath.Join(dir, "x.sock") {
		t.Errorf("with a config: --print-socket = %q; want the config's socket", got)
	}
}

// TestREADMETokenJSON: the README's example of kauth token --json has the
// shape the command prints: the same fields, in the same order, indented
// the same way.
func TestREADMETokenJSON(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "kauth token --broker kis --env real --json\n")
	if !ok {
		t.Fatal("the README has no kauth token --json example")
	}
	var doc []string
	for _, l := range strings.Split(after, "\n") {
		if !strings.HasPrefix(l, "# ") {
			break
		}
		doc = append(doc, strings.TrimPrefix(l, "# "))
	}
	sim := newTestSim(t)
	r := run(t, sim.env(t, kauth.Real), "", "token", "--broker", "kis", "--env", "real", "--json")
	r.wantCode(t, 0)
	shape := func(s string) string { return jsonValue.ReplaceAllString(strings.TrimSpace(s), `: "…"`) }
	if got, want := shape(r.stdout), shape(strings.Join(doc, "\n")); got != want {
		t.Errorf("kauth token --json prints\n%s\nbut the README shows\n%s", got, want)
	}
}

var jsonValue = regexp.MustCompile(`: "[^"]*"`)

// TestStalledRedisWithinTimeout: a Redis that accepts connections and never
// answers costs kauth token no more than its --timeout, the check of the
// store when it opens included.
func TestStalledRedisWithinTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	sim := newTestSim(t)
	env := with(sim.env(t, kauth.Mock), "KAUTH_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"KAUTH_STORE", "redis://"+ln.Addr().String()+"/0")
	start := time.Now()
	r := run(t, env, "", "token", "--broker", "kis", "--env", "mock", "--timeout", "2s")
	if took := time.Since(start); took > 2*time.Second+time.Second {
		t.Errorf("kauth token took %v with --timeout 2s against a stalled Redis (exit %d: %s)", took.Round(time.Millisecond), r.code, r.stderr)
	}
}
