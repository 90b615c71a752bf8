package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testlog"
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

// deafNotifier starts fine and never tells of anything, like file events
// on a file system that does not deliver them.
type deafNotifier struct{ closed chan struct{} }

func (n *deafNotifier) next(ctx context.Context) (notice, bool) {
	<-ctx.Done()
	return notice{}, false
}

func (n *deafNotifier) close() { close(n.closed) }

// TestWatchDeafNotifierPolls: file events that can be set up but deliver
// nothing are found out by the probe, logged once, and Watch polls, so
// that another handle's save is still reported.
func TestWatchDeafNotifierPolls(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kauth")
	var logs testlog.Buffer
	s, err := New(dir, WithPollInterval(20*time.Millisecond), WithLogger(logs.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	if s.proveWait != 2*time.Second {
		t.Errorf("proveWait = %v; want 2s", s.proveWait)
	}
	s.proveWait = 50 * time.Millisecond
	other, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	deaf := &deafNotifier{closed: make(chan struct{})}
	s.events = func(string) (notifier, error) { return deaf, nil }
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
	key := kauth.Key{Broker: kauth.KIS, Env: kauth.Mock, Fingerprint: "3f2a9c01d4e5"}
	// Saved while the probe may still be waiting, and again after.
	for i := range 2 {
		if err := other.Save(ctx, key, kauth.Entry{Token: kauth.Token{AccessToken: fmt.Sprint("t", i), ExpiresAt: time.Now().Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-got:
			if c != (kauth.Change{Key: key}) {
				t.Fatalf("Watch reported %+v; want %v", c, key)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("save %d: Watch over file events that deliver nothing did not report another handle's save in 5 s", i)
		}
		time.Sleep(100 * time.Millisecond) // past the probe's wait
	}
	select {
	case <-deaf.closed:
	case <-time.After(5 * time.Second):
		t.Error("the deaf notifier was not closed")
	}
	warns := logs.Warnings()
	if len(warns) != 1 || !strings.Contains(warns[0], "file events are not delivered for the cache dir; polling it") ||
		!strings.Contains(warns[0], dir) {
		t.Errorf("warnings = %q; want the one that file events are not delivered, naming %s", warns, dir)
	}
	assertNoProbe(t, dir)
}

// TestWatchCancelledWhileProving: a Watch ended while it waits to hear of
// its probe returns, logs nothing, and leaves no probe file.
func TestWatchCancelledWhileProving(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kauth")
	var logs testlog.Buffer
	s, err := New(dir, WithPollInterval(time.Hour), WithLogger(logs.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	s.proveWait = time.Hour
	waiting := make(chan struct{})
	deaf := &deafNotifier{closed: make(chan struct{})}
	s.events = func(string) (notifier, error) { return waitingNotifier{deaf, waiting}, nil }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, func(c kauth.Change) { t.Errorf("Watch reported %+v", c) }) }()
	<-waiting
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return in 5 s after its ctx was cancelled while proving")
	}
	if s := logs.String(); s != "" {
		t.Errorf("logged %s", s)
	}
	assertNoProbe(t, dir)
}

// waitingNotifier closes waiting when Watch first waits for a notice.
type waitingNotifier struct {
	*deafNotifier
	waiting chan struct{}
}

func (n waitingNotifier) next(ctx context.Context) (notice, bool) {
	close(n.waiting)
	return n.deafNotifier.next(ctx)
}

// assertNoProbe fails if a probe file is left in dir.
func assertNoProbe(t *testing.T, dir string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), probePrefix) {
			t.Errorf("probe file %s left behind", de.Name())
		}
	}
}
