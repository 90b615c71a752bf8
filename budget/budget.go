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
// If Redis cannot be reached, a Shared budget falls back to a local limiter
// at a configured share of the rate (the share one host may use when the
// others cannot be asked), says so once through its logger and through
// OnFallback, and goes back to Redis when it answers again.
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
	// Timeout bounds one round trip to Redis before falling back. Zero
	// means 500 ms.
	Timeout time.Duration
	// Logger hears of fallbacks and recoveries. Nil means slog.Default().
	Logger *slog.Logger
	// OnFallback, if set, is called with true when the budget falls back to
	// its local share and with false when Redis answers again.
	OnFallback func(fallback bool)
}

// Shared is a Limiter whose budget is shared through Redis. It is safe for
// concurrent use.
type Shared struct {
	cfg       Config
	emission  time.Duration
	tolerance time.Duration
	local     *rate.Limiter
	fallback  atomic.Bool
	mu        sync.Mutex // serializes fallback reports
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
	local := rate.NewLimiter(rate.Limit(cfg.PerSecond*cfg.LocalShare), cfg.Burst)
	// The local share starts empty: a fallback comes when the shared
	// budget may just have been spent, so it must not open with a burst.
	local.AllowN(time.Now(), cfg.Burst)
	return &Shared{
		cfg:       cfg,
		emission:  emission,
		tolerance: emission * time.Duration(cfg.Burst-1),
		local:     local,
	}, nil
}

// ErrWouldExceed is returned (wrapped) by Wait when the slot the budget
// has for the caller comes after the caller's deadline.
var ErrWouldExceed = errors.New("call budget: the next slot comes after the deadline")

// Wait implements Limiter: it reserves the caller's slot in the shared
// budget and sleeps until it comes. A slot past ctx's deadline is not
// reserved, so a caller that gives up costs the others nothing.
func (s *Shared) Wait(ctx context.Context) error {
	maxWait := time.Duration(math.MaxInt64)
	if d, ok := ctx.Deadline(); ok {
		maxWait = time.Until(d)
		if maxWait <= 0 {
			// Past the deadline, though ctx may not say so yet: ctx.Err()
			// can still be nil for a moment, and nil would mean "go".
			return context.DeadlineExceeded
		}
	}
	wait, err := s.reserve(ctx, maxWait)
	if err != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The caller's own deadline, seen by the client a moment before
		// ctx reports it, is not Redis failing: falling back then would
		// let the call through on the local share.
		if errors.Is(err, ErrWouldExceed) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return err
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < time.Millisecond {
			return context.DeadlineExceeded
		}
		s.setFallback(true, err)
		return s.local.Wait(ctx)
	}
	s.setFallback(false, nil)
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		// The slot stays reserved: it is one call's worth of the budget
		// left unused, never one too many.
		return ctx.Err()
	}
}

func (s *Shared) reserve(ctx context.Context, maxWait time.Duration) (time.Duration, error) {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	us := func(d time.Duration) int64 { return d.Microseconds() }
	mw := us(maxWait)
	if maxWait == time.Duration(math.MaxInt64) {
		mw = math.MaxInt32 * 1000 // ~25 days: "any wait"
	}
	n, err := reserveScript.Run(rctx, s.cfg.Client, []string{s.cfg.Key},
		us(s.emission), us(s.tolerance), mw).Int64()
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, fmt.Errorf("kauth: budget %s: %w (in %v)", keyName(s.cfg.Key), ErrWouldExceed, time.Duration(-1-n)*time.Microsecond)
	}
	return time.Duration(n) * time.Microsecond, nil
}

// Fallback reports whether the budget is on its local share now.
func (s *Shared) Fallback() bool { return s.fallback.Load() }

func (s *Shared) setFallback(on bool, cause error) {
	if s.fallback.Load() == on {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fallback.Load() == on {
		return
	}
	s.fallback.Store(on)
	if on {
		s.cfg.Logger.Warn("kauth: shared call budget unreachable; pacing on this process's share",
			slog.String("budget", keyName(s.cfg.Key)),
			slog.Float64("per_second", s.cfg.PerSecond*s.cfg.LocalShare),
			slog.String("err", cause.Error()))
	} else {
		s.cfg.Logger.Info("kauth: shared call budget reachable again", slog.String("budget", keyName(s.cfg.Key)))
	}
	if s.cfg.OnFallback != nil {
		s.cfg.OnFallback(on)
	}
}

// keyName is the key for messages: it holds a fingerprint, never a secret.
func keyName(k string) string { return strings.TrimSpace(k) }
