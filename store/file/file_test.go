package file_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/store/file"
	"github.com/kauth/kauth/storetest"
)

var (
	keyMock = kauth.Key{Broker: kauth.KIS, Env: kauth.Mock, Fingerprint: "3f2a9c01d4e5"}
	keyReal = kauth.Key{Broker: kauth.KIS, Env: kauth.Real, Fingerprint: "3f2a9c01d4e5"}
)

// secretToken is the token the tests store; it must never show up in a file
// name, a file's contents or a log line.
const secretToken = "SECRET-ACCESS-TOKEN-eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9"

func entry() kauth.Entry {
	now := time.Now()
	return kauth.Entry{
		Token:     kauth.Token{AccessToken: secretToken, Type: "Bearer", IssuedAt: now, ExpiresAt: now.Add(24 * time.Hour)},
		LastIssue: now,
	}
}

// cacheDir returns a directory for a store that does not exist yet: New
// must create it. (t.TempDir's own subdirectories are 0755, which the store
// rightly refuses.)
func cacheDir(t *testing.T) string {
	return filepath.Join(t.TempDir(), "kauth")
}

func newStore(t *testing.T, dir string, opts ...file.Option) *file.Store {
	t.Helper()
	s, err := file.New(dir, opts...)
	if err != nil {
		t.Fatalf("New(%s) = %v", dir, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (a, b kauth.Store) {
		dir := cacheDir(t)
		var logs testlog.Buffer
		t.Cleanup(func() {
			if n := len(logs.Warnings()); n > 0 {
				t.Errorf("%d unexpected warnings:\n%s", n, logs.String())
			}
		})
		opts := []file.Option{file.WithPollInterval(20 * time.Millisecond), file.WithLogger(logs.Logger())}
		// Both handles find the key in the key file that the first creates.
		return newStore(t, dir, opts...), newStore(t, dir, opts...)
	})
}

// TestConformancePolling: the same with Watch polling, as it does where
// file events are not available.
func TestConformancePolling(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (a, b kauth.Store) {
		dir := cacheDir(t)
		var logs testlog.Buffer
		t.Cleanup(func() {
			if n := len(logs.Warnings()); n > 0 {
				t.Errorf("%d unexpected warnings:\n%s", n, logs.String())
			}
		})
		opts := []file.Option{file.WithPollInterval(20 * time.Millisecond), file.WithLogger(logs.Logger())}
		return file.Polling(newStore(t, dir, opts...)), file.Polling(newStore(t, dir, opts...))
	})
}

// TestConformanceRescanning: the same with Watch told only that the
// directory changed, as kqueue tells it on macOS and the BSDs, so that it
// rescans the directory for each event.
func TestConformanceRescanning(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (a, b kauth.Store) {
		dir := cacheDir(t)
		var logs testlog.Buffer
		t.Cleanup(func() {
			if n := len(logs.Warnings()); n > 0 {
				t.Errorf("%d unexpected warnings:\n%s", n, logs.String())
			}
		})
		opts := []file.Option{file.WithPollInterval(time.Hour), file.WithLogger(logs.Logger())}
		return file.Rescanning(newStore(t, dir, opts...)), file.Rescanning(newStore(t, dir, opts...))
	})
}

func TestConformanceExplicitKey(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	storetest.Run(t, func(t *testing.T) kauth.Store {
		dir := cacheDir(t)
		s := newStore(t, dir, file.WithKey(key))
		t.Cleanup(func() {
			if _, err := os.Stat(filepath.Join(dir, "key")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a store with an explicit key created a key file (stat: %v)", err)
			}
		})
		return s
	})
}

func skipModesOnWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix permission bits")
	}
}

func TestModes(t *testing.T) {
	skipModesOnWindows(t)
	dir := cacheDir(t)
	s := newStore(t, dir)
	if err := s.Save(t.Context(), keyMock, entry()); err != nil {
		t.Fatal(err)
	}
	unlock, err := s.Lock(t.Context(), keyMock)
	if err != nil {
		t.Fatal(err)
	}
	unlock.Unlock()
	tests := []struct {
		path string
		want fs.FileMode
	}{
		{dir, fs.ModeDir | 0o700},
		{filepath.Join(dir, "key"), 0o600},
		{filepath.Join(dir, "kis-mock-3f2a9c01d4e5.tok"), 0o600},
		{filepath.Join(dir, "kis-mock-3f2a9c01d4e5.lock"), 0o600},
	}
	for _, tt := range tests {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Errorf("Stat(%s) = %v", tt.path, err)
			continue
		}
		if got := fi.Mode(); got != tt.want {
			t.Errorf("mode of %s = %v; want %v", tt.path, got, tt.want)
		}
	}
}

