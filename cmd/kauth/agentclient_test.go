package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kauth/kauth"
)

// TestTokenFromAgent: kauth token --account asks the running agent, with
// no broker variables in its own environment, over the socket of the
// discovered config, an explicit socket, or TCP with the agent key.
func TestTokenFromAgent(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	dir := shortDir(t)
	sock := filepath.Join(dir, "a.sock")
	config := filepath.Join(dir, "kauth.yaml")
	agentConfig(t, config, sock)
	s := startServe(t, with(env, "KAUTH_STORE", "memory"), "--config", config, "--addr", "127.0.0.1:0")
	_, tcp, _ := strings.Cut(s.stdout.String(), "tcp       http://")
	tcp, _, _ = strings.Cut(tcp, " ")

	bare := map[string]string{"KAUTH_CONFIG": config} // no credentials at all
	r := run(t, bare, "", "token", "--account", "paper")
	r.wantCode(t, 0)
	tok := strings.TrimSpace(r.stdout)
	if tok == "" || strings.Contains(r.stderr, tok) {
		t.Fatalf("token = %q, stderr %q", tok, r.stderr)
	}
	r = run(t, nil, "", "token", "--account", "paper", "--addr", "unix:"+sock, "--json")
	r.wantCode(t, 0)
	var j tokenJSON
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || j.AccessToken != tok || j.Broker != kauth.KIS || j.Env != kauth.Mock {
		t.Errorf("--json = %s (%v); want the same token, kis mock", r.stdout, err)
	}
	// Over TCP with the agent key from its default key file.
	r = run(t, map[string]string{"KAUTH_CACHE_DIR": env["KAUTH_CACHE_DIR"]}, "", "token", "--account", "paper", "--addr", tcp)
	r.wantCode(t, 0)
	if strings.TrimSpace(r.stdout) != tok {
		t.Errorf("over TCP the agent gave another token")
	}
	if n := sim.Issued(kauth.KIS, kauth.Mock, fakeKISKey); n != 1 {
		t.Errorf("issued %d; want 1: the agent's", n)
	}

	r = run(t, bare, "", "status", "--account", "paper")
	r.wantCode(t, 0)
	if !strings.Contains(r.stdout, "paper") || !strings.Contains(r.stdout, "valid") || strings.Contains(r.stdout, tok) {
		t.Errorf("status --account = %s; want paper valid, without the token", r.stdout)
	}
	r = run(t, bare, "", "status", "--agent", "--json")
	r.wantCode(t, 0)
	if !strings.Contains(r.stdout, `"name": "paper"`) && !strings.Contains(r.stdout, `"name":"paper"`) {
		t.Errorf("status --agent --json = %s", r.stdout)
	}

	// Bad paths, each one line with its exit code.
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"no such account", bare, []string{"token", "--account", "nope"}, exitUsage, `no account "nope"`},
		{"no agent", nil, []string{"token", "--account", "paper", "--addr", "unix:" + filepath.Join(dir, "none.sock")}, exitFailure, "is kauth serve running?"},
		{"TCP without the key", map[string]string{"KAUTH_CACHE_DIR": dir}, []string{"token", "--account", "paper", "--addr", "127.0.0.1:1"}, exitUsage, "reading the agent key"},
		{"with --broker", bare, []string{"token", "--account", "paper", "--broker", "kis"}, exitUsage, "drop --broker"},
		{"--addr alone", bare, []string{"token", "--addr", "unix:" + sock}, exitUsage, "--addr needs --account"},
		{"status, no agent", nil, []string{"status", "--agent", "--addr", "unix:" + filepath.Join(dir, "none.sock")}, exitFailure, "is kauth serve running?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.env, "", tc.args...)
			r.wantCode(t, tc.code)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr = %q; want %q in it", r.stderr, tc.want)
			}
		})
	}
}
