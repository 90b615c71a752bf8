package kauth

import (
	"context"
	"time"
)

// Clock is the Manager's source of time. Tests inject a virtual clock so
// that a day of token life runs in milliseconds.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, returning ctx.Err() then.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits for d or until ctx is done.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The fast path of Token reads the wall clock itself on every call, through
// wallNs: no ticker keeps a copy of it fresh, so a process holding a
// Manager has no periodic wakeups, and a process that was frozen (SIGSTOP,
// a suspended laptop) decides on the time it is when it runs again, not on
// a reading taken before it stopped.
//
// It is wall time on purpose: the brokers' expiries are wall times, and the
// monotonic clock stops while a machine is suspended, so a laptop that
// slept through a token's expiry must not keep serving it.

func wallNsNow() int64 { return time.Now().UnixNano() }
