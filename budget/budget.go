// Package budget paces the calls that many processes and hosts make with
// one app key, so that together they stay under the broker's per-app-key
// call limit (KIS about 20 calls/s real and 2/s mock, EGW00201; Kiwoom about
// 5/s, 1700).
//
// A Shared budget is a GCRA (generic cell rate algorithm) kept in Redis:
// one key per app key and env holds the theoretical arrival time of the
// next call, and one Lua script reads Redis's own clock, reserves the
// caller's slot and says how long to wait for it. Every process that shares
// the Redis draws from one budget, whatever its own clock says: a host whose
// clock runs ahead or behind cannot take more than its share.
//
// If Redis cannot be reached (an error, or no answer within the timeout), a
// Shared budget falls back to a local limiter at a configured share of the
// rate (the share one host may use when the others cannot be asked), says
// so once through its logger and through OnFallback, and goes back to Redis
// when it answers again. Neither hand-over spends twice what the other side
// has handed out already (see Shared).
package budget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// A Limiter paces calls. Wait blocks until the caller may make one call, or
// returns an error without waiting when ctx would end first.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Local is a Limiter for this process alone.
type Local struct{ l *rate.Limiter }

// NewLocal returns a Limiter of perSecond calls a second with bursts of
// burst calls.
func NewLocal(perSecond float64, burst int) *Local {
	return &Local{l: rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))}
}

// Wait implements Limiter.
func (l *Local) Wait(ctx context.Context) error { return l.l.Wait(ctx) }

