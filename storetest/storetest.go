// Package storetest checks implementations of kauth.Store against the
// contract documented in the kauth package, in the manner of testing/fstest.
//
// A backend's tests call Run with a constructor of empty stores, and
// RunShared with a function that opens two handles on one empty backing
// (two processes' view of one directory or one Redis database):
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) kauth.Store { return newEmptyStore(t) })
//	}
//
// Run also checks every store's leases: Done and Err, fences that strictly
// increase, a Save under a released lease or over a later lease's entry
// refused with kauth.ErrLeaseLost. What only the backend can cause — a cut
// connection, a lapsed lease, a read-only or full disk — it hands to
// RunFaults as hooks (see Faults), which checks Resync after the cut, the
// loss of the lease, and kauth.ErrStoreUnwritable.
//
// What only separate processes can show, a backend's own tests prove with
// StartChild, AwaitLine and RunProcesses, counting with Increment and Count.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
	// The entries below are of registered brokers: their issuance spacing
	// decides how long a store keeps an entry.
	_ "github.com/kauth/kauth/brokers"
)

// Timing used by the lock and watch checks. Generous bounds keep the suite
// reliable on a loaded machine; the happy paths finish far sooner.
const (
	shortWait = 100 * time.Millisecond // how long a blocked Lock is given to (wrongly) succeed
	longWait  = 10 * time.Second       // upper bound for things that must happen
)

// Keys used by the suite. They differ in one field at a time.
var (
	keyKISMock    = kauth.Key{Broker: kauth.KIS, Env: kauth.Mock, Fingerprint: "0123456789ab"}
	keyKISReal    = kauth.Key{Broker: kauth.KIS, Env: kauth.Real, Fingerprint: "0123456789ab"}
	keyKiwoomMock = kauth.Key{Broker: kauth.Kiwoom, Env: kauth.Mock, Fingerprint: "0123456789ab"}
	keyOtherApp   = kauth.Key{Broker: kauth.KIS, Env: kauth.Mock, Fingerprint: "ba9876543210"}
)

// Run checks the stores that newStore returns against the kauth.Store
// contract, in subtests. newStore is called once per subtest and must return
// a new, empty store; it should register any cleanup with t.Cleanup.
//
// Besides Load, Save, Delete and Lock, Run checks every lease's Done and
// Err, that fences strictly increase (past a stored entry's too), and that
// Lease.Save refuses with kauth.ErrLeaseLost, writing nothing, under a
// released lease or over an entry that a later lease wrote. It checks List
// when the store implements kauth.Lister, LoadBatch (each key's result
// that of Load, in order) when it implements kauth.BatchLoader, and that
// Watch returns once its context is done when the store implements
// kauth.Watcher. Run the suite
// under -race.
func Run(t *testing.T, newStore func(t *testing.T) kauth.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s kauth.Store)
	}{
		{"LoadMissing", testLoadMissing},
		{"RoundTrip", testRoundTrip},
		{"Overwrite", testOverwrite},
		{"KeysSeparate", testKeysSeparate},
		{"Delete", testDelete},
		{"LockExcludes", testLockExcludes},
		{"LockHonorsContext", testLockHonorsContext},
		{"LockPerKey", testLockPerKey},
		{"UnlockIdempotent", testUnlockIdempotent},
		{"Concurrent", testConcurrent},
		{"List", testList},
		{"LoadBatch", testLoadBatch},
		{"WatchStops", testWatchStops},
		{"LeaseDone", testLeaseDone},
		{"LeaseFencesIncrease", testLeaseFencesIncrease},
		{"LeaseSave", testLeaseSave},
		{"ReleasedLeaseSaveRefused", testReleasedLeaseSaveRefused},
		{"StaleWriteRefused", testStaleWriteRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

// RunShared runs Run, with stores from open, and then checks what two
// handles on one backing must agree on: a change through one is seen by the
// other, the lock held through one excludes the other, and, when the stores
// implement kauth.Watcher, a change made through b is reported to a's Watch
// while a's own changes are not.
//
// open is called once per subtest and must return two distinct handles
// (as two processes would open them) on one new, empty backing. A Watcher's
// polling interval, if it has one, should be short (tens of milliseconds),
// since the suite waits for changes to be noticed.
func RunShared(t *testing.T, open func(t *testing.T) (a, b kauth.Store)) {
	t.Helper()
	Run(t, func(t *testing.T) kauth.Store {
		a, _ := open(t)
		return a
	})
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b kauth.Store)
	}{
		{"SharedVisibility", testSharedVisibility},
		{"SharedLock", testSharedLock},
		{"SharedCounter", testSharedCounter},
		{"SharedWatch", testSharedWatch},
		{"SharedFences", testSharedFences},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open(t)
			tt.fn(t, a, b)
		})
	}
}

