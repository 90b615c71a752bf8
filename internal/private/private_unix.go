//go:build !windows

package private

import (
	"fmt"
	"io/fs"
	"os"
)

func check(path string, fi fs.FileInfo) (*Exposure, error) {
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return nil, nil
	}
	want := "600"
	if fi.IsDir() {
		want = "700"
	}
	return &Exposure{Who: fmt.Sprintf("mode %04o", perm), Fix: "chmod " + want + " " + path}, nil
}

func restrict(path string, dir bool) error {
	mode := os.FileMode(0o600)
	if dir {
		mode = 0o700
	}
	return os.Chmod(path, mode)
}
