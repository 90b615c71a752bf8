package file

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/gofrs/flock"

	"github.com/kauth/kauth"
)

// Lock implements kauth.Locker. It excludes the goroutines of this process
// and every other process using the directory, until the returned function
// is called or the process dies (the operating system then drops the
// flock, so a crashed holder never wedges the others). Calling the returned
// function more than once is harmless.
func (s *Store) Lock(ctx context.Context, key kauth.Key) (kauth.Lease, error) {
	n, err := name(key)
	if err != nil {
		return nil, err
	}
	sem := s.semaphore(n)
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("kauth: file store: lock %s: %w", key, ctx.Err())
	}
	fl := flock.New(filepath.Join(s.dir, n+lockSuffix), flock.SetPermissions(0o600))
	// TryLockContext polls a non-blocking flock, so a waiter can give up
	// when its ctx is done, which a blocking flock(2) cannot.
	locked, err := fl.TryLockContext(ctx, lockRetry)
	if err != nil || !locked {
		<-sem
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("kauth: file store: lock %s: %w", key, err)
	}
	return &lease{LeaseState: kauth.NewLeaseState(key, 0), store: s, unlock: func() {
		if err := fl.Unlock(); err != nil {
			// Unlock closes the descriptor even then: closing drops the flock.
			s.logger.Warn("kauth: file store: unlock failed", slog.String("key", key.String()), slog.String("err", err.Error()))
			fl.Close()
		}
		<-sem
	}}, nil
}

// lease is a held flock. It is lost only when released: the operating
// system keeps a flock for as long as the process holds the descriptor.
type lease struct {
	*kauth.LeaseState
	store  *Store
	unlock func()
}

// Save implements kauth.Lease.
func (l *lease) Save(ctx context.Context, e kauth.Entry) error {
	if err := l.Err(); err != nil {
		return fmt.Errorf("kauth: file store: save %s: %w", l.Key(), kauth.ErrLeaseLost)
	}
	e.Fence = l.Fence()
	return l.store.Save(ctx, l.Key(), e)
}

// Unlock implements kauth.Lease.
func (l *lease) Unlock() {
	if l.End(context.Canceled) {
		l.unlock()
	}
}

// semaphore returns the one-slot channel that serializes this process's
// goroutines on the lock of entry n.
func (s *Store) semaphore(n string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	sem, ok := s.locks[n]
	if !ok {
		sem = make(chan struct{}, 1)
		s.locks[n] = sem
	}
	return sem
}
