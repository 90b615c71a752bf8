// Package rtowner elects, among the agents that share a Redis store, the
// one that holds an app key's upstream real-time session, and lets the
// others reach it.
//
// Brokers allow one real-time session per app key (KIS answers a second
// one OPSP8996 ALREADY IN USE, Kiwoom closes the older one when a newer
// one logs in, Toss displaces the oldest of two connections per account).
// Agents sharing an app key through Redis take a lease on its session: the
// holder (the owner) opens the broker session, the others relay their
// clients' subscriptions to it (relay.go).
package rtowner

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
)

// DefaultTTL is how long a lease lives in Redis without renewal. The
// holder renews it every TTL/3 and gives the session up TTL/2 after the
// last renewal it sent that succeeded (Held.Valid), so a successor takes
// over within TTL of the holder's death or loss of Redis.
const DefaultTTL = 5 * time.Second

// Record is what a lease says: who holds it, where its relay is reached,
// and its fence, a number that grows with every grant of the lease (never
// reused, even after the lease expired), so that a holder's connection is
// told apart from its successor's.
type Record struct {
	Owner string // the holding agent's instance id
	Addr  string // host:port of its relay
	Fence int64
}

// value is the stored form of r: "fence owner addr".
func (r Record) value() string {
	return strconv.FormatInt(r.Fence, 10) + " " + r.Owner + " " + r.Addr
}

func parseRecord(v string) (Record, bool) {
	f, rest, ok := strings.Cut(v, " ")
	if !ok {
		return Record{}, false
	}
	owner, addr, ok := strings.Cut(rest, " ")
	fence, err := strconv.ParseInt(f, 10, 64)
	if !ok || err != nil || fence <= 0 || owner == "" {
		return Record{}, false
	}
	return Record{Owner: owner, Addr: addr, Fence: fence}, true
}

var (
	// grantScript sets the lease KEYS[1] to ARGV[1] (owner and address)
	// with fence INCR KEYS[2] in front, for ARGV[2] ms, if nobody holds
	// it; it returns the fence, or 0 if the lease is held. It calls only
	// what the store's own lock does (SET NX, INCR), which an ACL that
	// lets the store work allows.
	grantScript = goredis.NewScript(`
if not redis.call("SET", KEYS[1], "0 " .. ARGV[1], "NX", "PX", ARGV[2]) then
	return 0
end
local f = redis.call("INCR", KEYS[2])
redis.call("SET", KEYS[1], f .. " " .. ARGV[1], "PX", ARGV[2])
return f`)
	// renewScript extends the lease for ARGV[2] ms if it still says ARGV[1]:
	// a holder whose lease lapsed, and went to another, cannot extend it.
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

// Lease is one app key's session lease in Redis. Its methods are safe for
// concurrent use.
type Lease struct {
	client goredis.UniversalClient
	key    string // the lease
	fence  string // its fence counter, in the same hash tag
	ttl    time.Duration
}

// NewLease returns the lease named name under prefix (the Redis store's
// key prefix), living ttl (DefaultTTL if zero) between renewals. Both
// keys share the hash tag {tag}, so that its scripts run on one Cluster
// node.
func NewLease(client goredis.UniversalClient, prefix, tag, name string, ttl time.Duration) *Lease {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	base := prefix + ":{" + tag + "}:rt:" + name
	return &Lease{client: client, key: base, fence: base + ":fence", ttl: ttl}
}

// TTL returns how long the lease lives without renewal.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Acquire takes the lease for owner at addr if nobody holds it, and
// returns its record; ok is false if someone does.
func (l *Lease) Acquire(ctx context.Context, owner, addr string) (r Record, ok bool, err error) {
	if owner == "" || strings.ContainsAny(owner, " ") || strings.ContainsAny(addr, " ") {
		return Record{}, false, fmt.Errorf("rtowner: invalid owner %q or address %q", owner, addr)
	}
	f, err := grantScript.Run(ctx, l.client, []string{l.key, l.fence}, owner+" "+addr, l.ttl.Milliseconds()).Int64()
	if err != nil {
		return Record{}, false, fmt.Errorf("rtowner: taking the lease: %w", err)
	}
	if f == 0 {
		return Record{}, false, nil
	}
	return Record{Owner: owner, Addr: addr, Fence: f}, true, nil
}

// Renew extends r's lease by the TTL; ok is false if the lease is no
// longer r (it expired, and maybe went to another).
func (l *Lease) Renew(ctx context.Context, r Record) (ok bool, err error) {
	n, err := renewScript.Run(ctx, l.client, []string{l.key}, r.value(), l.ttl.Milliseconds()).Int64()
	if err != nil {
		return false, fmt.Errorf("rtowner: renewing the lease: %w", err)
	}
	return n == 1, nil
}

// Release ends r's lease now, if it is still r, so that a successor need
// not wait for it to expire.
func (l *Lease) Release(ctx context.Context, r Record) error {
	if err := releaseScript.Run(ctx, l.client, []string{l.key}, r.value()).Err(); err != nil {
		return fmt.Errorf("rtowner: releasing the lease: %w", err)
	}
	return nil
}

// Read returns the lease's record; ok is false if nobody holds it (or
// what it holds is not a record kauth wrote).
func (l *Lease) Read(ctx context.Context) (r Record, ok bool, err error) {
	v, err := l.client.Get(ctx, l.key).Result()
	if errors.Is(err, goredis.Nil) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("rtowner: reading the lease: %w", err)
	}
	r, ok = parseRecord(v)
	return r, ok, nil
}

