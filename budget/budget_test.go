package budget_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/budget"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/internal/testredis"
)

func newShared(t *testing.T, c goredis.UniversalClient, key string, perSecond float64, burst int) *budget.Shared {
	t.Helper()
	log := new(testlog.Buffer)
	t.Cleanup(func() {
		if t.Failed() && log.String() != "" {
			t.Logf("budget log:\n%s", log.String())
		}
	})
	s, err := budget.NewShared(budget.Config{Client: c, Key: key, PerSecond: perSecond, Burst: burst, Logger: log.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// maxInWindow returns the most calls that fall in any window of length w.
func maxInWindow(ts []time.Time, w time.Duration) int {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	best, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// Three sharers, each on a client of its own (as separate processes would
// be), hammering one budget: together they never exceed it.
func TestSharersStayWithinOneBudget(t *testing.T) {
	prefix := testredis.Prefix(t)
	key := prefix + ":{kis/mock/aaaaaaaaaaaa}:budget"
	const perSecond = 40
	var mu sync.Mutex
	var calls []time.Time
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range 3 {
		s := newShared(t, testredis.Client(t), key, perSecond, 1)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for s.Wait(ctx) == nil {
					mu.Lock()
					calls = append(calls, time.Now())
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	// Sleeping callers wake a little late, never early: a window can hold
	// at most the rate's worth plus the one call at its very edge.
	if got := maxInWindow(calls, time.Second); got > perSecond+1 {
		t.Errorf("%d calls in one second from three sharers of a %d/s budget", got, perSecond)
	}
	if len(calls) < perSecond {
		t.Errorf("only %d calls in 1.5 s of a %d/s budget: the budget starves its sharers", len(calls), perSecond)
	}
}

// A slot beyond the caller's deadline is refused at once and not reserved,
// so the next caller gets it.
func TestDeadlineBeforeSlot(t *testing.T) {
	prefix := testredis.Prefix(t)
	s := newShared(t, testredis.Client(t), prefix+":{kis/mock/bbbbbbbbbbbb}:budget", 1, 1)
	if err := s.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Wait(ctx)
	if !errors.Is(err, budget.ErrWouldExceed) {
		t.Fatalf("Wait with a deadline before the next slot = %v; want ErrWouldExceed", err)
	}
	if took := time.Since(start); took > 90*time.Millisecond {
		t.Errorf("the refusal took %v; it must come at once, not at the deadline", took)
	}
	// Nothing was reserved: the next slot is still one second after the first.
	ctx2, cancel2 := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel2()
	start = time.Now()
	if err := s.Wait(ctx2); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 1100*time.Millisecond {
		t.Errorf("the next call waited %v; a refused caller must not have reserved a slot", took)
	}
}

// With Redis out of reach the budget paces on its local share, says so
// once, and never blocks past the caller's deadline.
func TestFallsBackToLocalShare(t *testing.T) {
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { c.Close() })
	var fallbacks atomic.Int64
	log := new(testlog.Buffer)
	s, err := budget.NewShared(budget.Config{Client: c, Key: "k:{kis/mock/cccccccccccc}:budget", PerSecond: 20, Burst: 1, LocalShare: 0.5,
		Logger: log.Logger(), OnFallback: func(on bool) {
			if on {
				fallbacks.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	n := 0
	for s.Wait(ctx) == nil {
		n++
	}
	// 10/s locally (half of 20), minus the time spent failing to dial.
	if n < 2 || n > 11 {
		t.Errorf("%d calls in one second on a local share of 10/s", n)
	}
	if !s.Fallback() || fallbacks.Load() != 1 {
		t.Errorf("Fallback() = %v after %d fallback reports; want true after exactly 1", s.Fallback(), fallbacks.Load())
	}
	if got := strings.Count(log.String(), "shared call budget unreachable"); got != 1 {
		t.Errorf("the fallback was logged %d times; want once", got)
	}
}

func TestConfigRefusesNonsense(t *testing.T) {
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { c.Close() })
	nan := 0.0
	nan = nan / nan
	for _, cfg := range []budget.Config{
		{Key: "k", PerSecond: 1},
		{Client: c, PerSecond: 1},
		{Client: c, Key: "k", PerSecond: nan},
		{Client: c, Key: "k", PerSecond: 1e-300},
		{Client: c, Key: "k", PerSecond: 1, LocalShare: 2},
	} {
		if _, err := budget.NewShared(cfg); err == nil {
			t.Errorf("NewShared(%+v) succeeded", cfg)
		}
	}
}

func budgetLocal(perSecond float64, burst int) kauth.Limiter {
	return budget.NewLocal(perSecond, burst)
}

// lateCtx is the moment after a deadline when the context has not yet
// said so: Deadline is past, Err is still nil.
type lateCtx struct{ context.Context }

func (lateCtx) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }
func (lateCtx) Err() error                  { return nil }

// Past its deadline a caller never gets a "go", even while its context
// has not caught up with the clock.
func TestNoGoPastTheDeadline(t *testing.T) {
	prefix := testredis.Prefix(t)
	s := newShared(t, testredis.Client(t), prefix+":{kis/mock/eeeeeeeeeeee}:budget", 1000, 1)
	if err := s.Wait(lateCtx{t.Context()}); err == nil {
		t.Fatal("Wait past the deadline = nil; the call would go out unpaced")
	}
}