func TestRefusesLooseModes(t *testing.T) {
	skipModesOnWindows(t)
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) string // makes dir loose, returns the path at fault
		load    bool                                  // the failure shows in Load, not New
		wantFix string
	}{
		{"Dir0755", func(t *testing.T, dir string) string { chmod(t, dir, 0o755); return dir }, false, "chmod 700"},
		{"Dir0701", func(t *testing.T, dir string) string { chmod(t, dir, 0o701); return dir }, false, "chmod 700"},
		{"KeyFile0644", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "key")
			chmod(t, p, 0o644)
			return p
		}, false, "chmod 600"},
		{"EntryFile0644", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "kis-mock-3f2a9c01d4e5.tok")
			chmod(t, p, 0o644)
			return p
		}, true, "chmod 600"},
		{"EntryFile0640", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "kis-mock-3f2a9c01d4e5.tok")
			chmod(t, p, 0o640)
			return p
		}, true, "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := cacheDir(t)
			s := newStore(t, dir)
			if err := s.Save(t.Context(), keyMock, entry()); err != nil {
				t.Fatal(err)
			}
			bad := tt.setup(t, dir)
			var err error
			if tt.load {
				_, err = s.Load(t.Context(), keyMock)
			} else {
				_, err = file.New(dir)
			}
			if err == nil {
				t.Fatalf("%s is loose, yet no error", bad)
			}
			if errors.Is(err, kauth.ErrNotFound) {
				t.Fatalf("error = %v; want a refusal, not ErrNotFound", err)
			}
			// The message names the path and the command that fixes it.
			if want := tt.wantFix + " " + bad; !strings.Contains(err.Error(), want) {
				t.Errorf("error = %q; want it to contain %q", err, want)
			}
		})
	}
}

func chmod(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestNoSecretsInFiles(t *testing.T) {
	const appKey = "PSabcdefghijklmnopqrstuvwxyz0123456789"
	key := kauth.Credentials{Broker: kauth.KIS, Env: kauth.Real, AppKey: appKey, AppSecret: "s"}.Key()
	dir := cacheDir(t)
	var logs testlog.Buffer
	s := newStore(t, dir, file.WithLogger(logs.Logger()))
	if err := s.Save(t.Context(), key, entry()); err != nil {
		t.Fatal(err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if strings.Contains(de.Name(), appKey) {
			t.Errorf("file name %q contains the app key", de.Name())
		}
		data, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{appKey, secretToken, "Bearer"} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("file %s holds %q in clear", de.Name(), secret[:6])
			}
		}
	}
	// Each save uses a fresh nonce: the same entry never seals the same.
	path := filepath.Join(dir, "kis-real-"+key.Fingerprint+".tok")
	first, _ := os.ReadFile(path)
	if err := s.Save(t.Context(), key, entry()); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	if len(first) < 18 || bytes.Equal(first[6:18], second[6:18]) {
		t.Errorf("two saves used the same nonce")
	}
	if !bytes.HasPrefix(first, []byte("KAUTH\x01")) {
		t.Errorf("entry file starts %q; want the versioned magic KAUTH\\x01", first[:min(6, len(first))])
	}
}

