package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/kauth/kauth"
)

// fenceSuffix names the file that holds a key's last granted fence.
const fenceSuffix = ".fence"

// Lock implements kauth.Locker. It excludes the goroutines of this process
// and every other process using the directory, until the lease is unlocked
// or the process dies (the operating system then drops the flock, so a
// crashed holder never wedges the others).
//
// The lease's fence is one more than the larger of the key's counter file
// (<name>.fence) and the stored entry's fence; the counter is written under
// the flock before Lock returns, but not fsynced: only the processes alive
// on this machine hold leases, and they read it from the page cache. A
// power loss may take the counter back, but it ends every lease with it,
// and the entries saved under them are durable, so the next fence is still
// above every write. (Without that fsync an agent's first tokens cost two
// fsyncs each, not three.) A lock, counter or entry
// file that is not a regular file (a FIFO, a device, a link) is refused at
// once, never waited on. When the directory cannot be written, the error
// wraps kauth.ErrStoreUnwritable.
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
	lockPath := filepath.Join(s.dir, n+lockSuffix)
	if fileOp(func() { err = regularOrAbsent(lockPath, "lock file") }); err != nil {
		<-sem
		return nil, fmt.Errorf("kauth: file store: lock %s: %w", key, err)
	}
	fl := flock.New(lockPath, flock.SetPermissions(0o600), flock.SetFlag(lockFlag))
	// A non-blocking flock, polled, so a waiter can give up when its ctx
	// is done, which a blocking flock(2) cannot.
	locked, err := tryLock(ctx, fl)
	if err != nil || !locked {
		<-sem
		if err == nil {
			err = ctx.Err()
		}
		if ctx.Err() == nil {
			return nil, s.failed("lock", key, err)
		}
		return nil, fmt.Errorf("kauth: file store: lock %s: %w", key, err)
	}
	unlock := func() {
		if err := fl.Unlock(); err != nil {
			// Unlock closes the descriptor even then: closing drops the flock.
			s.logger.Warn("kauth: file store: unlock failed", slog.String("key", key.String()), slog.String("err", err.Error()))
			fl.Close()
		}
		<-sem
	}
	fence, err := s.grant(n, key)
	if err != nil {
		unlock()
		return nil, err
	}
	return &lease{LeaseState: kauth.NewLeaseState(key, fence), store: s, unlock: unlock}, nil
}

// tryLock tries fl every lockRetry until it is taken, fails, or ctx is
// done; each try is a file call (fileOp), the waits between are not.
func tryLock(ctx context.Context, fl *flock.Flock) (bool, error) {
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		var ok bool
		var err error
		fileOp(func() { ok, err = fl.TryLock() })
		if ok || err != nil {
			return ok, err
		}
		t := time.NewTimer(lockRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
	}
}

// regularOrAbsent fails if path exists and is not a regular file.
func regularOrAbsent(path, what string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s %s is not a regular file; remove it", kauth.ErrStoreUnwritable, what, path)
	}
	return nil
}

// grant computes, records and returns the fence of a new lease on the key
// whose files are named n. The caller holds the flock.
func (s *Store) grant(n string, key kauth.Key) (uint64, error) {
	path := filepath.Join(s.dir, n+fenceSuffix)
	var last uint64
	data, err := readPrivate(path)
	switch {
	case err == nil:
		// A counter that does not parse is replaced; the entry's fence
		// still keeps the new one above every write.
		last, _ = strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	case !errors.Is(err, fs.ErrNotExist):
		return 0, fmt.Errorf("kauth: file store: lock %s: %w: %w", key, kauth.ErrStoreUnwritable, err)
	}
	entryPath := filepath.Join(s.dir, n+entrySuffix)
	if e, ok, err := s.current(entryPath, key); err != nil {
		return 0, fmt.Errorf("kauth: file store: lock %s: %w", key, err)
	} else if ok {
		last = max(last, e.Fence)
	}
	fence := last + 1
	if err := writeVisible(path, []byte(strconv.FormatUint(fence, 10)+"\n")); err != nil {
		return 0, s.failed("lock", key, err)
	}
	return fence, nil
}

// lease is a held flock. It is lost only when released: the operating
// system keeps a flock for as long as the process holds the descriptor.
type lease struct {
	*kauth.LeaseState
	store  *Store
	unlock func()
}

// Save implements kauth.Lease: under the flock, it reads the stored entry
// and refuses to replace one written under a later lease.
func (l *lease) Save(ctx context.Context, e kauth.Entry) error {
	return l.save(e, true)
}

var _ kauth.VisibleSaver = (*lease)(nil)

// SaveVisible implements kauth.VisibleSaver: Save without the fsyncs.
func (l *lease) SaveVisible(ctx context.Context, e kauth.Entry) error {
	return l.save(e, false)
}

func (l *lease) save(e kauth.Entry, durable bool) error {
	key := l.Key()
	if err := l.Err(); err != nil {
		return fmt.Errorf("kauth: file store: save %s: %w: the lease was released", key, kauth.ErrLeaseLost)
	}
	path, err := l.store.path(key)
	if err != nil {
		return err
	}
	cur, ok, err := l.store.current(path, key)
	if err != nil {
		return fmt.Errorf("kauth: file store: save %s: %w", key, err)
	}
	if ok && cur.Fence > l.Fence() {
		return fmt.Errorf("kauth: file store: save %s: %w: the entry was written under a later lease (fence %d > %d)", key, kauth.ErrLeaseLost, cur.Fence, l.Fence())
	}
	e.Fence = l.Fence()
	return l.store.write(path, key, e, durable)
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
