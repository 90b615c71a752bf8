//go:build windows

package file_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Windows refuses to rename a file over one that another handle holds open
// ("Access is denied"), where Unix replaces it under the reader. A Save
// while another process reads the entry must wait for that read, which
// lasts a moment, not fail as if the cache dir were not writable.
func TestSaveWhileEntryIsOpen(t *testing.T) {
	dir := cacheDir(t)
	s := newStore(t, dir)
	if err := s.Save(t.Context(), keyMock, entry()); err != nil {
		t.Fatal(err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var path string
	for _, de := range des {
		if filepath.Ext(de.Name()) == ".tok" {
			path = filepath.Join(dir, de.Name())
		}
	}
	if path == "" {
		t.Fatalf("no entry file in %s", dir)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	held := 200 * time.Millisecond
	timer := time.AfterFunc(held, func() { f.Close() })
	defer func() {
		if timer.Stop() {
			f.Close()
		}
	}()
	if err := s.Save(t.Context(), keyMock, entry()); err != nil {
		t.Fatalf("Save while a reader holds the entry open for %v: %v", held, err)
	}
	if _, err := s.Load(t.Context(), keyMock); err != nil {
		t.Fatal(err)
	}
}
