package file

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// fakeNotifier hands Watch the notices a test sends it.
type fakeNotifier struct {
	c     chan notice
	ready chan struct{} // closed at the first next: Watch has taken its first look
	once  sync.Once
}

func (n *fakeNotifier) next(ctx context.Context) (notice, bool) {
	n.once.Do(func() { close(n.ready) })
	select {
	case <-ctx.Done():
		return notice{}, false
	case no := <-n.c:
		return no, true
	}
}

func (n *fakeNotifier) close() {}

// TestWatchNotices: what Watch does with each kind of notice, as kqueue
// gives them on macOS, where one kevent can carry several flags at once.
func TestWatchNotices(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kauth")
	s, err := New(dir, WithPollInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeNotifier{c: make(chan notice), ready: make(chan struct{})}
	s.events = func(string) (notifier, error) { return fake, nil }
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan kauth.Change, 16)
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, func(c kauth.Change) { got <- c }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch = %v", err)
		}
	}()
	<-fake.ready
	key := kauth.Key{Broker: kauth.KIS, Env: kauth.Mock, Fingerprint: "3f2a9c01d4e5"}
	save := func() {
		t.Helper()
		if err := other.Save(ctx, key, kauth.Entry{Token: kauth.Token{AccessToken: "t", ExpiresAt: time.Now().Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(what string, want *kauth.Change) {
		t.Helper()
		select {
		case c := <-got:
			if want == nil || c != *want {
				t.Fatalf("after %s Watch reported %+v; want %v", what, c, want)
			}
		case <-time.After(200 * time.Millisecond):
			if want != nil {
				t.Fatalf("after %s Watch reported nothing; want %+v", what, *want)
			}
		}
	}

	// The directory's mode changed, it still reads, nothing else: no report.
	save()
	fake.c <- notice{self: true, op: "ATTRIB"}
	expect("a mode change alone", nil)
	// The mode change and a write in one event: the write is not lost,
	// and the save before is reported then.
	fake.c <- notice{self: true, rescan: true, op: "WRITE|ATTRIB"}
	expect("a mode change with a write", &kauth.Change{Key: key})
	// A rescan that finds nothing new reports nothing.
	fake.c <- notice{rescan: true, op: "WRITE"}
	expect("a write that changed no entry", nil)
	// Nor does this Store's own save.
	if err := s.Save(ctx, key, kauth.Entry{Token: kauth.Token{AccessToken: "own", ExpiresAt: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	fake.c <- notice{rescan: true, op: "WRITE"}
	expect("the Store's own save", nil)
	// A delete through the other handle is.
	if err := other.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	fake.c <- notice{rescan: true, op: "WRITE"}
	expect("a delete", &kauth.Change{Key: key})
}
