package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kauth/kauth"
)

// TestReloadCommand: kauth reload asks a running agent to re-read its
// config, on every OS and without a signal: a new account is served, a
// broken config is refused with one line (exit 2) and the running config
// stays; with no agent it says so in one line.
func TestReloadCommand(t *testing.T) {
	sim := newTestSim(t)
	env := with(sim.env(t, kauth.Mock), "KAUTH_STORE", "memory")
	dir := shortDir(t)
	sock := filepath.Join(dir, "agent.sock")
	config := filepath.Join(dir, "kauth.yaml")
	account := func(name, broker, key, secret string) string {
		return "  - name: " + name + "\n    broker: " + broker + "\n    env: mock\n    appkey: {env: " + key + "}\n    appsecret: {env: " + secret + "}\n"
	}
	one := "listen:\n  socket: " + sock + "\naccounts:\n" + account("paper", "kis", "KIS_APPKEY", "KIS_APPSECRET")
	os.WriteFile(config, []byte(one), 0o600)

	r := run(t, env, "", "reload", "--config", config)
	r.wantCode(t, 1)
	if !strings.Contains(r.stderr, sock) {
		t.Errorf("with no agent: stderr = %q; want it to name the socket", r.stderr)
	}
	// Without --config, the config that kauth serve would read.
	r = run(t, with(env, "KAUTH_CONFIG", config), "", "reload")
	r.wantCode(t, 1)
	if !strings.Contains(r.stderr, sock) {
		t.Errorf("with KAUTH_CONFIG: stderr = %q; want it to name the config's socket", r.stderr)
	}

	srv := startServe(t, env, "--config", config)
	unix := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	names := func() string {
		var list struct {
			Accounts []struct {
				Name string `json:"name"`
			} `json:"accounts"`
		}
		getJSON(t, unix, "http://localhost/v1/accounts", "", &list)
		var out []string
		for _, a := range list.Accounts {
			out = append(out, a.Name)
		}
		return strings.Join(out, ",")
	}

	os.WriteFile(config, []byte(one+account("kiwoom-paper", "kiwoom", "KIWOOM_APPKEY", "KIWOOM_SECRETKEY")), 0o600)
	r = run(t, env, "", "reload", "--config", config)
	r.wantCode(t, 0)
	if !strings.Contains(r.stdout, "2 accounts") {
		t.Errorf("kauth reload printed %q; want it to count 2 accounts", r.stdout)
	}
	if got := names(); got != "kiwoom-paper,paper" {
		t.Errorf("after reload the agent serves %s; want kiwoom-paper,paper", got)
	}

	os.WriteFile(config, []byte("listen:\n  socket: "+sock+"\naccounts:\n  - name: x\n    brokr: kis\n"), 0o600)
	r = run(t, env, "", "reload", "--addr", "unix:"+sock)
	r.wantCode(t, exitUsage)
	if !strings.Contains(r.stderr, "line 5") || !strings.Contains(r.stderr, "brokr") {
		t.Errorf("a broken config: stderr = %q; want it to name line 5 and the field", r.stderr)
	}
	if got := names(); got != "kiwoom-paper,paper" {
		t.Errorf("after a refused reload the agent serves %s; want the running config kept", got)
	}

	if c := srv.stop(t); c != 0 {
		t.Errorf("kauth serve exited %d; want 0\n%s", c, srv.stderr.String())
	}
}
