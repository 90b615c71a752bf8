package kauth

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
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

// coarseTick is how often the coarse clock is refreshed. Its lag only moves
// the fast path's decisions by this much, against a one-minute expiry
// margin and a 30-minute refresh window.
const coarseTick = 10 * time.Millisecond

// coarseClock is the wall clock as a number in memory, refreshed by one
// ticker per process while at least one Manager on the system clock is
// open. time.Now costs two clock reads (wall and monotonic); the fast path
// of Token needs neither to the nanosecond, so it reads this instead.
//
// It holds wall time on purpose: the brokers' expiries are wall times, and
// the monotonic clock stops while a machine is suspended, so a laptop that
// slept through a token's expiry must not keep serving it.
type coarseClock struct {
	now   atomic.Int64 // Unix nanoseconds
	mu    sync.Mutex
	users int
	stop  chan struct{}
	done  chan struct{}
}

var coarse coarseClock

// acquire starts the ticker for the first user.
func (c *coarseClock) acquire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users++
	if c.users > 1 {
		return
	}
	c.now.Store(time.Now().UnixNano())
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go c.run(c.stop, c.done)
}

// release stops the ticker when its last user is gone. The clock then
// reads as the end of time, so that a fast path still reading it (a closed
// Manager holding a token) always falls through to the exact clock rather
// than trust a frozen reading.
func (c *coarseClock) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users--
	if c.users > 0 {
		return
	}
	close(c.stop)
	<-c.done
	c.now.Store(math.MaxInt64)
}

func (c *coarseClock) run(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(coarseTick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.now.Store(time.Now().UnixNano())
		case <-stop:
			return
		}
	}
}
