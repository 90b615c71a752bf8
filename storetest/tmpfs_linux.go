package storetest

import (
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
