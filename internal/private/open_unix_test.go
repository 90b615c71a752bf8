//go:build !windows

package private_test

import (
	"os"
	"testing"
)

func openToOthers(t *testing.T, path string) {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
}
