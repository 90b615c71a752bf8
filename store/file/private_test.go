package file_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kauth/kauth/internal/private"
	"github.com/kauth/kauth/internal/winetest"
	"github.com/kauth/kauth/store/file"
)

// The cache dir the store creates, and every file it writes there, are
// open to their owner alone, by the platform's own rules (mode bits, or
// the access list on Windows).
func TestCreatedCacheIsPrivate(t *testing.T) {
	winetest.Skip(t, "file access lists: it shows the Unix mode bits as one, so the files the store makes do not inherit its cache dir's list")
	dir := filepath.Join(t.TempDir(), "nested", "kauth")
	s, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(t.Context(), keyMock, entry()); err != nil {
		t.Fatal(err)
	}
	unlock, err := s.Lock(t.Context(), keyMock)
	if err != nil {
		t.Fatal(err)
	}
	unlock.Unlock()
	paths := []string{dir}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		paths = append(paths, filepath.Join(dir, de.Name()))
	}
	if len(paths) < 3 {
		t.Fatalf("the store wrote %d files; want an entry and its lock at least", len(paths)-1)
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		exp, err := private.Check(p, fi)
		if err != nil {
			t.Fatal(err)
		}
		if exp != nil {
			t.Errorf("%s is %s", p, exp.Who)
		}
	}
}
