//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package file

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestKqNotice: what each EVFILT_VNODE flag on the directory means.
func TestKqNotice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fflags uint32
		want   notice
	}{
		{"entry created, removed or renamed", unix.NOTE_WRITE, notice{rescan: true, op: "WRITE"}},
		{"dir removed", unix.NOTE_DELETE, notice{self: true, gone: true, op: "DELETE"}},
		{"dir renamed", unix.NOTE_RENAME, notice{self: true, gone: true, op: "RENAME"}},
		{"dir's file system unmounted", unix.NOTE_REVOKE, notice{self: true, gone: true, op: "REVOKE"}},
		{"dir's mode changed", unix.NOTE_ATTRIB, notice{self: true, op: "ATTRIB"}},
		{"both at once", unix.NOTE_WRITE | unix.NOTE_ATTRIB, notice{rescan: true, self: true, op: "WRITE|ATTRIB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := kqNotice(tc.fflags); got != tc.want {
				t.Errorf("kqNotice(%#x) = %+v; want %+v", tc.fflags, got, tc.want)
			}
		})
	}
}

// TestKqNotifierHearsRenames: the kqueue on the directory wakes for a file
// created, a new file renamed over an entry (as every Save does) and an
// unlink (as Delete does), and tells of the directory renamed away.
func TestKqNotifierHearsRenames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kauth")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	n, err := newKqNotifier(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	entry := filepath.Join(dir, "kis-mock-0123456789ab.json")
	tmp := entry + ".tmp"
	write := func(path string) func() error {
		return func() error { return os.WriteFile(path, []byte("x"), 0o600) }
	}
	none := func() error { return nil }
	rescan := func(no notice) bool { return no.rescan }
	for _, step := range []struct {
		what     string
		prep, do func() error
		want     func(notice) bool
	}{
		{"a file created", none, write(entry), rescan},
		{"a new file renamed over it, as Save does", write(tmp), func() error { return os.Rename(tmp, entry) }, rescan},
		{"a delete", none, func() error { return os.Remove(entry) }, rescan},
		{"the dir renamed away", none, func() error { return os.Rename(dir, dir+".away") }, func(no notice) bool { return no.self && no.gone }},
	} {
		if err := step.prep(); err != nil {
			t.Fatal(err)
		}
		// What earlier steps left pending is not this step's.
		for {
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			no, ok := n.next(ctx)
			cancel()
			if !ok {
				break
			}
			if no.err != nil {
				t.Fatal(no.err)
			}
		}
		if err := step.do(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		for {
			no, ok := n.next(ctx)
			if !ok {
				cancel()
				t.Fatalf("no notice of %s in 10 s", step.what)
			}
			if no.err != nil {
				cancel()
				t.Fatalf("after %s: %v", step.what, no.err)
			}
			if step.want(no) {
				break
			}
		}
		cancel()
	}
}
