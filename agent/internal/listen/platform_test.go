package listen

import (
	"strings"
	"testing"
)

// On windows the agent listens on TCP with its key: no socket by default,
// and a configured one is refused with one line that says what to set.
func TestWindowsServesNoSocket(t *testing.T) {
	for _, goos := range []string{"linux", "darwin", "freebsd"} {
		if !DefaultSocket(goos) {
			t.Errorf("DefaultSocket(%s) = false; want a socket by default", goos)
		}
		if err := CheckSocket(goos, "/run/kauth/agent.sock"); err != nil {
			t.Errorf("CheckSocket(%s) = %v; want nil", goos, err)
		}
	}
	if DefaultSocket("windows") {
		t.Error("DefaultSocket(windows) = true; want none")
	}
	for _, s := range []string{"", "off"} {
		if err := CheckSocket("windows", s); err != nil {
			t.Errorf("CheckSocket(windows, %q) = %v; want nil", s, err)
		}
	}
	err := CheckSocket("windows", `C:\kauth\agent.sock`)
	if err == nil || !strings.HasPrefix(err.Error(), "agent: ") || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "listen.tcp") {
		t.Errorf("CheckSocket(windows, path) = %v; want a one-line refusal naming listen.tcp", err)
	}
}