// epoch is the time the suite's entries are built from. It carries a
// monotonic reading, as time.Now does.
var epoch = time.Now()

// fullEntry returns an entry with every field set, with times that carry a
// monotonic reading, nanoseconds and a non-UTC zone, to catch stores that
// lose any of them.
func fullEntry(n int) kauth.Entry {
	kst := epoch.In(kauth.KST) // no monotonic reading, a zone other than UTC
	return kauth.Entry{
		Token: kauth.Token{
			// Long enough to resemble a JWT, distinct per n.
			AccessToken: fmt.Sprintf("eyJ0eXAiOiJKV1Qi.%d.%s", n, strings.Repeat("x", 400)),
			Type:        "Bearer",
			IssuedAt:    kst.Add(-time.Duration(n) * time.Minute),
			ExpiresAt:   kst.Add(24*time.Hour + 123456789*time.Nanosecond),
		},
		// Add keeps epoch's monotonic reading.
		LastIssue: epoch.Add(-time.Duration(n)*time.Minute - 1500*time.Millisecond),
		Rejected:  fmt.Sprintf("rejected%d", n),
		Revoking:  fmt.Sprintf("revoking%d", n),
		RetryAt:   epoch.Add(time.Duration(n)*time.Second + 250*time.Millisecond),
		Fence:     uint64(n),
		History:   fullHistory(n, kst),
	}
}

// fullHistory returns an issuance history with every field set and every
// event slot used.
func fullHistory(n int, at time.Time) kauth.History {
	h := kauth.History{Day: at.Format(time.DateOnly), Issued: n + 3, Same: n + 1, Failed: n + 2}
	for i := range h.Events {
		h.Events[i] = kauth.IssueRecord{At: at.Add(time.Duration(i) * time.Minute), Outcome: kauth.OutcomeFailed, Host: fmt.Sprintf("host%d", n), PID: 100 + i, Code: "EGW00133"}
	}
	h.LastFailure = h.Events[kauth.HistoryEvents-2]
	h.LastIssue = kauth.IssueRecord{At: at.Add(time.Hour), Outcome: kauth.OutcomeIssued, Host: fmt.Sprintf("host%d", n), PID: 99, Turnover: true}
	h.Events[kauth.HistoryEvents-1] = h.LastIssue
	return h
}

// sameHistory reports whether a and b record the same, times compared
// with Equal.
func sameHistory(a, b kauth.History) bool {
	same := func(x, y kauth.IssueRecord) bool {
		return x.At.Equal(y.At) && x.At.IsZero() == y.At.IsZero() && x.Outcome == y.Outcome && x.Host == y.Host && x.PID == y.PID && x.Code == y.Code && x.Turnover == y.Turnover
	}
	if a.Day != b.Day || a.Issued != b.Issued || a.Same != b.Same || a.Failed != b.Failed || !same(a.LastIssue, b.LastIssue) || !same(a.LastFailure, b.LastFailure) {
		return false
	}
	for i := range a.Events {
		if !same(a.Events[i], b.Events[i]) {
			return false
		}
	}
	return true
}