// reserveScript reserves the next slot of a GCRA budget.
//
// KEYS[1]  the budget's key
// ARGV[1]  emission interval, µs (1e6 / calls per second)
// ARGV[2]  burst tolerance, µs (emission × (burst − 1))
// ARGV[3]  the longest wait the caller accepts, µs
//
// It returns the wait in µs (0: call now) after reserving the slot, or
// −1 − wait when the wait is longer than the caller accepts, reserving
// nothing. TIME makes every host use Redis's clock; Redis 5+ replicates
// the script's effects, not the script, so reading the clock is allowed.
var reserveScript = goredis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local maxwait = tonumber(ARGV[3])
local tat = tonumber(redis.call("GET", KEYS[1]) or "0")
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if wait > maxwait then return -1 - wait end
local next = tat + emission
redis.call("SET", KEYS[1], string.format("%d", next), "PX", math.floor((next - now) / 1000) + 1000)
return wait`)

// Config configures a Shared budget.
type Config struct {
	// Client is the Redis that every sharer uses.
	Client goredis.UniversalClient
	// Key names the budget in Redis, e.g. "kauth:{kis/mock/3f2a9c01d4e5}:budget".
	// Every process calling with one app key at one env must use the same.
	Key string
	// PerSecond is the whole budget: calls a second for all sharers
	// together. Keep it under the broker's limit (e.g. 18 for KIS real's 20).
	PerSecond float64
	// Burst is how many calls may go at once after a quiet while (at least 1).
	Burst int
	// LocalShare is the fraction of PerSecond this process uses on its own
	// while Redis cannot be reached (0 < LocalShare ≤ 1). Zero means 1/2.
	LocalShare float64
	// Timeout bounds one round trip to Redis before falling back, whatever
	// the client's own read timeout; while Redis is down, it is also how
	// often one caller tries it again (at least every 250 ms). Zero means
	// 500 ms.
	Timeout time.Duration
	// Logger hears of fallbacks and recoveries. Nil means slog.Default().
	Logger *slog.Logger
	// OnFallback, if set, is called with true when the budget falls back to
	// its local share and with false when Redis answers again.
	OnFallback func(fallback bool)
}

// Shared is a Limiter whose budget is shared through Redis. It is safe for
// concurrent use.
//
// While Redis cannot be reached (an error, or no answer within
// Config.Timeout), every call is paced on the local share instead, and one
// caller at a time, at most once every probe interval (Config.Timeout, at
// least 250 ms), tries Redis again. The hand-overs keep the app key under
// its budget:
//
//   - on the way out, the local share starts empty after the last slot
//     this process knows the shared budget to have handed out, so the
//     calls the others already hold are not spent twice;
//   - on the way back, the local share stays a ceiling over the shared
//     budget for a second plus two probe intervals, until every busy
//     sharer is back on Redis and the calls they made on their own shares
//     have left the broker's one-second window.
type Shared struct {
	cfg       Config
	emission  time.Duration
	tolerance time.Duration
	probe     time.Duration // the least time between tries of Redis while it is down
	hold      time.Duration // how long the local share stays a ceiling after Redis returns
	fallback  atomic.Bool
	reportMu  sync.Mutex // serializes fallback reports

	mu        sync.Mutex
	local     gcra      // the local share
	down      bool      // Redis failed last time it was tried
	probing   bool      // a caller is trying Redis while down
	lastTry   time.Time // when Redis was last tried while down
	ceiling   time.Time // until then every call also takes a local slot
	sharedEnd time.Time // the end of the last slot the shared budget is known to have handed out
	lastReply time.Time // when Redis last answered
	saturated bool      // the last answer came with a wait: the others spend the budget as it comes
}

// gcra is the local share: a GCRA (tat is the theoretical arrival time of
// the next call) that also lets at most max calls through in any second. A
// GCRA alone lets one more call than its rate into a window (a call at
// each end): n sharers would add n calls to the broker's second.
//
// The second is counted twice: by the slots handed out, which paces the
// reservations, and by the moments the calls are let through, which is
// what the broker sees. A caller woken late (a loaded host, a pause of
// the process) goes together with the calls whose slots came after its
// own, and the slots alone would then put more than max calls into a
// second.
type gcra struct {
	tat       time.Time
	emission  time.Duration
	tolerance time.Duration
	max       int
	recent    []time.Time // the last max slots handed out, oldest first
	sent      []time.Time // the last max calls let through, oldest first
}

// window is the second the broker counts calls in, and a margin for the
// way from here to it.
const window = time.Second + 20*time.Millisecond

// reserve reserves the next slot at from or later and returns it, or
// reserves nothing and reports false if the slot comes after deadline
// (zero: none).
func (g *gcra) reserve(from, deadline time.Time) (time.Time, bool) {
	tat := later(g.tat, from)
	slot := later(tat.Add(-g.tolerance), from)
	if n := len(g.recent); n > 0 {
		slot = later(slot, g.recent[n-1])
		if n == g.max {
			// The broker counts the calls of the second before each
			// call: the oldest of the last max must have left it.
			slot = later(slot, g.recent[0].Add(window))
		}
	}
	if !deadline.IsZero() && slot.After(deadline) {
		return slot, false
	}
	g.tat = later(tat, slot).Add(g.emission)
	if len(g.recent) == g.max {
		g.recent = append(g.recent[:0], g.recent[1:]...)
	}
	g.recent = append(g.recent, slot)
	return slot, true
}

// letThrough lets one call through at now if fewer than max went in the
// window before it, and records it; if not, it returns when the oldest of
// them leaves the window.
func (g *gcra) letThrough(now time.Time) (time.Time, bool) {
	if len(g.sent) == g.max {
		if next := g.sent[0].Add(window); now.Before(next) {
			return next, false
		}
		g.sent = append(g.sent[:0], g.sent[1:]...)
	}
	g.sent = append(g.sent, now)
	return now, true
}

// drain empties the local share until after end: its first slot comes one
// emission after end.
func (g *gcra) drain(end time.Time) {
	g.tat = later(g.tat, end.Add(g.emission+g.tolerance))
}

// NewShared returns a Shared budget. It does no I/O.
func NewShared(cfg Config) (*Shared, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("kauth: budget: no Redis client")
	case cfg.Key == "":
		return nil, errors.New("kauth: budget: no key")
	case math.IsNaN(cfg.PerSecond) || math.IsInf(cfg.PerSecond, 0) || cfg.PerSecond < 0.001 || cfg.PerSecond > 1e6:
		return nil, fmt.Errorf("kauth: budget: calls per second %v is not in [0.001, 1e6]", cfg.PerSecond)
	case math.IsNaN(cfg.LocalShare) || cfg.LocalShare < 0 || cfg.LocalShare > 1:
		return nil, fmt.Errorf("kauth: budget: local share %v is not in (0, 1]", cfg.LocalShare)
	}
	if cfg.Burst < 1 {
		cfg.Burst = 1
	}
	if cfg.LocalShare == 0 {
		cfg.LocalShare = 0.5
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	emission := time.Duration(float64(time.Second) / cfg.PerSecond)
	localEmission := time.Duration(float64(time.Second) / (cfg.PerSecond * cfg.LocalShare))
	probe := max(cfg.Timeout, 250*time.Millisecond)
	s := &Shared{
		cfg:       cfg,
		emission:  emission,
		tolerance: emission * time.Duration(cfg.Burst-1),
		probe:     probe,
		hold:      time.Second + 2*probe,
		local: gcra{emission: localEmission, tolerance: localEmission * time.Duration(cfg.Burst-1),
			max: max(1, int(math.Floor(cfg.PerSecond*cfg.LocalShare+1e-9)))},
	}
	// The local share starts empty: a fallback comes when the shared
	// budget may just have been spent, so it must not open with a burst.
	s.local.drain(time.Now())
	return s, nil
}

// ErrWouldExceed is returned (wrapped) by Wait when the slot the budget
// has for the caller comes after the caller's deadline.
var ErrWouldExceed = errors.New("call budget: the next slot comes after the deadline")

// errUnreachable marks a failure of Redis, as opposed to the caller's.
var errUnreachable = errors.New("redis unreachable")

// Wait implements Limiter: it reserves the caller's slot in the shared
// budget and sleeps until it comes. A slot past ctx's deadline is not
// reserved, so a caller that gives up costs the others nothing. Redis
// failing never fails the call: it is paced on the local share instead.
func (s *Shared) Wait(ctx context.Context) error { return s.wait(ctx, 1) }

// wait is Wait, asking Redis again at most again times for a slot when the
// caller woke too late for the one it had.
func (s *Shared) wait(ctx context.Context, again int) error {
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline && !time.Now().Before(deadline) {
		// Past the deadline, though ctx may not say so yet: ctx.Err()
		// can still be nil for a moment, and nil would mean "go".
		return context.DeadlineExceeded
	}
	now := time.Now()
	s.mu.Lock()
	down := s.down
	tryRedis := !down || (!s.probing && now.Sub(s.lastTry) >= s.probe)
	if down && tryRedis {
		s.probing = true
		defer func() {
			s.mu.Lock()
			s.probing, s.lastTry = false, time.Now()
			s.mu.Unlock()
		}()
	}
	s.mu.Unlock()
	if !tryRedis {
		return s.waitLocal(ctx, now, deadline)
	}
	sent := time.Now()
	wait, err := s.reserve(ctx, deadline)
	switch {
	case err == nil:
		at := time.Now().Add(wait)
		if s.up(wait) {
			// The local share is a ceiling still: the call goes at its
			// slot there, after its shared one, and never sooner.
			return s.waitLocal(ctx, at, deadline)
		}
		if err := sleepUntil(ctx, at); err != nil {
			return err
		}
		if again > 0 && time.Since(at) > s.emission {
			// Woken later than the next slot: that one's caller may be
			// going now too, and the broker would see the two at once.
			// The slot is left unused, and the call takes a new one.
			return s.wait(ctx, again-1)
		}
		return nil
	case !errors.Is(err, errUnreachable):
		return err // the caller's own deadline or cancellation
	}
	s.fallDown(err, sent)
	return s.waitLocal(ctx, time.Now(), deadline)
}

// waitLocal reserves the caller's slot on the local share, at from or
// later, and sleeps until it comes.
func (s *Shared) waitLocal(ctx context.Context, from, deadline time.Time) error {
	s.mu.Lock()
	slot, ok := s.local.reserve(from, deadline)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("kauth: budget %s: %w (in %v, on the local share)", keyName(s.cfg.Key), ErrWouldExceed, time.Until(slot).Round(time.Millisecond))
	}
	for {
		if err := sleepUntil(ctx, slot); err != nil {
			return err
		}
		// Counted as the call goes, not as its slot was due: see gcra.
		s.mu.Lock()
		next, ok := s.local.letThrough(time.Now())
		s.mu.Unlock()
		if ok {
			return nil
		}
		slot = next
	}
}

// sleepUntil sleeps until t or until ctx ends. A slot left unused is one
// call's worth of the budget left unused, never one too many.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// up records an answer from Redis that gave a slot wait from now, and
// reports whether the local share is a ceiling still.
func (s *Shared) up(wait time.Duration) bool {
	now := time.Now()
	s.mu.Lock()
	// The budget's next slot, as far as this process knows: a fallback
	// must not hand out again what the others hold.
	if end := now.Add(wait + s.tolerance + s.emission); end.After(s.sharedEnd) {
		s.sharedEnd = end
	}
	s.lastReply, s.saturated = now, wait > 0
	was := s.down
	if was {
		s.down = false
		// The local share stays a ceiling while the other sharers may
		// still pace on theirs, and until their calls leave the window.
		s.ceiling = now.Add(s.hold)
	}
	ceiling := now.Before(s.ceiling)
	s.mu.Unlock()
	if was {
		s.report(nil)
	}
	return ceiling
}

// fallDown records that Redis failed with err, on a request sent at sent.
func (s *Shared) fallDown(err error, sent time.Time) {
	now := time.Now()
	s.mu.Lock()
	was := s.down
	if !was {
		s.down = true
		s.lastTry = now
		// The slots the shared budget handed out before it went silent
		// are still being spent: the local share begins after them. A
		// saturated budget handed out one more slot for each emission
		// that passed between its last answer here and the request that
		// failed, to the others.
		end := s.sharedEnd
		if s.saturated && sent.After(s.lastReply) {
			end = end.Add(sent.Sub(s.lastReply))
		}
		s.local.drain(later(now, end))
	}
	s.mu.Unlock()
	if !was {
		s.report(err)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// minTry is the least time a caller gives Redis before it is taken to have
// failed; a caller with less time left than twice that waits for Redis
// until its deadline.
const minTry = 50 * time.Millisecond

// reserve runs the reservation in Redis, waiting at most Config.Timeout
// for it (go-redis bounds a stalled read by its ReadTimeout, not by ctx),
// and at most half the time the caller has left besides what the local
// share needs, so that it still has time for the local share. An error
// that is Redis's fault wraps errUnreachable.
func (s *Shared) reserve(ctx context.Context, deadline time.Time) (time.Duration, error) {
	try := s.cfg.Timeout
	callers := false
	if !deadline.IsZero() {
		// After a fallback the local share's first slot is a local
		// emission away (see drain): Redis gets half of the time besides
		// that, so the other half is left for a caller woken late.
		left := time.Until(deadline)
		half := (left - s.local.emission - s.local.tolerance) / 2
		if half < minTry {
			half = left / 2
		}
		switch {
		case half >= try:
		case half >= minTry:
			try = half
		default:
			try, callers = left, true
		}
	}
	limit := time.Now().Add(try)
	rctx, cancel := context.WithDeadline(ctx, limit)
	defer cancel()
	us := func(d time.Duration) int64 { return d.Microseconds() }
	mw := int64(math.MaxInt32) * 1000 // ~25 days: "any wait"
	if !deadline.IsZero() {
		mw = us(time.Until(deadline))
	}
	type answer struct {
		n   int64
		err error
	}
	done := make(chan answer, 1)
	go func() {
		n, err := reserveScript.Run(rctx, s.cfg.Client, []string{s.cfg.Key},
			us(s.emission), us(s.tolerance), mw).Int64()
		done <- answer{n, err}
	}()
	var a answer
	select {
	case a = <-done:
	case <-rctx.Done():
		a.err = rctx.Err()
	}
	if a.err != nil {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if callers && !time.Now().Before(deadline) {
			// The caller's own deadline, seen a moment before ctx reports
			// it, is not Redis failing: falling back then would let the
			// call through on the local share.
			return 0, context.DeadlineExceeded
		}
		if errors.Is(a.err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("%w: no answer in %v", errUnreachable, try.Round(time.Millisecond))
		}
		return 0, fmt.Errorf("%w: %w", errUnreachable, a.err)
	}
	if a.n < 0 {
		return 0, fmt.Errorf("kauth: budget %s: %w (in %v)", keyName(s.cfg.Key), ErrWouldExceed, time.Duration(-1-a.n)*time.Microsecond)
	}
	return time.Duration(a.n) * time.Microsecond, nil
}

// inUseScript reads how far ahead of Redis's clock a GCRA budget's
// theoretical arrival time is, in µs (0 when the budget is full), reserving
// nothing. KEYS[1] is the budget's key.
var inUseScript = goredis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call("GET", KEYS[1]) or "0")
if tat < now then return 0 end
return tat - now`)

