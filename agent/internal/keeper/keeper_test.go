package keeper_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth/agent/internal/keeper"
	"github.com/kauth/kauth/internal/fakeclock"
	"github.com/kauth/kauth/internal/testlog"
)

// script answers the keeper's looks from a list of errors, the last one
// repeated, and counts them.
type script struct {
	mu    sync.Mutex
	errs  []error
	looks int
}

func (s *script) token(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.looks++
	err := s.errs[0]
	if len(s.errs) > 1 {
		s.errs = s.errs[1:]
	}
	return err
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.looks
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestKeeperLooksAtStartAndEveryInterval: the first look is at once, the
// next ones one interval apart on the keeper's clock, and none after Stop.
func TestKeeperLooksAtStartAndEveryInterval(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s := &script{errs: []error{nil}}
	k := keeper.Start(keeper.Config{Account: "a", Token: s.token, Clock: clock, Every: time.Minute})
	eventually(t, "the first look is done and the keeper sleeps", func() bool { return s.count() == 1 && clock.Sleepers() == 1 })
	clock.Advance(59 * time.Second)
	if n := s.count(); n != 1 {
		t.Fatalf("looks before the interval = %d; want 1", n)
	}
	clock.Advance(time.Second)
	eventually(t, "the second look is done", func() bool { return s.count() == 2 && clock.Sleepers() == 1 })
	k.Stop()
	if n := clock.Sleepers(); n != 0 {
		t.Errorf("sleepers after Stop = %d; want 0", n)
	}
	clock.Advance(time.Hour)
	if n := s.count(); n != 2 {
		t.Errorf("looks after Stop = %d; want 2", n)
	}
	k.Stop() // a second Stop returns at once
	var none *keeper.Keeper
	none.Stop()
}

// TestKeeperLogsAFailureOnce: a failure that repeats is told once, with its
// kind and the retry interval, a new failure again, and the first success
// after them once.
func TestKeeperLogsAFailureOnce(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	down := errors.New("broker down")
	other := errors.New("bad secret")
	s := &script{errs: []error{down, down, down, other, nil, nil}}
	var logs testlog.Buffer
	k := keeper.Start(keeper.Config{Account: "kis-mock", Token: s.token, Clock: clock, Every: time.Minute,
		Kind: func(err error) string { return "kind-of-" + err.Error()[:3] }, Log: logs.Logger()})
	defer k.Stop()
	for look := 1; look <= 6; look++ {
		eventually(t, "the look is done and the keeper sleeps", func() bool { return s.count() == look && clock.Sleepers() == 1 })
		clock.Advance(time.Minute)
	}
	w := logs.Warnings()
	if len(w) != 2 ||
		!strings.Contains(w[0], `msg="agent: keeper could not get a token; will retry" account=kis-mock kind=kind-of-bro retry_in=1m0s err="broker down"`) ||
		!strings.Contains(w[1], `kind=kind-of-bad`) {
		t.Errorf("warnings = %q; want one per distinct failure", w)
	}
	if n := strings.Count(logs.String(), `msg="agent: keeper got a token again" account=kis-mock`); n != 1 {
		t.Errorf("the recovery was logged %d times; want once:\n%s", n, logs.String())
	}
}

// TestKeeperCancelsALookOnStop: Stop does not wait for a look that hangs;
// it cancels it.
func TestKeeperCancelsALookOnStop(t *testing.T) {
	started := make(chan struct{})
	k := keeper.Start(keeper.Config{Account: "a", Every: time.Minute, Token: func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}})
	<-started
	stopped := make(chan struct{})
	go func() { k.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop waited for a look that only its cancellation ends")
	}
}

// TestFirstLooksShareAGate: keepers started together (an agent's accounts
// at start-up) take their first looks at most cap(Gate) at a time, so that
// thousands of first issuances do not all wait on the store and the broker
// at once (each waited behind all the others); every keeper still gets its
// look, and a later look is not gated. A keeper stopped while it waits for
// the gate returns at once.
func TestFirstLooksShareAGate(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	gate := make(chan struct{}, 2)
	var mu sync.Mutex
	running, peak, done := 0, 0, 0
	release := make(chan struct{})
	look := func(ctx context.Context) error {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		<-release
		mu.Lock()
		running--
		done++
		mu.Unlock()
		return nil
	}
	const n = 10
	var ks []*keeper.Keeper
	for i := range n {
		ks = append(ks, keeper.Start(keeper.Config{Account: fmt.Sprint("a", i), Token: look, Clock: clock, Every: time.Minute, Gate: gate}))
	}
	eventually(t, "two first looks run", func() bool { mu.Lock(); defer mu.Unlock(); return running == 2 })
	time.Sleep(20 * time.Millisecond) // room for more to start, if they could
	close(release)
	eventually(t, "every first look is done", func() bool { mu.Lock(); defer mu.Unlock(); return done == n })
	mu.Lock()
	if peak > 2 {
		t.Errorf("%d first looks ran at once; want at most 2", peak)
	}
	mu.Unlock()
	// The gate is free again and a later look does not take it.
	gate <- struct{}{}
	gate <- struct{}{}
	eventually(t, "every keeper sleeps", func() bool { return clock.Sleepers() == n })
	clock.Advance(time.Minute)
	eventually(t, "every second look is done", func() bool { mu.Lock(); defer mu.Unlock(); return done == 2*n })
	for _, k := range ks {
		k.Stop()
	}
	// Stopped while waiting for the gate.
	k := keeper.Start(keeper.Config{Account: "late", Token: look, Clock: clock, Every: time.Minute, Gate: gate})
	stopped := make(chan struct{})
	go func() { k.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop of a keeper waiting for the gate did not return")
	}
}