// sameEntry reports how got differs from want, or "" if it does not.
// Times compare with Equal: a store may drop the monotonic reading and the
// zone, but not the instant.
func sameEntry(got, want kauth.Entry) string {
	var diffs []string
	if got.Token.AccessToken != want.Token.AccessToken {
		// Never print tokens, even fake ones: print lengths and fingerprints.
		diffs = append(diffs, fmt.Sprintf("Token.AccessToken = %s (len %d); want %s (len %d)",
			got.Token.Fingerprint(), len(got.Token.AccessToken), want.Token.Fingerprint(), len(want.Token.AccessToken)))
	}
	if got.Token.Type != want.Token.Type {
		diffs = append(diffs, fmt.Sprintf("Token.Type = %q; want %q", got.Token.Type, want.Token.Type))
	}
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{
		{"Token.IssuedAt", got.Token.IssuedAt, want.Token.IssuedAt},
		{"Token.ExpiresAt", got.Token.ExpiresAt, want.Token.ExpiresAt},
		{"LastIssue", got.LastIssue, want.LastIssue},
		{"RetryAt", got.RetryAt, want.RetryAt},
	} {
		if !f.got.Equal(f.want) || f.got.IsZero() != f.want.IsZero() {
			diffs = append(diffs, fmt.Sprintf("%s = %v; want %v", f.name, f.got, f.want))
		}
	}
	if got.Rejected != want.Rejected {
		diffs = append(diffs, fmt.Sprintf("Rejected = %q; want %q", got.Rejected, want.Rejected))
	}
	if got.Revoking != want.Revoking {
		diffs = append(diffs, fmt.Sprintf("Revoking = %q; want %q", got.Revoking, want.Revoking))
	}
	if got.Fence != want.Fence {
		diffs = append(diffs, fmt.Sprintf("Fence = %d; want %d", got.Fence, want.Fence))
	}
	if !sameHistory(got.History, want.History) {
		diffs = append(diffs, fmt.Sprintf("History = %+v; want %+v", got.History, want.History))
	}
	return strings.Join(diffs, "; ")
}

func mustSave(t *testing.T, s kauth.Store, k kauth.Key, e kauth.Entry) {
	t.Helper()
	if err := s.Save(t.Context(), k, e); err != nil {
		t.Fatalf("Save(%v) = %v", k, err)
	}
}

func mustLoad(t *testing.T, s kauth.Store, k kauth.Key, want kauth.Entry) {
	t.Helper()
	got, err := s.Load(t.Context(), k)
	if err != nil {
		t.Fatalf("Load(%v) = %v; want an entry", k, err)
	}
	if d := sameEntry(got, want); d != "" {
		t.Errorf("Load(%v): %s", k, d)
	}
}

func mustNotFound(t *testing.T, s kauth.Store, k kauth.Key) {
	t.Helper()
	if _, err := s.Load(t.Context(), k); !errors.Is(err, kauth.ErrNotFound) {
		t.Fatalf("Load(%v) error = %v; want kauth.ErrNotFound", k, err)
	}
}

func mustLock(t *testing.T, s kauth.Store, k kauth.Key) func() {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), longWait)
	defer cancel()
	unlock, err := s.Lock(ctx, k)
	if err != nil {
		t.Fatalf("Lock(%v) = %v", k, err)
	}
	return unlock.Unlock
}

// lockTimesOut checks that Lock(k) with a short context fails with the
// context's error, that is, that someone holds the lock.
func lockTimesOut(t *testing.T, s kauth.Store, k kauth.Key) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), shortWait)
	defer cancel()
	start := time.Now()
	unlock, err := s.Lock(ctx, k)
	if err == nil {
		unlock.Unlock()
		t.Fatalf("Lock(%v) succeeded while the lock was held", k)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock(%v) with an expiring context = %v; want an error matching context.DeadlineExceeded", k, err)
	}
	if d := time.Since(start); d > shortWait+2*time.Second {
		t.Errorf("Lock(%v) returned %v after its context expired; want promptly", k, d-shortWait)
	}
}

