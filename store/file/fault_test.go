//go:build unix

package file_test

import (
	"context"
	"crypto/rand"
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
)

func randomKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// TestOtherStoreKeyNotOverwritten: a process with another KAUTH_KEY on the
// same directory must not replace the first one's valid entry.
func TestOtherStoreKeyNotOverwritten(t *testing.T) {
	dir := cacheDir(t)
	first := newStore(t, dir, file.WithKey(randomKey()))
	var logs testlog.Buffer
	second := newStore(t, dir, file.WithKey(randomKey()), file.WithLogger(logs.Logger()))
	want := entry()
	if err := first.Save(t.Context(), keyMock, want); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kis-mock-3f2a9c01d4e5.tok")
	before := read(t, path)

	if _, err := second.Load(t.Context(), keyMock); !errors.Is(err, kauth.ErrNotFound) {
		t.Fatalf("Load with another store key = %v; want ErrNotFound", err)
	}
	if out := logs.String(); !strings.Contains(out, "KAUTH_KEY") || !strings.Contains(out, path) {
		t.Errorf("the warning does not say which file and what to do:\n%s", out)
	}
	other := entry()
	other.Token.AccessToken = "second-process-token"
	err := second.Save(t.Context(), keyMock, other)
	if !errors.Is(err, kauth.ErrStoreUnwritable) {
		t.Fatalf("Save over another store key's entry = %v; want an error matching ErrStoreUnwritable", err)
	}
	for _, want := range []string{"kis/mock/3f2a9c01d4e5", "another store key", "KAUTH_KEY", "KAUTH_CACHE_DIR", path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Save error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), secretToken) {
		t.Errorf("Save error is not one secret-free line: %q", err)
	}
	if _, err := second.Lock(t.Context(), keyMock); !errors.Is(err, kauth.ErrStoreUnwritable) {
		t.Errorf("Lock of another store key's entry = %v; want an error matching ErrStoreUnwritable", err)
	}
	if got := read(t, path); string(got) != string(before) {
		t.Fatal("the first process's entry file was changed")
	}
	if got, err := first.Load(t.Context(), keyMock); err != nil || got.Token.AccessToken != secretToken {
		t.Fatalf("first process's Load = %v, %v; want its entry", got.Token.Fingerprint(), err)
	}

	// Recovery, as the error says: delete the file.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := second.Save(t.Context(), keyMock, other); err != nil {
		t.Fatalf("Save after the file was removed = %v", err)
	}
}

// TestNewerFormatNotOverwritten: an entry that a newer kauth wrote is kept.
func TestNewerFormatNotOverwritten(t *testing.T) {
	dir := cacheDir(t)
	s := newStore(t, dir)
	if err := s.Save(t.Context(), keyMock, entry()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kis-mock-3f2a9c01d4e5.tok")
	data := read(t, path)
	data[5] = 9
	write(t, path, data)
	err := s.Save(t.Context(), keyMock, entry())
	if !errors.Is(err, kauth.ErrStoreUnwritable) || !strings.Contains(err.Error(), "newer kauth") {
		t.Fatalf("Save over a newer format's entry = %v; want ErrStoreUnwritable naming a newer kauth", err)
	}
}

// within runs f and fails the test if it takes longer than d. A call that
// hangs is left behind.
func within(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s still blocked after %v", what, d)
		return nil
	}
}

// TestFIFONeverHangs puts a FIFO where each of the store's files belongs:
// no call may wait for a writer that never comes.
func TestFIFONeverHangs(t *testing.T) {
	for _, name := range []string{"kis-mock-3f2a9c01d4e5.tok", "kis-mock-3f2a9c01d4e5.lock", "kis-mock-3f2a9c01d4e5.fence", "key", "key.lock"} {
		t.Run(name, func(t *testing.T) {
			dir := cacheDir(t)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			fifo := filepath.Join(dir, name)
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				// Release a call that did hang, so the test binary can exit.
				if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
			})
			var s *file.Store
			err := within(t, 5*time.Second, "New", func() (err error) {
				s, err = file.New(dir)
				return err
			})
			if name == "key" || name == "key.lock" {
				if err == nil || !strings.Contains(err.Error(), "not a regular file") {
					t.Fatalf("New with a FIFO as %s = %v; want an error saying it is not a regular file", name, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			within(t, 5*time.Second, "Load", func() error { _, err := s.Load(ctx, keyMock); return err })
			err = within(t, 5*time.Second, "Lock", func() error {
				l, err := s.Lock(ctx, keyMock)
				if err == nil {
					l.Unlock()
				}
				return err
			})
			if err == nil && name != "kis-mock-3f2a9c01d4e5.tok" {
				t.Errorf("Lock with a FIFO as %s succeeded; want it refused", name)
			}
			if err != nil && !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("Lock error = %v; want it to say the file is not a regular file", err)
			}
			err = within(t, 5*time.Second, "Save", func() error { return s.Save(ctx, keyMock, entry()) })
			if name == "kis-mock-3f2a9c01d4e5.tok" && !errors.Is(err, kauth.ErrStoreUnwritable) {
				t.Errorf("Save over a FIFO = %v; want ErrStoreUnwritable", err)
			}
		})
	}
}

// TestSymlinkRefused: an entry file that is a symbolic link is neither
// followed nor replaced.
func TestSymlinkRefused(t *testing.T) {
	dir := cacheDir(t)
	s := newStore(t, dir)
	target := filepath.Join(t.TempDir(), "elsewhere")
	write(t, target, []byte("not ours"))
	path := filepath.Join(dir, "kis-mock-3f2a9c01d4e5.tok")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(t.Context(), keyMock); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Load through a symbolic link = %v; want an error saying it is not a regular file", err)
	}
	if err := s.Save(t.Context(), keyMock, entry()); !errors.Is(err, kauth.ErrStoreUnwritable) || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("Save over a symbolic link = %v; want ErrStoreUnwritable saying to remove it", err)
	}
	if got := read(t, target); string(got) != "not ours" {
		t.Errorf("the link's target was changed")
	}
}
