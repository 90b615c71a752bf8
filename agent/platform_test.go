package agent

import (
	"strings"
	"testing"
)

// The agent serves only where it can check who may read its key file and
// socket.
func TestServeRefusedWhereUnchecked(t *testing.T) {
	for _, goos := range []string{"linux", "darwin", "freebsd"} {
		if err := servePlatform(goos); err != nil {
			t.Errorf("servePlatform(%s) = %v; want nil", goos, err)
		}
	}
	err := servePlatform("windows")
	if err == nil || !strings.HasPrefix(err.Error(), "agent: ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("servePlatform(windows) = %v; want a one-line refusal", err)
	}
}
