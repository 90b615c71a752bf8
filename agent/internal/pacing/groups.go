// Package pacing paces an app key's proxied calls: each client's turns at
// the app key's call budget (Turns), the per-group budgets of a broker that
// limits calls per API group (Groups), and the wait for a call's turn in a
// limiter or a budget shared with other agents (Pace).
package pacing

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/budget"
	"github.com/kauth/kauth/internal/wire"
)

// groupRater is implemented by a Provider whose broker limits calls per API
// group rather than per app key (Toss: ACCOUNT 1 a second, MARKET_DATA 15,
// …). RateGroup names the group of a call to path (relative to the
// broker's domain) and the calls per second the broker documents for it at
// now; "" for a call of no known group, which the account's own budget
// paces.
type groupRater interface {
	RateGroup(method, path string, now time.Time) (group string, perSecond float64)
}

// groupShare is the share of a group's limit the agent paces to, as for a
// broker's per-app-key limit.
const groupShare = 0.9

// Groups paces one account's calls per API group, each group on its
// own (shared with the app key's other agents when Options.SharedBudget
// is set), so that a slow group (ACCOUNT) never holds up a fast one
// (MARKET_DATA). It follows what the broker tells in every answer:
// X-RateLimit-Limit, the limit in force, wins over the documented one;
// X-RateLimit-Remaining 0 holds the group's next call for
// X-RateLimit-Reset seconds; a 429 holds it for Retry-After (1 s without
// one). The waits run on the wall clock, as the account's own limiter does;
// the documented limit is read at the agent's clock (a peak window).
type Groups struct {
	rater groupRater
	now   func() time.Time // the agent's clock
	base  string           // the account's base path, cut from request paths
	// share, if not nil, builds a group's budget shared with the other
	// agents of the app key (Options.SharedBudget), or returns nil to pace
	// the group on this agent's own.
	share func(group string, perSecond float64) *budget.Shared

	mu     sync.Mutex
	groups map[string]*Group
}

// Group is one API group's pacing.
type Group struct {
	name   string
	lim    *rate.Limiter
	shared *budget.Shared // if not nil, in place of lim

	mu         sync.Mutex
	documented float64   // the documented limit last applied
	told       float64   // X-RateLimit-Limit, 0 until an answer told it
	notBefore  time.Time // no call before this wall time
}

// NewGroups returns the group budgets of an account whose provider is
// p at base, or nil if p's broker has no groups.
func NewGroups(p kauth.Provider, base string, now func() time.Time, share func(string, float64) *budget.Shared) *Groups {
	r, ok := p.(groupRater)
	if !ok {
		return nil
	}
	return &Groups{rater: r, now: now, base: strings.TrimSuffix(base, "/"), share: share, groups: make(map[string]*Group)}
}

// Of returns the budget of req's group, or nil for a call of no group.
func (g *Groups) Of(req *http.Request) *Group {
	if g == nil {
		return nil
	}
	path := strings.TrimPrefix(req.URL.Path, g.base)
	name, perSecond := g.rater.RateGroup(req.Method, path, g.now())
	if name == "" || perSecond <= 0 {
		return nil
	}
	g.mu.Lock()
	b := g.groups[name]
	if b == nil {
		b = &Group{name: name, lim: rate.NewLimiter(rate.Limit(perSecond*groupShare), 1), documented: perSecond}
		if g.share != nil {
			b.shared = g.share(name, perSecond*groupShare)
		}
		g.groups[name] = b
	}
	g.mu.Unlock()
	b.mu.Lock()
	if b.told == 0 && b.documented != perSecond {
		// The documented limit changed with the hour (ORDER_INFO's peak).
		b.documented = perSecond
		b.lim.SetLimit(rate.Limit(perSecond * groupShare))
	}
	b.mu.Unlock()
	return b
}

// Wait blocks until the group's next call may go, or fails at once with a
// rate-limit error if ctx's deadline would pass first.
func (b *Group) Wait(ctx context.Context, c kauth.Credentials) error {
	b.mu.Lock()
	hold := time.Until(b.notBefore)
	b.mu.Unlock()
	if hold > 0 {
		if err := sleepCtx(ctx, hold, c); err != nil {
			return err
		}
	}
	_, err := Pace(ctx, c, b.shared, b.lim)
	return err
}

// Pace waits for a call's turn in shared, if set, else in lim: it fails
// at once with a rate-limit error if the turn comes after ctx's deadline,
// and with ctx's error if ctx ends while waiting. queued reports whether
// the call stood in line (a shared budget's wait, or a delay of lim),
// which is what the waits metric counts.
func Pace(ctx context.Context, c kauth.Credentials, shared *budget.Shared, lim *rate.Limiter) (queued bool, err error) {
	if shared != nil {
		err := shared.Wait(ctx)
		if errors.Is(err, budget.ErrWouldExceed) {
			return true, &kauth.Error{Broker: c.Broker, Env: c.Env, Op: "call", Kind: kauth.ErrRateLimited, Code: "agent", Err: ErrRateWait}
		}
		return true, err
	}
	r := lim.Reserve()
	if !r.OK() {
		return false, ErrRateWait
	}
	d := r.Delay()
	if d <= 0 {
		return false, nil
	}
	if err := tooLate(ctx, d, c); err != nil {
		r.Cancel()
		return false, err
	}
	// The wall clock, as the limiters count.
	if err := (kauth.SystemClock{}).Sleep(ctx, d); err != nil {
		r.Cancel()
		return true, err
	}
	return true, nil
}

// ErrRateWait reports a request whose deadline would pass before its turn.
var ErrRateWait = errors.New("agent: the request's deadline would pass while waiting for the app key's rate limit")

// sleepCtx waits d, or fails at once with a rate-limit error if ctx's
// deadline comes first, or with ctx's error if it ends while waiting.
func sleepCtx(ctx context.Context, d time.Duration, c kauth.Credentials) error {
	if d <= 0 {
		return nil
	}
	if err := tooLate(ctx, d, c); err != nil {
		return err
	}
	return kauth.SystemClock{}.Sleep(ctx, d) // the wall clock, as the limiters count
}

// tooLate is the rate-limit error of a wait of d that would outlast ctx's
// deadline, or nil.
func tooLate(ctx context.Context, d time.Duration, c kauth.Credentials) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return &kauth.Error{Broker: c.Broker, Env: c.Env, Op: "call",
			Kind: kauth.ErrRateLimited, Code: "agent", RetryAfter: d, Err: ErrRateWait}
	}
	return nil
}

// Observe applies what resp, the answer of one of the group's calls, says
// of the group's limit.
func (b *Group) Observe(resp *http.Response) {
	if resp == nil {
		return
	}
	h := resp.Header
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if l, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Limit"))); err == nil && l > 0 && float64(l) != b.told {
		b.told = float64(l)
		b.lim.SetLimit(rate.Limit(float64(l) * groupShare))
	}
	var hold time.Duration
	if rem, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining"))); err == nil && rem <= 0 {
		// "X-RateLimit-Reset: 토큰 1 개가 재충전될 때까지 예상 초" — seconds,
		// relative.
		if reset, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Reset"))); err == nil && reset > 0 && reset <= 3600 {
			hold = time.Duration(reset) * time.Second
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		ra := wire.RetryAfter(h, now)
		if ra <= 0 {
			ra = time.Second
		}
		hold = max(hold, ra)
	}
	if hold > 0 && now.Add(hold).After(b.notBefore) {
		b.notBefore = now.Add(hold)
	}
}