func TestUnreadableEntries(t *testing.T) {
	tests := []struct {
		name string
		// spoil replaces the entry file of keyMock at path; other is the
		// path of another key's entry, a store with a different key.
		spoil func(t *testing.T, path, other string, foreign *file.Store)
	}{
		{"Empty", func(t *testing.T, path, _ string, _ *file.Store) { write(t, path, nil) }},
		{"Header", func(t *testing.T, path, _ string, _ *file.Store) { write(t, path, []byte("KAU")) }},
		{"Truncated", func(t *testing.T, path, _ string, _ *file.Store) {
			data := read(t, path)
			write(t, path, data[:len(data)/2])
		}},
		{"LastByteMissing", func(t *testing.T, path, _ string, _ *file.Store) {
			data := read(t, path)
			write(t, path, data[:len(data)-1])
		}},
		{"BitFlip", func(t *testing.T, path, _ string, _ *file.Store) {
			data := read(t, path)
			data[len(data)/2] ^= 0x40
			write(t, path, data)
		}},
		{"Garbage", func(t *testing.T, path, _ string, _ *file.Store) {
			data := make([]byte, 300)
			rand.Read(data)
			write(t, path, data)
		}},
		{"PlainJSON", func(t *testing.T, path, _ string, _ *file.Store) {
			write(t, path, []byte(`{"access_token":"x","expires_at":"2030-01-01T00:00:00Z"}`))
		}},
		{"FutureVersion", func(t *testing.T, path, _ string, _ *file.Store) {
			data := read(t, path)
			data[5] = 2
			write(t, path, data)
		}},
		{"Huge", func(t *testing.T, path, _ string, _ *file.Store) {
			data := read(t, path)
			write(t, path, append(data, make([]byte, 2<<20)...))
		}},
		{"WrongKey", func(t *testing.T, path, _ string, foreign *file.Store) {
			if err := foreign.Save(t.Context(), keyMock, entry()); err != nil {
				t.Fatal(err)
			}
			write(t, path, read(t, filepath.Join(foreign.Dir(), filepath.Base(path))))
		}},
		{"RenamedFromAnotherKey", func(t *testing.T, path, other string, _ *file.Store) {
			if err := os.Rename(other, path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := cacheDir(t)
			var logs testlog.Buffer
			s := newStore(t, dir, file.WithLogger(logs.Logger()))
			foreign := newStore(t, cacheDir(t))
			for _, k := range []kauth.Key{keyMock, keyReal} {
				if err := s.Save(t.Context(), k, entry()); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, "kis-mock-3f2a9c01d4e5.tok")
			tt.spoil(t, path, filepath.Join(dir, "kis-real-3f2a9c01d4e5.tok"), foreign)

			for i := range 3 {
				if _, err := s.Load(t.Context(), keyMock); !errors.Is(err, kauth.ErrNotFound) {
					t.Fatalf("Load #%d of a spoiled entry = %v; want ErrNotFound", i+1, err)
				}
			}
			if n := len(logs.Warnings()); n != 1 {
				t.Fatalf("after three Loads of one spoiled file, %d warnings; want exactly 1:\n%s", n, logs.String())
			}
			out := logs.String()
			if !strings.Contains(out, path) {
				t.Errorf("warning does not name the file %s:\n%s", path, out)
			}
			if strings.Contains(out, secretToken) {
				t.Errorf("warning reveals the token")
			}

			// Other content in the same file is reported afresh.
			write(t, path, []byte("other garbage"))
			s.Load(t.Context(), keyMock)
			if n := len(logs.Warnings()); n != 2 {
				t.Errorf("after new garbage, %d warnings; want 2", n)
			}

			// A save (as after the next issuance) heals it.
			if err := s.Save(t.Context(), keyMock, entry()); err != nil {
				t.Fatal(err)
			}
			got, err := s.Load(t.Context(), keyMock)
			if err != nil || got.Token.AccessToken != secretToken {
				t.Errorf("Load after a fresh Save = %v, %v; want the entry", got.Token, err)
			}
		})
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseKey(t *testing.T) {
	raw := make([]byte, 32)
	rand.Read(raw)
	short := make([]byte, 16)
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"Std", base64.StdEncoding.EncodeToString(raw), ""},
		{"RawStd", base64.RawStdEncoding.EncodeToString(raw), ""},
		{"URL", base64.URLEncoding.EncodeToString(raw), ""},
		{"RawURL", base64.RawURLEncoding.EncodeToString(raw), ""},
		{"Spaces", "  " + base64.StdEncoding.EncodeToString(raw) + "\n", ""},
		{"Empty", "", "empty"},
		{"Short", base64.StdEncoding.EncodeToString(short), "16 bytes; want 32"},
		{"Long", base64.StdEncoding.EncodeToString(append(raw, 1)), "33 bytes; want 32"},
		{"NotBase64", "this is not base64 at all!", "not valid base64"},
		{"Hex", strings.Repeat("ab", 32), "48 bytes; want 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := file.ParseKey(tt.in)
			if tt.wantErr == "" {
				if err != nil || !bytes.Equal(got, raw) {
					t.Fatalf("ParseKey = %x, %v; want the key", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseKey error = %v; want one containing %q", err, tt.wantErr)
			}
			if tt.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
				t.Errorf("ParseKey error repeats the key: %v", err)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	raw := make([]byte, 32)
	rand.Read(raw)
	good := base64.StdEncoding.EncodeToString(raw)

	t.Run("Key", func(t *testing.T) {
		dir := cacheDir(t)
		t.Setenv("KAUTH_CACHE_DIR", dir)
		t.Setenv("KAUTH_KEY", good)
		s, err := file.FromEnv()
		if err != nil {
			t.Fatal(err)
		}
		if s.Dir() != dir {
			t.Errorf("Dir = %s; want %s", s.Dir(), dir)
		}
		if err := s.Save(t.Context(), keyMock, entry()); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "key")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("with KAUTH_KEY set, a key file was created (stat: %v)", err)
		}
		// The same key given explicitly reads the entry.
		if _, err := newStore(t, dir, file.WithKey(raw)).Load(t.Context(), keyMock); err != nil {
			t.Errorf("Load with the same key = %v", err)
		}
	})

	t.Run("BadKey", func(t *testing.T) {
		t.Setenv("KAUTH_CACHE_DIR", cacheDir(t))
		t.Setenv("KAUTH_KEY", "c2hvcnQ=")
		_, err := file.FromEnv()
		if err == nil || !strings.Contains(err.Error(), "KAUTH_KEY") || !strings.Contains(err.Error(), "want 32") {
			t.Fatalf("FromEnv with a 5-byte KAUTH_KEY = %v; want an error naming KAUTH_KEY and the size", err)
		}
	})

	t.Run("KeyFile", func(t *testing.T) {
		dir := cacheDir(t)
		t.Setenv("KAUTH_CACHE_DIR", dir)
		t.Setenv("KAUTH_KEY", "")
		s, err := file.FromEnv()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Save(t.Context(), keyMock, entry()); err != nil {
			t.Fatal(err)
		}
		// The key file holds the key in KAUTH_KEY's form.
		key, err := file.ParseKey(string(read(t, filepath.Join(dir, "key"))))
		if err != nil {
			t.Fatalf("key file does not parse: %v", err)
		}
		if _, err := newStore(t, dir, file.WithKey(key)).Load(t.Context(), keyMock); err != nil {
			t.Errorf("Load with the key file's key = %v", err)
		}
		// A second store picks up the same key file.
		s2, err := file.FromEnv()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s2.Load(t.Context(), keyMock); err != nil {
			t.Errorf("Load through a second store = %v", err)
		}
	})

	t.Run("DefaultDir", func(t *testing.T) {
		d, err := file.DefaultDir()
		if err != nil {
			t.Skipf("no user cache dir here: %v", err)
		}
		if filepath.Base(d) != "kauth" {
			t.Errorf("DefaultDir = %s; want .../kauth", d)
		}
	})
}

func TestBadKeyFile(t *testing.T) {
	dir := cacheDir(t)
	newStore(t, dir)
	write(t, filepath.Join(dir, "key"), []byte("garbage\n"))
	_, err := file.New(dir)
	if err == nil || !strings.Contains(err.Error(), "key file") || !strings.Contains(err.Error(), "remove it") {
		t.Fatalf("New with a garbage key file = %v; want an error naming the key file and the fix", err)
	}
}

func TestKeyFileCreatedOnce(t *testing.T) {
	dir := cacheDir(t)
	const n = 8
	stores := make([]*file.Store, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := file.New(dir)
			if err != nil {
				t.Error(err)
			}
			stores[i] = s
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if err := stores[0].Save(t.Context(), keyMock, entry()); err != nil {
		t.Fatal(err)
	}
	for i, s := range stores {
		if _, err := s.Load(t.Context(), keyMock); err != nil {
			t.Errorf("store %d of %d started together: Load = %v; want all to share one key", i, n, err)
		}
	}
}

func TestInvalidKeys(t *testing.T) {
	s := newStore(t, cacheDir(t))
	for _, k := range []kauth.Key{
		{},
		{Broker: "kis", Env: "mock"},
		{Broker: "../../etc", Env: "mock", Fingerprint: "x"},
		{Broker: "kis", Env: "mock", Fingerprint: "a/b"},
		{Broker: "kis", Env: "mock-x", Fingerprint: "ab"},
		{Broker: "KIS", Env: "mock", Fingerprint: "ab"},
	} {
		if err := s.Save(t.Context(), k, entry()); err == nil {
			t.Errorf("Save(%q) succeeded; want an invalid key error", k.String())
		}
		if _, err := s.Load(t.Context(), k); err == nil || errors.Is(err, kauth.ErrNotFound) {
			t.Errorf("Load(%q) = %v; want an invalid key error", k.String(), err)
		}
		if _, err := s.Lock(t.Context(), k); err == nil {
			t.Errorf("Lock(%q) succeeded; want an invalid key error", k.String())
		}
	}
}

func TestListIgnoresOtherFiles(t *testing.T) {
	dir := cacheDir(t)
	s := newStore(t, dir)
	if err := s.Save(t.Context(), keyMock, entry()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"README", "kis-mock.tok", "x-y-z.lock", ".tmp-kis-mock-ab.tok-123", "KIS-mock-ab.tok", file.ProbePrefix + "123"} {
		write(t, filepath.Join(dir, name), []byte("x"))
	}
	if err := os.Mkdir(filepath.Join(dir, "kis-real-ab.tok"), 0o700); err != nil {
		t.Fatal(err)
	}
	keys, err := s.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := []kauth.Key{keyMock}; !slices.Equal(keys, want) {
		t.Errorf("List = %v; want %v", keys, want)
	}
}

func TestStaleTempFilesRemoved(t *testing.T) {
	dir := cacheDir(t)
	newStore(t, dir)
	stale := filepath.Join(dir, ".tmp-kis-mock-ab.tok-1")
	fresh := filepath.Join(dir, ".tmp-kis-mock-ab.tok-2")
	// Watch's probe file, left by a process killed between its create
	// and remove, is swept alike.
	probe := filepath.Join(dir, file.ProbePrefix+"3")
	write(t, stale, []byte("x"))
	write(t, fresh, []byte("x"))
	write(t, probe, nil)
	old := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{stale, probe} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	newStore(t, dir)
	for _, p := range []string{stale, probe} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a 2 h old temp file %s survived New (stat: %v)", filepath.Base(p), err)
		}
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh temp file, maybe being written, was removed: %v", err)
	}
}

// TestStaleTempFilesRemovedOnSave: a process that keeps its store open
// (the agent) removes, when it writes, the temporary files that writers
// killed since it opened the store left behind, and leaves a fresh one,
// maybe being written, alone.
func TestStaleTempFilesRemovedOnSave(t *testing.T) {
	dir := cacheDir(t)
	s := newStore(t, dir)
	var stale []string
	for _, n := range []string{".tmp-kis-mock-ab.tok-1", ".tmp-kis-mock-ab.fence-2", ".tmp-kiwoom-real-cd.tok-3"} {
		path := filepath.Join(dir, n)
		write(t, path, []byte("x"))
		old := time.Now().Add(-2 * time.Hour)
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
		stale = append(stale, path)
	}
	fresh := filepath.Join(dir, ".tmp-kis-mock-ab.tok-4")
	write(t, fresh, []byte("x"))
	if err := s.Save(t.Context(), keyMock, entry()); err != nil {
		t.Fatal(err)
	}
	for _, path := range stale {
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a 2 h old temp file %s survived a Save (stat: %v)", filepath.Base(path), err)
		}
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh temp file, maybe being written, was removed: %v", err)
	}
}

// TestWithKeyCopies: the caller may wipe its key once the Option is made,
// and the Option works more than once.
func TestWithKeyCopies(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	want := slices.Clone(key)
	opt := file.WithKey(key)
	clear(key)
	dir := cacheDir(t)
	a := newStore(t, dir, opt)
	b := newStore(t, dir, opt)
	if err := a.Save(t.Context(), keyMock, entry()); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*file.Store{b, newStore(t, dir, file.WithKey(want))} {
		if _, err := s.Load(t.Context(), keyMock); err != nil {
			t.Fatalf("Load = %v; want the entry sealed with the key given to WithKey", err)
		}
	}
}

// TestWatchNeedsNoPolling: Watch hears of another handle's save through
// the OS's file events, with a poll interval far longer than the test, so
// a Store whose entries do not change wakes no one: with the OS's own
// events (inotify on Linux, ReadDirectoryChangesW on Windows, kqueue on
// macOS and the BSDs), and with events that say only that the directory
// changed, as kqueue's do, so that the rescan that follows them is tested
// on Linux too.
func TestWatchNeedsNoPolling(t *testing.T) {
	t.Run("OS", func(t *testing.T) {
		switch runtime.GOOS {
		case "linux", "windows", "darwin", "dragonfly", "freebsd", "netbsd", "openbsd":
		default:
			t.Skipf("kauth listens to no file events on %s", runtime.GOOS)
		}
		testWatchNeedsNoPolling(t, func(s *file.Store) *file.Store { return s })
	})
	t.Run("Rescan", func(t *testing.T) { testWatchNeedsNoPolling(t, file.Rescanning) })
}

func testWatchNeedsNoPolling(t *testing.T, mode func(*file.Store) *file.Store) {
	dir := cacheDir(t)
	var logs testlog.Buffer
	a := mode(newStore(t, dir, file.WithPollInterval(time.Hour), file.WithLogger(logs.Logger())))
	b := newStore(t, dir, file.WithPollInterval(time.Hour))
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan kauth.Change, 16)
	done := make(chan error, 1)
	go func() { done <- a.Watch(ctx, func(c kauth.Change) { got <- c }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch = %v", err)
		}
		// The file events proved to arrive: no warning that they do not.
		if w := logs.Warnings(); len(w) > 0 {
			t.Errorf("unexpected warnings: %q", w)
		}
		assertNoProbe(t, dir)
	}()
	// The watch may not be listening yet: save until it hears.
	deadline := time.After(10 * time.Second)
	for i := 1; ; i++ {
		if err := b.Save(ctx, keyMock, kauth.Entry{Token: kauth.Token{AccessToken: fmt.Sprint("t", i), ExpiresAt: time.Now().Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-got:
			if c.Resync || c.Key != keyMock {
				t.Fatalf("Watch reported %+v; want the key %v", c, keyMock)
			}
			// Let late reports of b's earlier saves in, then: a's own
			// save is not reported.
			for drained := false; !drained; {
				select {
				case <-got:
				case <-time.After(100 * time.Millisecond):
					drained = true
				}
			}
			if err := a.Save(ctx, keyMock, kauth.Entry{}); err != nil {
				t.Fatal(err)
			}
			select {
			case c := <-got:
				t.Errorf("Watch reported its own handle's save: %+v", c)
			case <-time.After(100 * time.Millisecond):
			}
			return
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("Watch with a one-hour poll interval did not hear of another handle's save in 10 s")
		}
	}
}

// assertNoProbe fails if Watch's probe file is left in dir.
func assertNoProbe(t *testing.T, dir string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), file.ProbePrefix) {
			t.Errorf("probe file %s left behind", de.Name())
		}
	}
}

