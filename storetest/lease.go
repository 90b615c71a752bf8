package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/kauth/kauth"
)

// These checks hold for every store: a lease's Done and Err, its fence, and
// the refusal of a write made under a lease that is no longer the latest.

func lease(t *testing.T, s kauth.Store, k kauth.Key) kauth.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), longWait)
	defer cancel()
	l, err := s.Lock(ctx, k)
	if err != nil {
		t.Fatalf("Lock(%v) = %v", k, err)
	}
	return l
}

func isDone(l kauth.Lease) bool {
	select {
	case <-l.Done():
		return true
	default:
		return false
	}
}

func testLeaseDone(t *testing.T, s kauth.Store) {
	l := lease(t, s, keyKISMock)
	if isDone(l) {
		t.Fatal("Done is closed while the lease is held")
	}
	if err := l.Err(); err != nil {
		t.Fatalf("Err of a held lease = %v; want nil", err)
	}
	l.Unlock()
	if !isDone(l) {
		t.Fatal("Done is not closed after Unlock")
	}
	if err := l.Err(); !errors.Is(err, context.Canceled) || errors.Is(err, kauth.ErrLeaseLost) {
		t.Errorf("Err after Unlock = %v; want context.Canceled", err)
	}
}

func testLeaseFencesIncrease(t *testing.T, s kauth.Store) {
	var last uint64
	for i := range 5 {
		l := lease(t, s, keyKISMock)
		if f := l.Fence(); f <= last {
			t.Errorf("lease #%d has fence %d; want more than the previous lease's %d", i+1, f, last)
		} else {
			last = f
		}
		l.Unlock()
		// Another key's leases do not matter, but must not break the order.
		lease(t, s, keyKISReal).Unlock()
	}
}

func testLeaseSave(t *testing.T, s kauth.Store) {
	l := lease(t, s, keyKISMock)
	defer l.Unlock()
	e := fullEntry(1)
	e.Fence = 0 // Save sets it
	if err := l.Save(t.Context(), e); err != nil {
		t.Fatalf("Lease.Save = %v", err)
	}
	e.Fence = l.Fence()
	mustLoad(t, s, keyKISMock, e)
	// A second write under the same lease is no stale write.
	e2 := fullEntry(2)
	if err := l.Save(t.Context(), e2); err != nil {
		t.Fatalf("second Lease.Save = %v", err)
	}
	e2.Fence = l.Fence()
	mustLoad(t, s, keyKISMock, e2)
}

// saveRefused checks that a Save under l fails with ErrLeaseLost and that
// the entry of k is still want.
func saveRefused(t *testing.T, s kauth.Store, l kauth.Lease, k kauth.Key, want kauth.Entry, what string) {
	t.Helper()
	err := l.Save(t.Context(), fullEntry(99))
	if !errors.Is(err, kauth.ErrLeaseLost) {
		t.Fatalf("Lease.Save %s = %v; want an error matching kauth.ErrLeaseLost", what, err)
	}
	mustLoad(t, s, k, want)
}

func testReleasedLeaseSaveRefused(t *testing.T, s kauth.Store) {
	l := lease(t, s, keyKISMock)
	if err := l.Save(t.Context(), fullEntry(1)); err != nil {
		t.Fatal(err)
	}
	want := fullEntry(1)
	want.Fence = l.Fence()
	l.Unlock()
	saveRefused(t, s, l, keyKISMock, want, "after Unlock")

	// Nor once another lease holds the key.
	l2 := lease(t, s, keyKISMock)
	defer l2.Unlock()
	saveRefused(t, s, l, keyKISMock, want, "after Unlock, while a later lease holds the key")
}

func testStaleWriteRefused(t *testing.T, s kauth.Store) {
	l := lease(t, s, keyKISMock)
	// The stored entry was written under a later lease than l (as after l
	// lapsed and another holder wrote): l must not overwrite it.
	later := fullEntry(1)
	later.Fence = l.Fence() + 100
	mustSave(t, s, keyKISMock, later)
	saveRefused(t, s, l, keyKISMock, later, "when the stored entry has a greater fence")
	l.Unlock()

	// The next lease is later than the stored entry and may write.
	l2 := lease(t, s, keyKISMock)
	defer l2.Unlock()
	if l2.Fence() <= later.Fence {
		t.Fatalf("the lease after an entry with fence %d has fence %d; want more", later.Fence, l2.Fence())
	}
	if err := l2.Save(t.Context(), fullEntry(2)); err != nil {
		t.Fatalf("Lease.Save by the latest lease = %v", err)
	}
}

func testSharedFences(t *testing.T, a, b kauth.Store) {
	var last uint64
	for i := range 6 {
		s := a
		if i%2 == 1 {
			s = b
		}
		l := lease(t, s, keyKISMock)
		if f := l.Fence(); f <= last {
			t.Errorf("lease #%d (handle %d) has fence %d; want more than the previous lease's %d", i+1, i%2, f, last)
		} else {
			last = f
		}
		// The other handle's latest lease wrote last: this one may write.
		if err := l.Save(t.Context(), fullEntry(i)); err != nil {
			t.Errorf("Lease.Save of lease #%d = %v", i+1, err)
		}
		l.Unlock()
	}
}