// Held is a holder's own view of its lease: the record and when it sent
// the last request that granted or renewed it.
//
// Redis counts the TTL from when it ran that request, which is after the
// holder sent it, so the lease lives in Redis until at least Sent+TTL as
// long as the two clocks run at about the same rate (no wall clock is
// compared: Sent is read from the holder's monotonic clock and the TTL is
// a duration Redis measures itself). The holder takes its lease for lost
// at Sent+TTL/2: half the TTL before anyone else can have it, which
// leaves the holder that margin to close its session, and covers a rate
// difference between the clocks of up to 50%. Elapsed time is the larger
// of the monotonic and the wall clock's: the monotonic clock stops while
// a machine is suspended, and a holder that slept through its lease must
// not wake up believing in it.
type Held struct {
	Record Record
	Sent   time.Time
	TTL    time.Duration
}

// Valid reports whether the holder may still use the lease at now.
func (h Held) Valid(now time.Time) bool {
	if h.Record.Fence <= 0 {
		return false
	}
	elapsed := max(now.Sub(h.Sent), now.Round(0).Sub(h.Sent.Round(0)))
	return elapsed < h.TTL/2
}

// RenewAt is when the holder sends its next renewal: TTL/3 after the last
// one, which leaves it a renewal attempt or two (each bounded by the
// time left) before Valid turns false.
func (h Held) RenewAt() time.Time { return h.Sent.Add(h.TTL / 3) }

// Expiry is when Valid turns false.
func (h Held) Expiry() time.Time { return h.Sent.Add(h.TTL / 2) }

// Hold keeps a granted lease until it is lost or released: it renews it
// on time and closes Lost the moment it can no longer be sure of it.
type Hold struct {
	l      *Lease
	clock  kauth.Clock
	lost   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	rec    Record
}

// Keep starts keeping h, granted by a request sent at h.Sent, with clock
// (nil: the system clock).
func (l *Lease) Keep(h Held, clock kauth.Clock) *Hold {
	if clock == nil {
		clock = kauth.SystemClock{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &Hold{l: l, clock: clock, lost: make(chan struct{}), cancel: cancel, done: make(chan struct{}), rec: h.Record}
	go k.run(ctx, h)
	return k
}

// Record returns the held record.
func (k *Hold) Record() Record { return k.rec }

// Lost is closed once the lease can no longer be trusted: a renewal failed
// for so long that it could have expired, Redis said it is another's, or
// Release was called.
func (k *Hold) Lost() <-chan struct{} { return k.lost }

// Release stops renewing and ends the lease in Redis (if it is still
// this one), so that another agent may take it at once.
func (k *Hold) Release(ctx context.Context) {
	k.cancel()
	<-k.done
	k.l.Release(ctx, k.rec)
}

func (k *Hold) run(ctx context.Context, h Held) {
	defer close(k.done)
	defer close(k.lost)
	for {
		if d := h.RenewAt().Sub(k.clock.Now()); d > 0 {
			if k.clock.Sleep(ctx, d) != nil {
				return
			}
		}
		for {
			now := k.clock.Now()
			if !h.Valid(now) {
				return
			}
			ok, err, expired := k.renew(ctx, h, now)
			switch {
			case ctx.Err() != nil, expired:
				return
			case err == nil && !ok:
				return // another holds it
			case err == nil:
				h.Sent = now
			default:
				// Try again soon, while the lease is still ours.
				if k.clock.Sleep(ctx, min(h.TTL/10, max(h.Expiry().Sub(k.clock.Now()), 0))) != nil {
					return
				}
				continue
			}
			break
		}
	}
}

// renew sends one renewal and waits for its answer until the lease's
// local expiry: a Redis client may wait longer than its context says (a
// stalled link is only noticed at its read timeout), and the lease must
// be given up on time whatever the client does.
func (k *Hold) renew(ctx context.Context, h Held, now time.Time) (ok bool, err error, expired bool) {
	type result struct {
		ok  bool
		err error
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := make(chan result, 1)
	go func() {
		ok, err := k.l.Renew(rctx, h.Record)
		res <- result{ok, err}
	}()
	timer := make(chan error, 1)
	go func() { timer <- k.clock.Sleep(rctx, h.Expiry().Sub(now)) }()
	select {
	case r := <-res:
		return r.ok, r.err, false
	case err := <-timer:
		return false, err, err == nil
	}
}