// TestWatchProbeUnseen: the file a Watch creates and removes to prove
// that file events arrive is no change to the Watch of another handle, nor
// to its own, and is not left behind.
func TestWatchProbeUnseen(t *testing.T) {
	dir := cacheDir(t)
	var logs testlog.Buffer
	opts := []file.Option{file.WithPollInterval(time.Hour), file.WithLogger(logs.Logger())}
	a := newStore(t, dir, opts...)
	b := newStore(t, dir, opts...)
	c := newStore(t, dir, opts...)
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan string, 16)
	done := make(chan error, 2)
	watch := func(name string, s *file.Store) {
		done <- s.Watch(ctx, func(c kauth.Change) { got <- fmt.Sprintf("%s heard %+v", name, c) })
	}
	go watch("a", a)
	// a listens once it hears c's saves; then b starts, probing.
	deadline := time.After(10 * time.Second)
	for heard := false; !heard; {
		if err := c.Save(ctx, keyMock, entry()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
			heard = true
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("a's Watch did not hear c's save in 10 s")
		}
	}
	for drained := false; !drained; {
		select {
		case <-got:
		case <-time.After(100 * time.Millisecond):
			drained = true
		}
	}
	go watch("b", b)
	select {
	case r := <-got:
		t.Errorf("while b's Watch started: %s", r)
	case <-time.After(500 * time.Millisecond):
	}
	if keys, err := c.List(ctx); err != nil || !slices.Equal(keys, []kauth.Key{keyMock}) {
		t.Errorf("List = %v, %v; want [%v]", keys, err, keyMock)
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("Watch = %v", err)
		}
	}
	if w := logs.Warnings(); len(w) > 0 {
		t.Errorf("unexpected warnings: %q", w)
	}
	assertNoProbe(t, dir)
}
