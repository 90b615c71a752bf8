package redis

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
)

// Lease scripts compare the owner token first, so a holder whose lease ran
// out (and was taken by another) can neither extend nor release the new
// holder's lock.
var (
	renewScript = goredis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)
	releaseScript = goredis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)
)

// Backoff of a waiting Lock: from minWait, doubling to maxWait, with
// jitter so that waiters do not retry in step.
const (
	minWait = 5 * time.Millisecond
	maxWait = 100 * time.Millisecond
	// releaseTimeout bounds a release.
	releaseTimeout = 2 * time.Second
)

// Lock implements kauth.Locker with a lease: SET NX PX with a random owner
// token. While held, the lease is renewed every third of its length, so a
// slow issuance keeps it; if the holder dies or loses Redis, it lapses
// after the lease (see WithLease). Waiters poll with a jittered backoff
// until ctx is done. Calling the returned function more than once is
// harmless; it never releases a lock that another holder took over.
func (s *Store) Lock(ctx context.Context, key kauth.Key) (kauth.Lease, error) {
	tag, err := s.tag(key)
	if err != nil {
		return nil, err
	}
	lockKey := tag + ":lock"
	owner := randomToken()
	wait := minWait
	for {
		if err := ctx.Err(); err != nil {
			return nil, s.errorf("lock", &key, err)
		}
		ok, err := s.client.SetNX(ctx, lockKey, owner, s.lease).Result()
		if err != nil {
			if ctx.Err() != nil {
				// The SET may have landed before the context ended: give
				// back a lease that nobody will renew or release, without
				// holding the caller past its deadline.
				go s.release(key, lockKey, owner)
				err = ctx.Err() // so that errors.Is(err, context.DeadlineExceeded) holds
			}
			return nil, s.errorf("lock", &key, err)
		}
		if ok {
			break
		}
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, s.errorf("lock", &key, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}

	stop := make(chan struct{})
	done := make(chan struct{})
	go s.renew(key, lockKey, owner, stop, done)
	return &lease{LeaseState: kauth.NewLeaseState(key, 0), store: s, unlock: func() {
		close(stop)
		<-done
		s.release(key, lockKey, owner)
	}}, nil
}

type lease struct {
	*kauth.LeaseState
	store  *Store
	unlock func()
}

// Save implements kauth.Lease.
func (l *lease) Save(ctx context.Context, e kauth.Entry) error {
	if err := l.Err(); err != nil {
		k := l.Key()
		return l.store.errorf("save", &k, kauth.ErrLeaseLost)
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

// release deletes the lock if owner still holds it. It cannot use the
// caller's context, which may be done; if it fails, the lease lapses.
func (s *Store) release(key kauth.Key, lockKey, owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := releaseScript.Run(ctx, s.client, []string{lockKey}, owner).Err(); err != nil {
		s.logger.Warn("kauth: redis store: releasing the lock failed; it lapses with its lease",
			slog.String("key", key.String()), slog.Duration("lease", s.lease), slog.String("err", err.Error()))
	}
}

// renew extends the lease every third of its length until stop is closed
// or the lease is found lost.
func (s *Store) renew(key kauth.Key, lockKey, owner string, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	every := s.lease / 3
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		n, err := renewScript.Run(ctx, s.client, []string{lockKey}, owner, s.lease.Milliseconds()).Int()
		cancel()
		switch {
		case err != nil:
			// Transient, maybe: try again next tick while the lease lasts.
			s.logger.Warn("kauth: redis store: renewing the lock failed",
				slog.String("key", key.String()), slog.String("err", err.Error()))
		case n == 0:
			// The lease ran out (Redis was unreachable for a whole lease,
			// or this process stalled) and another process may hold the
			// lock now. Nothing can be done but say so.
			s.logger.Warn("kauth: redis store: the lock's lease was lost while held",
				slog.String("key", key.String()), slog.Duration("lease", s.lease))
			return
		}
	}
}
