package file_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/store/file"
	"github.com/kauth/kauth/storetest"
)

// tmpfsSize is the size of the file system that the fault tests mount:
// room for the suite's few entries (tmpfs counts a page per small file).
const tmpfsSize = "256k"

// mountTmpfs mounts a small tmpfs at dir, unmounted when the test ends. It
// reports false, without failing, when this process may not mount.
func mountTmpfs(t *testing.T, dir string) bool { return storetest.MountTmpfs(t, dir, tmpfsSize) }

func remount(t *testing.T, dir string, flags uintptr) {
	t.Helper()
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|flags, ""); err != nil {
		t.Fatalf("remount %s: %v", dir, err)
	}
}

// TestFaults runs the storetest fault checks on a directory that, when this
// process may mount, is a small tmpfs of its own, so that it can be made
// read-only (even for root) and full: with Watch on inotify, and told only
// that the directory changed, as kqueue tells it on macOS and the BSDs.
func TestFaults(t *testing.T) {
	t.Run("OS", func(t *testing.T) { testFaults(t, func(s *file.Store) *file.Store { return s }) })
	t.Run("Rescan", func(t *testing.T) { testFaults(t, file.Rescanning) })
}

func testFaults(t *testing.T, mode func(*file.Store) *file.Store) {
	storetest.RunFaults(t, func(t *testing.T) storetest.Faults {
		// The store's directory is inside the mount, so that the watch
		// check can rename it away.
		mnt := cacheDir(t)
		tmpfs := mountTmpfs(t, mnt)
		dir := filepath.Join(mnt, "kauth")
		var logs testlog.Buffer
		opts := []file.Option{file.WithPollInterval(20 * time.Millisecond), file.WithLogger(logs.Logger())}
		a, b := mode(newStore(t, dir, opts...)), newStore(t, dir, opts...)
		f := storetest.Faults{A: a, B: b}
		f.Cut = func(t *testing.T) func() {
			// Renamed away, the directory cannot be read by its name.
			away := dir + ".away"
			if err := os.Rename(dir, away); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := os.Rename(away, dir); err != nil {
					t.Fatal(err)
				}
			}
		}
		if tmpfs {
			f.Unwritable = append(f.Unwritable, storetest.Unwritable{Name: "ReadOnly", Break: func(t *testing.T) (kauth.Store, func()) {
				remount(t, mnt, syscall.MS_RDONLY)
				return a, func() { remount(t, mnt, 0) }
			}})
			f.Unwritable = append(f.Unwritable, storetest.Unwritable{Name: "Full", Break: func(t *testing.T) (kauth.Store, func()) {
				return a, storetest.FillDisk(t, filepath.Join(dir, "filler"))
			}})
		} else if os.Geteuid() != 0 {
			t.Log("not root: the read-only case uses chmod 500 and the full-disk case is skipped (it needs a tmpfs mount)")
			f.Unwritable = append(f.Unwritable, storetest.Unwritable{Name: "ReadOnly", Break: func(t *testing.T) (kauth.Store, func()) {
				chmod(t, dir, 0o500)
				return a, func() { chmod(t, dir, 0o700) }
			}})
		} else {
			t.Log("root but cannot mount a tmpfs: the read-only and full-disk cases are skipped")
		}
		return f
	})
}

// TestNewOnReadOnlyDir: a store that cannot even create its key file says
// what to fix, as a refused Save does.
func TestNewOnReadOnlyDir(t *testing.T) {
	mnt := cacheDir(t)
	if !mountTmpfs(t, mnt) {
		t.Skip("needs a tmpfs mount (root) to make a directory read-only for root too")
	}
	dir := filepath.Join(mnt, "kauth")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	remount(t, mnt, syscall.MS_RDONLY)
	_, err := file.New(dir)
	if !errors.Is(err, kauth.ErrStoreUnwritable) || !strings.Contains(err.Error(), "read-only file system; make it writable or set KAUTH_CACHE_DIR") {
		t.Fatalf("New on a read-only dir without a key file = %v; want ErrStoreUnwritable saying what to fix", err)
	}
	// With the key given, the store opens, and reading works.
	s, err := file.New(dir, file.WithKey(randomKey()))
	if err != nil {
		t.Fatalf("New on a read-only dir with a key = %v", err)
	}
	if _, err := s.Load(t.Context(), keyMock); !errors.Is(err, kauth.ErrNotFound) {
		t.Errorf("Load = %v; want ErrNotFound", err)
	}
	// A cache dir that cannot be created says so too.
	if _, err := file.New(filepath.Join(mnt, "missing"), file.WithKey(randomKey())); !errors.Is(err, kauth.ErrStoreUnwritable) {
		t.Errorf("New of a dir that cannot be created = %v; want ErrStoreUnwritable", err)
	}
}