func testLoadMissing(t *testing.T, s kauth.Store) {
	mustNotFound(t, s, keyKISMock)
}

func testRoundTrip(t *testing.T, s kauth.Store) {
	tests := []struct {
		name string
		e    kauth.Entry
	}{
		{"Full", fullEntry(1)},
		{"Zero", kauth.Entry{}},
		{"LastIssueOnly", kauth.Entry{LastIssue: epoch}},
		{"RejectedOnly", kauth.Entry{Rejected: "deadbeef0123"}},
		{"RevokingOnly", kauth.Entry{Revoking: "deadbeef4567"}},
		{"UTC", kauth.Entry{Token: kauth.Token{
			AccessToken: "t", Type: "Bearer",
			IssuedAt:  time.Date(2025, 3, 1, 0, 0, 0, 1, time.UTC),
			ExpiresAt: time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC),
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustSave(t, s, keyKISMock, tt.e)
			mustLoad(t, s, keyKISMock, tt.e)
		})
	}
}

func testOverwrite(t *testing.T, s kauth.Store) {
	mustSave(t, s, keyKISMock, fullEntry(1))
	mustSave(t, s, keyKISMock, fullEntry(2))
	mustLoad(t, s, keyKISMock, fullEntry(2))
	// A save that clears fields clears them.
	mustSave(t, s, keyKISMock, kauth.Entry{Rejected: "x"})
	mustLoad(t, s, keyKISMock, kauth.Entry{Rejected: "x"})
}

func testKeysSeparate(t *testing.T, s kauth.Store) {
	keys := []kauth.Key{keyKISMock, keyKISReal, keyKiwoomMock, keyOtherApp}
	for i, k := range keys {
		mustSave(t, s, k, fullEntry(i))
	}
	for i, k := range keys {
		mustLoad(t, s, k, fullEntry(i))
	}
	if err := s.Delete(t.Context(), keyKISMock); err != nil {
		t.Fatalf("Delete(%v) = %v", keyKISMock, err)
	}
	mustNotFound(t, s, keyKISMock)
	for i, k := range keys[1:] {
		mustLoad(t, s, k, fullEntry(i+1))
	}
}

func testDelete(t *testing.T, s kauth.Store) {
	if err := s.Delete(t.Context(), keyKISMock); err != nil {
		t.Fatalf("Delete(%v) of a missing entry = %v; want nil", keyKISMock, err)
	}
	mustSave(t, s, keyKISMock, fullEntry(1))
	if err := s.Delete(t.Context(), keyKISMock); err != nil {
		t.Fatalf("Delete(%v) = %v", keyKISMock, err)
	}
	mustNotFound(t, s, keyKISMock)
	// The key is usable again afterwards.
	mustSave(t, s, keyKISMock, fullEntry(2))
	mustLoad(t, s, keyKISMock, fullEntry(2))
}

func testLockExcludes(t *testing.T, s kauth.Store) {
	unlock := mustLock(t, s, keyKISMock)
	var released atomic.Bool
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), longWait)
		defer cancel()
		u, err := s.Lock(ctx, keyKISMock)
		if err == nil {
			if !released.Load() {
				err = errors.New("second Lock succeeded before the first was unlocked")
			}
			u.Unlock()
		}
		got <- err
	}()
	time.Sleep(shortWait)
	released.Store(true)
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("second Lock(%v): %v", keyKISMock, err)
		}
	case <-time.After(longWait + time.Second):
		t.Fatalf("second Lock(%v) still blocked %v after unlock", keyKISMock, longWait)
	}
}

func testLockHonorsContext(t *testing.T, s kauth.Store) {
	unlock := mustLock(t, s, keyKISMock)
	defer unlock()
	lockTimesOut(t, s, keyKISMock)

	// A cancelled context too.
	ctx, cancel := context.WithCancel(t.Context())
	go func() { time.Sleep(shortWait / 2); cancel() }()
	if u, err := s.Lock(ctx, keyKISMock); err == nil {
		u.Unlock()
		t.Fatalf("Lock(%v) succeeded while the lock was held", keyKISMock)
	} else if !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock(%v) with a cancelled context = %v; want an error matching context.Canceled", keyKISMock, err)
	}
}

