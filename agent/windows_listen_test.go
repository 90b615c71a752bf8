package agent_test

import (
	"path/filepath"
	"testing"

	"github.com/kauth/kauth/agent"
)

// On windows the agent serves no unix socket unless told to (and then
// refuses): a config without listen.socket listens on TCP alone, where
// elsewhere it gets the default socket.
func TestNoDefaultSocketOnWindows(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "KAUTH_CACHE_DIR" {
			return dir
		}
		return ""
	}
	cfg := agent.Config{}
	cfg.Listen.TCP = "127.0.0.1:0"
	if p, err := agent.SocketPathOn("windows", cfg, getenv); err != nil || p != "" {
		t.Errorf("SocketPathOn(windows) = %q, %v; want no socket", p, err)
	}
	if p, err := agent.SocketPathOn("linux", cfg, getenv); err != nil || p != filepath.Join(dir, "agent.sock") {
		t.Errorf("SocketPathOn(linux) = %q, %v; want the default socket in the cache dir", p, err)
	}
	cfg.Listen.Socket = agent.SocketOff
	if p, err := agent.SocketPathOn("linux", cfg, getenv); err != nil || p != "" {
		t.Errorf("SocketPathOn(linux, off) = %q, %v; want no socket", p, err)
	}
}
