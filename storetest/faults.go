package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// Faults is what RunFaults needs from a backend: two handles on one new,
// empty backing (as RunShared's open returns) and the means to break it.
// Each nil hook skips the checks that need it.
type Faults struct {
	// A and B are two handles on one backing, as two processes would
	// open them.
	A, B kauth.Store

	// Cut stops A from seeing the backing (its connections are cut, its
	// directory cannot be read) until restore is called. Calls through B
	// may fail meanwhile.
	Cut func(t *testing.T) (restore func())

	// LoseLease makes the lease l on key, held through A, lapse in the backing
	// as if A had stalled past it, so that another holder may take the
	// lock. The backend must then notice on its own.
	LoseLease func(t *testing.T, key kauth.Key, l kauth.Lease)

	// Unwritable lists ways to make the backing refuse writes.
	Unwritable []Unwritable
}

// Unwritable is one way to make a store unwritable: Break returns a handle
// on A's backing (A itself, or one with fewer rights) that cannot write
// until restore is called.
type Unwritable struct {
	Name  string // "ReadOnly", "Full", …
	Break func(t *testing.T) (s kauth.Store, restore func())
}

// RunFaults checks what the kauth.Store contract promises at the edges,
// with backings from open (called once per subtest):
//
//   - WatchResync: after A's view is cut and restored, A's Watch reports
//     Change{Resync: true} (or the very key changed through B meanwhile),
//     and goes on reporting B's changes.
//   - LeaseLost: a lease that lapsed in the backing closes Done with
//     ErrLeaseLost; its Save fails with ErrLeaseLost and writes nothing,
//     before and after the holder noticed; the next holder's fence is
//     greater, and the old holder's Unlock leaves it alone.
//   - Unwritable/<name>: Save fails with an error wrapping
//     kauth.ErrStoreUnwritable, on one line with no token; a Lock that
//     fails says so too; the old entry stays; once restored, Save works.
func RunFaults(t *testing.T, open func(t *testing.T) Faults) {
	t.Helper()
	t.Run("WatchResync", func(t *testing.T) { testWatchResync(t, open(t)) })
	t.Run("LeaseLost", func(t *testing.T) { testLeaseLost(t, open(t)) })
	probe := open(t)
	for _, u := range probe.Unwritable {
		t.Run("Unwritable/"+u.Name, func(t *testing.T) {
			f := open(t)
			for _, v := range f.Unwritable {
				if v.Name == u.Name {
					testUnwritable(t, f, v)
				}
			}
		})
	}
}

func testWatchResync(t *testing.T, f Faults) {
	w, ok := f.A.(kauth.Watcher)
	if !ok || f.Cut == nil {
		t.Skip("no Watcher, or no way to cut its view")
	}
	ctx, cancel := context.WithCancel(t.Context())
	log := newWatchLog()
	done := make(chan error, 1)
	go func() { done <- w.Watch(ctx, log.changed) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(longWait):
			t.Errorf("Watch did not return %v after its context was cancelled", longWait)
		}
	}()
	n := 0
	log.await(t, keyKISReal, "a save through the other handle", func() error {
		n++
		return f.B.Save(ctx, keyKISReal, fullEntry(n))
	})

	restore := f.Cut(t)
	// Give the Watch time to lose its view, then change an entry that it
	// cannot hear of.
	time.Sleep(shortWait)
	f.B.Save(ctx, keyKiwoomMock, fullEntry(1)) // may fail while cut
	time.Sleep(shortWait)
	restore()
	restored := time.Now()

	deadline := time.Now().Add(longWait)
	for log.resynced() == 0 && log.count(keyKiwoomMock) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Watch reported neither Resync nor the change made while its view was cut, %v after it was restored", longWait)
		}
		select {
		case <-log.ping:
		case <-time.After(shortWait):
		}
	}
	t.Logf("Watch caught up (resync or the key) %v after the view was restored", time.Since(restored).Round(time.Millisecond))
	// And it still works.
	log.await(t, keyOtherApp, "a save through the other handle after the cut", func() error {
		n++
		return f.B.Save(ctx, keyOtherApp, fullEntry(n))
	})
}

func testLeaseLost(t *testing.T, f Faults) {
	if f.LoseLease == nil {
		t.Skip("the backend's leases are lost only by Unlock")
	}
	before := fullEntry(1)
	mustSave(t, f.A, keyKISMock, before)
	l := lease(t, f.A, keyKISMock)
	f.LoseLease(t, keyKISMock, l)
	// Refused at once, even before the holder noticed.
	saveRefused(t, f.B, l, keyKISMock, before, "after the lease lapsed")

	select {
	case <-l.Done():
	case <-time.After(longWait):
		t.Fatalf("Done not closed %v after the lease lapsed", longWait)
	}
	if err := l.Err(); !errors.Is(err, kauth.ErrLeaseLost) {
		t.Errorf("Err of a lapsed lease = %v; want an error matching ErrLeaseLost", err)
	}

	next := lease(t, f.B, keyKISMock)
	defer next.Unlock()
	if next.Fence() <= l.Fence() {
		t.Errorf("the lease after a lapsed one has fence %d; want more than %d", next.Fence(), l.Fence())
	}
	saveRefused(t, f.B, l, keyKISMock, before, "while a later lease holds the key")
	if err := next.Save(t.Context(), fullEntry(2)); err != nil {
		t.Fatalf("Save by the new holder = %v", err)
	}
	l.Unlock() // must not release next
	lockTimesOut(t, f.A, keyKISMock)
}

func testUnwritable(t *testing.T, f Faults, u Unwritable) {
	before := fullEntry(1)
	mustSave(t, f.A, keyKISMock, before)
	s, restore := u.Break(t)
	restored := false
	defer func() {
		if !restored {
			restore()
		}
	}()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, kauth.ErrStoreUnwritable) {
			t.Fatalf("%s on an unwritable store = %v; want an error matching kauth.ErrStoreUnwritable", what, err)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || strings.Contains(msg, before.Token.AccessToken) {
			t.Errorf("%s error is not one line without the token: %q", what, msg)
		}
		t.Logf("%s: %v", what, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), longWait)
	defer cancel()
	check("Save", s.Save(ctx, keyKISMock, fullEntry(2)))
	if l, err := s.Lock(ctx, keyKISMock); err != nil {
		check("Lock", err)
	} else {
		check("Lease.Save", l.Save(ctx, fullEntry(3)))
		l.Unlock()
	}
	restore()
	restored = true
	// The failed writes left the old entry whole.
	mustLoad(t, f.A, keyKISMock, before)
	mustSave(t, s, keyKISMock, fullEntry(4))
	mustLoad(t, f.A, keyKISMock, fullEntry(4))
}