func testLockPerKey(t *testing.T, s kauth.Store) {
	unlock := mustLock(t, s, keyKISMock)
	defer unlock()
	// Every key that differs in one field has a lock of its own.
	for _, k := range []kauth.Key{keyKISReal, keyKiwoomMock, keyOtherApp} {
		mustLock(t, s, k)()
	}
}

func testUnlockIdempotent(t *testing.T, s kauth.Store) {
	first := mustLock(t, s, keyKISMock)
	first()
	first() // must not panic

	second := mustLock(t, s, keyKISMock)
	defer second()
	// A stale unlock must not release a later holder's lock.
	first()
	lockTimesOut(t, s, keyKISMock)
}

// counter is an entry that counts in its Rejected field.
func counter(e kauth.Entry) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(e.Rejected, "count"))
	return n
}

// increment adds one to the counter of k under its lock: the
// read-check-write critical section that a Manager runs.
func increment(ctx context.Context, s kauth.Store, k kauth.Key) error {
	unlock, err := s.Lock(ctx, k)
	if err != nil {
		return fmt.Errorf("Lock: %w", err)
	}
	defer unlock.Unlock()
	e, err := s.Load(ctx, k)
	if err != nil && !errors.Is(err, kauth.ErrNotFound) {
		return fmt.Errorf("Load: %w", err)
	}
	e.Rejected = "count" + strconv.Itoa(counter(e)+1)
	e.LastIssue = time.Now()
	if err := s.Save(ctx, k, e); err != nil {
		return fmt.Errorf("Save: %w", err)
	}
	return nil
}

// Increment adds one to a counter kept in the entry of k, under k's lock,
// as one Lock → Load → Save → unlock critical section. Count returns the
// counter. Together they let a backend's own multi-process tests prove that
// its lock excludes other processes: N processes that each Increment M
// times must leave Count = N×M.
func Increment(ctx context.Context, s kauth.Store, k kauth.Key) error {
	return increment(ctx, s, k)
}