// InUse reads from Redis how many calls of the shared budget are spent
// now, by every sharer together: 0 when a whole burst may go at once,
// Config.Burst when the next call must wait, more when callers wait for
// slots already reserved. It refills at Config.PerSecond. It reserves
// nothing and waits for Redis at most Config.Timeout; while Redis cannot
// be reached it fails (the local share is this process's alone, not the
// shared figure).
func (s *Shared) InUse(ctx context.Context) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	type answer struct {
		n   int64
		err error
	}
	done := make(chan answer, 1)
	// go-redis bounds a stalled read by its ReadTimeout, not by ctx.
	go func() {
		n, err := inUseScript.Run(ctx, s.cfg.Client, []string{s.cfg.Key}).Int64()
		done <- answer{n, err}
	}()
	select {
	case a := <-done:
		if a.err != nil {
			return 0, fmt.Errorf("kauth: budget %s: %w", keyName(s.cfg.Key), a.err)
		}
		return float64(a.n) / float64(s.emission.Microseconds()), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("kauth: budget %s: %w", keyName(s.cfg.Key), ctx.Err())
	}
}

// Fallback reports whether the budget is on its local share now.
func (s *Shared) Fallback() bool { return s.fallback.Load() }

// report tells the logger and OnFallback whether the budget is down now,
// if that changed since the last report; cause is why it went down.
func (s *Shared) report(cause error) {
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	s.mu.Lock()
	on := s.down
	s.mu.Unlock()
	if s.fallback.Load() == on {
		return
	}
	s.fallback.Store(on)
	if on {
		s.cfg.Logger.Warn("kauth: shared call budget unreachable; pacing on this process's share",
			slog.String("budget", keyName(s.cfg.Key)),
			slog.Float64("per_second", s.cfg.PerSecond*s.cfg.LocalShare),
			slog.Any("err", cause))
	} else {
		s.cfg.Logger.Info("kauth: shared call budget reachable again", slog.String("budget", keyName(s.cfg.Key)))
	}
	if s.cfg.OnFallback != nil {
		s.cfg.OnFallback(on)
	}
}

// keyName is the key for messages: it holds a fingerprint, never a secret.
func keyName(k string) string { return strings.TrimSpace(k) }
