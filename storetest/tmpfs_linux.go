package storetest

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// MountTmpfs mounts a tmpfs of size bytes ("256k") at dir, private to its
// owner and unmounted when the test ends, so that a test can fill it or
// make it read-only without touching the machine's disks. It reports
// false, without failing, when the process may not mount (not root, or no
// mount rights in its namespace).
func MountTmpfs(t testing.TB, dir, size string) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Logf("cannot mount a tmpfs (%v)", err)
		return false
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting the test tmpfs %s: %v", dir, err)
		}
	})
	return true
}

// FillDisk writes the file path until the file system under it has not one
// byte left, and returns the function that frees the space again.
func FillDisk(t testing.TB, path string) (free func()) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	for _, err := f.Write(chunk[:1]); err == nil; _, err = f.Write(chunk[:1]) {
	}
	return func() { os.Remove(path) }
}
