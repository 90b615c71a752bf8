package winetest_test

import (
	"os"
	"runtime"
	"testing"

	"github.com/kauth/kauth/internal/winetest"
)

// Under Wine, drive Z: is the Unix root, so Linux's /proc/version is there;
// on Windows proper it is not, and elsewhere there is no Wine.
func TestVersion(t *testing.T) {
	v := winetest.Version()
	if runtime.GOOS != "windows" {
		if v != "" {
			t.Fatalf("Version() = %q on %s", v, runtime.GOOS)
		}
		return
	}
	_, err := os.Stat(`Z:\proc\version`)
	if wine := err == nil; wine != (v != "") {
		t.Fatalf("Version() = %q, but Z:\\proc\\version exists: %v", v, wine)
	}
}

func TestSkip(t *testing.T) {
	skipped := false
	t.Run("sub", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		winetest.Skip(t, "nothing")
	})
	if skipped != (winetest.Version() != "") {
		t.Fatalf("skipped %v under Wine %q", skipped, winetest.Version())
	}
}
