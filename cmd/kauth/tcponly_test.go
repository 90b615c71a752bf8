package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kauth/kauth"
)

// An agent that serves no socket (listen.socket: off here; the default on
// windows) is reached by the commands through the config's listen.tcp with
// its key, without --addr.
func TestReloadOverTheConfigsTCP(t *testing.T) {
	sim := newTestSim(t)
	env := with(sim.env(t, kauth.Mock), "KAUTH_STORE", "memory")
	dir := shortDir(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	config := filepath.Join(dir, "kauth.yaml")
	os.WriteFile(config, []byte("listen:\n  socket: off\n  tcp: "+addr+"\n  key_file: "+filepath.Join(dir, "agent.key")+
		"\naccounts:\n  - name: paper\n    broker: kis\n    env: mock\n    appkey: {env: KIS_APPKEY}\n    appsecret: {env: KIS_APPSECRET}\n"), 0o600)

	srv := startServe(t, env, "--config", config)
	r := run(t, env, "", "reload", "--config", config)
	r.wantCode(t, 0)
	if !strings.Contains(r.stdout, "1 account") {
		t.Errorf("kauth reload printed %q; want it to count 1 account", r.stdout)
	}
	if c := srv.stop(t); c != 0 {
		t.Errorf("kauth serve exited %d; want 0\n%s", c, srv.stderr.String())
	}
	r = run(t, env, "", "reload", "--config", config)
	r.wantCode(t, 1)
	if !strings.Contains(r.stderr, addr) {
		t.Errorf("with the agent stopped: stderr = %q; want it to name %s", r.stderr, addr)
	}
}
