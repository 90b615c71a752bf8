package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
)

// The lease scripts. Every key that one touches shares the key's hash tag,
// so each runs on one Cluster node; PUBLISH names no key and may run there.
var (
	// grantScript takes the lock (KEYS[1]) for owner ARGV[1] for ARGV[2]
	// ms if it is free, and returns the new lease's fence: one more than
	// the counter KEYS[2], and more than the stored entry's fence KEYS[3]
	// (so that a counter lost to eviction cannot hand out a stale fence).
	// It returns 0 if the lock is held.
	grantScript = goredis.NewScript(`
if not redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
	return 0
end
local f = redis.call("INCR", KEYS[2])
local w = tonumber(redis.call("GET", KEYS[3]) or "0") or 0
if f <= w then
	f = w + 1
	redis.call("SET", KEYS[2], f)
end
return f`)

	// saveScript writes the entry KEYS[2] (ARGV[3], TTL ARGV[4] ms) and
	// its fence KEYS[3] (ARGV[2]), and publishes ARGV[6] on ARGV[5]. With
	// an owner ARGV[1], it first checks that the lock KEYS[1] is still
	// the owner's (else -1) and that the stored fence is not greater than
	// the lease's (else -2): the compare and the write are one step, so a
	// holder whose lease lapsed cannot overwrite its successor's entry.
	saveScript = goredis.NewScript(`
local fence = tonumber(ARGV[2])
if ARGV[1] ~= "" then
	if redis.call("GET", KEYS[1]) ~= ARGV[1] then
		return -1
	end
	local w = tonumber(redis.call("GET", KEYS[3]) or "0") or 0
	if w > fence then
		return -2
	end
end
redis.call("SET", KEYS[2], ARGV[3], "PX", ARGV[4])
if fence > 0 then
	redis.call("SET", KEYS[3], ARGV[2], "PX", ARGV[4])
else
	redis.call("DEL", KEYS[3])
end
redis.call("PUBLISH", ARGV[5], ARGV[6])
return 1`)

	// renewScript and releaseScript compare the owner token first, so a
	// holder whose lease ran out (and was taken by another) can neither
	// extend nor release the new holder's lock.
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

// keys names the Redis keys of one kauth key.
type keys struct {
	lock, fence, entry, entryFence string
}

func (s *Store) keys(key kauth.Key) (keys, error) {
	tag, err := s.tag(key)
	if err != nil {
		return keys{}, err
	}
	return keys{lock: tag + ":lock", fence: tag + ":fence", entry: tag + ":entry", entryFence: tag + ":entry:fence"}, nil
}

// Lock implements kauth.Locker with a lease: the lock key is set with NX
// and a TTL to a random owner token, and a fence is drawn from the key's
// counter in the same script. While held, the lease is renewed every third
// of its length, so a slow issuance keeps it. If renewal finds the lock
// gone or taken over, or cannot renew it before it would lapse (Redis
// unreachable), the lease is lost: Done closes and Err says why, at the
// latest when Redis drops the lock. A holder that dies releases the lock
// when the lease runs out (see WithLease). Waiters poll with a jittered
// backoff until ctx is done.
func (s *Store) Lock(ctx context.Context, key kauth.Key) (kauth.Lease, error) {
	ks, err := s.keys(key)
	if err != nil {
		return nil, err
	}
	owner := randomToken()
	wait := minWait
	for {
		if err := ctx.Err(); err != nil {
			return nil, s.errorf("lock", &key, err)
		}
		sent := time.Now()
		fence, err := grantScript.Run(ctx, s.client, []string{ks.lock, ks.fence, ks.entryFence}, owner, s.lease.Milliseconds()).Int64()
		if err != nil {
			if ctx.Err() != nil {
				// The SET may have landed before the context ended: give
				// back a lease that nobody will renew or release, without
				// holding the caller past its deadline.
				go s.release(key, ks.lock, owner)
				err = ctx.Err() // so that errors.Is(err, context.DeadlineExceeded) holds
			}
			return nil, s.errorf("lock", &key, err)
		}
		if fence > 0 {
			l := &lease{
				LeaseState: kauth.NewLeaseState(key, uint64(fence)),
				store:      s,
				keys:       ks,
				owner:      owner,
				stop:       make(chan struct{}),
				stopped:    make(chan struct{}),
			}
			go l.renew(sent)
			return l, nil
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
}

// lease is a held Redis lease.
type lease struct {
	*kauth.LeaseState
	store   *Store
	keys    keys
	owner   string
	stop    chan struct{} // closed by Unlock
	stopped chan struct{} // closed when renew returns
	once    sync.Once
}

// Save implements kauth.Lease: one script checks that the lock is still
// this lease's and that no later lease wrote the entry, then writes it and
// publishes the change.
func (l *lease) Save(ctx context.Context, e kauth.Entry) error {
	k := l.Key()
	if err := l.Err(); err != nil {
		if !errors.Is(err, kauth.ErrLeaseLost) {
			err = fmt.Errorf("%w: the lease was released", kauth.ErrLeaseLost)
		}
		return l.store.errorf("save", &k, err)
	}
	e.Fence = l.Fence()
	n, err := l.store.save(ctx, k, l.keys, l.owner, e)
	if err != nil {
		return err
	}
	switch n {
	case -1:
		l.lost("the lock was found taken over or expired at Save")
		return l.store.errorf("save", &k, fmt.Errorf("%w: the lease lapsed before the write", kauth.ErrLeaseLost))
	case -2:
		return l.store.errorf("save", &k, fmt.Errorf("%w: the entry was written under a later lease", kauth.ErrLeaseLost))
	}
	return nil
}

// lost ends the lease as lost and says so.
func (l *lease) lost(why string) {
	if l.Lost(why) {
		l.store.logger.Warn("kauth: redis store: the lock's lease was lost while held",
			slog.String("key", l.Key().String()), slog.Duration("lease", l.store.lease), slog.String("reason", why))
	}
}

// Unlock implements kauth.Lease. It stops the renewal and, unless the lease
// was lost (the lock is then another's, or Redis unreachable), releases it.
func (l *lease) Unlock() {
	l.End(context.Canceled)
	l.once.Do(func() {
		close(l.stop)
		<-l.stopped
		if err := l.Err(); !errors.Is(err, kauth.ErrLeaseLost) {
			l.store.release(l.Key(), l.keys.lock, l.owner)
		}
	})
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

// renew extends the lease every third of its length until Unlock, or until
// the lease is lost: found taken over, or not renewed before it would
// lapse. sent is when the grant was sent: Redis's TTL runs from a moment
// no earlier, so the lease surely lasts until sent plus its length. It is
// given up a tenth of the lease before that, so that Done is closed before
// Redis can let another holder in, even if this process is slow to run.
func (l *lease) renew(sent time.Time) {
	defer close(l.stopped)
	s := l.store
	every := s.lease / 3
	keep := s.lease - s.lease/10
	valid := sent.Add(keep)
	lapse := time.NewTimer(time.Until(valid))
	defer lapse.Stop()
	next := time.NewTimer(every)
	defer next.Stop()
	failing := false
	for {
		select {
		case <-l.stop:
			return
		case <-l.Done():
			return
		case <-lapse.C:
			l.lost("it could not be renewed before it lapsed")
			return
		case <-next.C:
		}
		sent := time.Now()
		// Never wait past the lapse: the lease is lost then anyway.
		ctx, cancel := context.WithDeadline(context.Background(), valid)
		n, err := renewScript.Run(ctx, s.client, []string{l.keys.lock}, l.owner, strconv.FormatInt(s.lease.Milliseconds(), 10)).Int()
		cancel()
		switch {
		case err == nil && n == 1:
			if failing {
				s.logger.Info("kauth: redis store: renewing the lock works again", slog.String("key", l.Key().String()))
			}
			failing = false
			valid = sent.Add(keep)
			lapse.Reset(time.Until(valid))
			next.Reset(every)
		case err == nil:
			// The lease ran out (this process stalled past it) or was
			// taken over: another process may hold the lock now.
			l.lost("the lock was found taken over or expired at renewal")
			return
		default:
			// Transient, maybe: try again soon while the lease lasts.
			if !failing {
				s.logger.Warn("kauth: redis store: renewing the lock failed; retrying until the lease lapses",
					slog.String("key", l.Key().String()), slog.String("err", err.Error()))
			}
			failing = true
			next.Reset(every / 4)
		}
	}
}
