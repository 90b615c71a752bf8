package kauth

import (
	"context"
	"fmt"
	"sync"
)

// LeaseState is the bookkeeping shared by Lease implementations: the done
// channel, the reason it closed, and the fence. Stores embed it and add
// their own Save. Its zero value is not ready: use NewLeaseState.
type LeaseState struct {
	key   Key
	fence uint64
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	err   error
}

// NewLeaseState returns the state of a lease on key with the given fence.
func NewLeaseState(key Key, fence uint64) *LeaseState {
	return &LeaseState{key: key, fence: fence, done: make(chan struct{})}
}

// Key returns the leased key.
func (l *LeaseState) Key() Key { return l.key }

// Done implements Lease.
func (l *LeaseState) Done() <-chan struct{} { return l.done }

// Fence implements Lease.
func (l *LeaseState) Fence() uint64 { return l.fence }

// Err implements Lease.
func (l *LeaseState) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// End closes Done with err as the reason (ErrLeaseLost wrapped, or
// context.Canceled for a release). Only the first call counts; it reports
// whether it was the first.
func (l *LeaseState) End(err error) bool {
	first := false
	l.once.Do(func() {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		close(l.done)
		first = true
	})
	return first
}

// Lost ends the lease as lost.
func (l *LeaseState) Lost(why string) bool {
	return l.End(fmt.Errorf("%w: %s: %s", ErrLeaseLost, l.key, why))
}

// released is what Err says after Unlock.
var released = context.Canceled