// Count returns the counter that Increment keeps in the entry of k, 0 if
// there is none.
func Count(ctx context.Context, s kauth.Store, k kauth.Key) (int, error) {
	e, err := s.Load(ctx, k)
	if errors.Is(err, kauth.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return counter(e), nil
}

// concurrency is how many goroutines (or handles) contend in the
// concurrent checks, and rounds how many increments each makes.
const (
	concurrency = 8
	rounds      = 10
)

func testConcurrent(t *testing.T, s kauth.Store) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*longWait)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2*concurrency*rounds)
	for range concurrency {
		wg.Go(func() {
			for range rounds {
				if err := increment(ctx, s, keyKISMock); err != nil {
					errs <- err
					return
				}
			}
		})
		// Unlocked readers and writers of another key, for the race detector.
		wg.Go(func() {
			for i := range rounds {
				if err := s.Save(ctx, keyOtherApp, fullEntry(i)); err != nil {
					errs <- fmt.Errorf("Save: %w", err)
					return
				}
				if _, err := s.Load(ctx, keyOtherApp); err != nil {
					errs <- fmt.Errorf("Load: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent use: %v", err)
	}
	n, err := Count(ctx, s, keyKISMock)
	if err != nil {
		t.Fatal(err)
	}
	if want := concurrency * rounds; n != want {
		t.Errorf("after %d locked increments the counter is %d; the lock did not exclude", want, n)
	}
}

// testLoadBatch checks that LoadBatch answers each key as Load does, in
// the order asked: entries whole, kauth.ErrNotFound for a missing one, a
// key asked twice answered twice, and nothing for no keys.
func testLoadBatch(t *testing.T, s kauth.Store) {
	b, ok := s.(kauth.BatchLoader)
	if !ok {
		t.Skipf("%T does not implement kauth.BatchLoader", s)
	}
	if entries, errs := b.LoadBatch(t.Context(), nil); len(entries) != 0 || len(errs) != 0 {
		t.Errorf("LoadBatch(no keys) = %d entries, %d errors; want none", len(entries), len(errs))
	}
	saved := map[kauth.Key]kauth.Entry{keyKISMock: fullEntry(1), keyKiwoomMock: fullEntry(2), keyOtherApp: fullEntry(3)}
	for k, e := range saved {
		mustSave(t, s, k, e)
	}
	keys := []kauth.Key{keyKISMock, keyKISReal, keyKiwoomMock, keyKISMock, keyOtherApp}
	entries, errs := b.LoadBatch(t.Context(), keys)
	if len(entries) != len(keys) || len(errs) != len(keys) {
		t.Fatalf("LoadBatch(%d keys) = %d entries, %d errors; want %d of each", len(keys), len(entries), len(errs), len(keys))
	}
	for i, k := range keys {
		want, ok := saved[k]
		switch {
		case !ok:
			if !errors.Is(errs[i], kauth.ErrNotFound) {
				t.Errorf("LoadBatch: key %d (%v, never saved): error %v; want kauth.ErrNotFound", i, k, errs[i])
			}
		case errs[i] != nil:
			t.Errorf("LoadBatch: key %d (%v): error %v; want its entry", i, k, errs[i])
		default:
			if d := sameEntry(entries[i], want); d != "" {
				t.Errorf("LoadBatch: key %d (%v): %s", i, k, d)
			}
			mustLoad(t, s, k, entries[i])
		}
	}
}

func testList(t *testing.T, s kauth.Store) {
	l, ok := s.(kauth.Lister)
	if !ok {
		t.Skipf("%T does not implement kauth.Lister", s)
	}
	list := func() []kauth.Key {
		t.Helper()
		keys, err := l.List(t.Context())
		if err != nil {
			t.Fatalf("List = %v", err)
		}
		slices.SortFunc(keys, func(a, b kauth.Key) int { return strings.Compare(a.String(), b.String()) })
		return keys
	}
	if keys := list(); len(keys) != 0 {
		t.Fatalf("List of an empty store = %v; want none", keys)
	}
	keys := []kauth.Key{keyKISMock, keyKISReal, keyKiwoomMock, keyOtherApp}
	for i, k := range keys {
		mustSave(t, s, k, fullEntry(i))
	}
	// Locking a key without saving it does not make an entry.
	mustLock(t, s, kauth.Key{Broker: kauth.KIS, Env: kauth.Real, Fingerprint: "000000000000"})()
	if err := s.Delete(t.Context(), keyKISReal); err != nil {
		t.Fatal(err)
	}
	want := []kauth.Key{keyKISMock, keyOtherApp, keyKiwoomMock}
	slices.SortFunc(want, func(a, b kauth.Key) int { return strings.Compare(a.String(), b.String()) })
	if got := list(); !slices.Equal(got, want) {
		t.Errorf("List = %v; want %v", got, want)
	}
}

func testWatchStops(t *testing.T, s kauth.Store) {
	w, ok := s.(kauth.Watcher)
	if !ok {
		t.Skipf("%T does not implement kauth.Watcher", s)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Watch(ctx, func(kauth.Change) {}) }()
	time.Sleep(shortWait)
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Watch after its context was cancelled = %v; want nil or context.Canceled", err)
		}
	case <-time.After(longWait):
		t.Fatalf("Watch did not return %v after its context was cancelled", longWait)
	}
}

func testSharedVisibility(t *testing.T, a, b kauth.Store) {
	mustSave(t, a, keyKISMock, fullEntry(1))
	mustLoad(t, b, keyKISMock, fullEntry(1))
	mustSave(t, b, keyKISMock, fullEntry(2))
	mustLoad(t, a, keyKISMock, fullEntry(2))
	if err := b.Delete(t.Context(), keyKISMock); err != nil {
		t.Fatal(err)
	}
	mustNotFound(t, a, keyKISMock)
}

func testSharedLock(t *testing.T, a, b kauth.Store) {
	unlock := mustLock(t, a, keyKISMock)
	lockTimesOut(t, b, keyKISMock)
	mustLock(t, b, keyKISReal)() // other keys stay free
	unlock()
	mustLock(t, b, keyKISMock)()
}

func testSharedCounter(t *testing.T, a, b kauth.Store) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*longWait)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, concurrency)
	for i := range concurrency {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range rounds {
				if err := increment(ctx, s, keyKISMock); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent use of two handles: %v", err)
	}
	n, err := Count(ctx, a, keyKISMock)
	if err != nil {
		t.Fatal(err)
	}
	if want := concurrency * rounds; n != want {
		t.Errorf("after %d locked increments through two handles the counter is %d; the lock did not exclude", want, n)
	}
}

