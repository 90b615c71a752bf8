// Package fakeclock is a kauth.Clock for tests whose time moves only when
// the test says, with the sleepers it wakes.
package fakeclock

import (
	"context"
	"sync"
	"time"
)

// Clock is a kauth.Clock whose time moves only by Advance. It is safe for
// concurrent use.
type Clock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers map[chan struct{}]time.Time
}

// New returns a Clock that reads start until it is advanced.
func New(start time.Time) *Clock {
	return &Clock{now: start, sleepers: map[chan struct{}]time.Time{}}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep returns once the clock has been advanced by d, or with ctx's error
// if ctx ends first.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	ch := make(chan struct{})
	c.mu.Lock()
	c.sleepers[ch] = c.now.Add(d)
	c.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.sleepers, ch)
		c.mu.Unlock()
		return ctx.Err()
	}
}

// Advance moves the time by d and wakes the sleepers whose time has come.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for ch, at := range c.sleepers {
		if !at.After(c.now) {
			close(ch)
			delete(c.sleepers, ch)
		}
	}
}

// Sleepers returns how many goroutines sleep on the clock.
func (c *Clock) Sleepers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sleepers)
}
