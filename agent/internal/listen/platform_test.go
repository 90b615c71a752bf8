package listen

import (
	"strings"
	"testing"
)

// The agent serves only where it can check who may read its key file and
// socket.
func TestServeRefusedWhereUnchecked(t *testing.T) {
	for _, goos := range []string{"linux", "darwin", "freebsd"} {
		if err := Platform(goos); err != nil {
			t.Errorf("Platform(%s) = %v; want nil", goos, err)
		}
	}
	err := Platform("windows")
	if err == nil || !strings.HasPrefix(err.Error(), "agent: ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Platform(windows) = %v; want a one-line refusal", err)
	}
}