// watchLog records the keys a Watch reported.
type watchLog struct {
	mu      sync.Mutex
	seen    map[kauth.Key]int
	resyncs int
	ping    chan struct{}
}

func newWatchLog() *watchLog {
	return &watchLog{seen: make(map[kauth.Key]int), ping: make(chan struct{}, 1)}
}

func (l *watchLog) resynced() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.resyncs
}

func (l *watchLog) changed(c kauth.Change) {
	k := c.Key
	l.mu.Lock()
	if c.Resync {
		l.resyncs++
	} else {
		l.seen[k]++
	}
	l.mu.Unlock()
	select {
	case l.ping <- struct{}{}:
	default:
	}
}

func (l *watchLog) count(k kauth.Key) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen[k]
}

// await repeats change until the Watch reports k: the first rounds may
// come before the Watch has started listening.
func (l *watchLog) await(t *testing.T, k kauth.Key, what string, change func() error) {
	t.Helper()
	deadline := time.Now().Add(longWait)
	for l.count(k) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Watch did not report %s of %v within %v", what, k, longWait)
		}
		if err := change(); err != nil {
			t.Fatalf("%s of %v: %v", what, k, err)
		}
		select {
		case <-l.ping:
		case <-time.After(shortWait):
		}
	}
}

func testSharedWatch(t *testing.T, a, b kauth.Store) {
	w, ok := a.(kauth.Watcher)
	if !ok {
		t.Skipf("%T does not implement kauth.Watcher", a)
	}
	ctx, cancel := context.WithCancel(t.Context())
	log := newWatchLog()
	done := make(chan error, 1)
	go func() { done <- w.Watch(ctx, log.changed) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Watch = %v", err)
			}
		case <-time.After(longWait):
			t.Errorf("Watch did not return %v after its context was cancelled", longWait)
		}
	}()

	// A save through b is reported to a. This also waits until the Watch
	// is listening.
	n := 0
	log.await(t, keyKISReal, "a save through the other handle", func() error {
		n++
		return b.Save(ctx, keyKISReal, fullEntry(n))
	})

	// a's own change is not reported to a, b's next one is. The change
	// through b comes second, so once it is reported, a's would have been.
	mustSave(t, a, keyKISMock, fullEntry(1))
	log.await(t, keyKiwoomMock, "a save through the other handle", func() error {
		n++
		return b.Save(ctx, keyKiwoomMock, fullEntry(n))
	})
	if c := log.count(keyKISMock); c != 0 {
		t.Errorf("Watch reported a save made through its own handle (%d times); want only other handles' changes", c)
	}

	// A delete through b is reported too.
	mustSave(t, b, keyOtherApp, fullEntry(1))
	log.await(t, keyOtherApp, "a save through the other handle", func() error { return nil })
	before := log.count(keyOtherApp)
	if err := b.Delete(ctx, keyOtherApp); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(longWait)
	for log.count(keyOtherApp) == before {
		if time.Now().After(deadline) {
			t.Fatalf("Watch did not report a delete through the other handle of %v within %v", keyOtherApp, longWait)
		}
		select {
		case <-log.ping:
		case <-time.After(shortWait):
		}
	}
}
