package kauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Config's zero fields.
const (
	// DefaultRefreshAhead is how long before expiry a token is refreshed in
	// the background while still being served (the brokers' guides suggest
	// 30 minutes).
	DefaultRefreshAhead = 30 * time.Minute
	// DefaultExpiryMargin is how long before its expiry a token stops being
	// handed out, so that a request in flight does not carry a token that
	// expires on the way.
	DefaultExpiryMargin = time.Minute
	// DefaultIssueTimeout bounds one issuance, retries and waits included.
	// It is long enough to sit out KIS's once-a-minute issuance limit.
	DefaultIssueTimeout = 3 * time.Minute
	// DefaultAttemptTimeout bounds one call to the broker's token endpoint,
	// so that a hung connection is retried instead of using up the whole
	// IssueTimeout.
	DefaultAttemptTimeout = 20 * time.Second
)

// Config configures a Manager. Credentials and Provider are required; the
// zero value of every other field is a sensible default.
type Config struct {
	Credentials Credentials
	// Provider talks to the broker: kis.New() or kiwoom.New().
	Provider Provider
	// Store shares tokens beyond this Manager. If nil, Group's MemoryStore
	// for the broker URL is used, so Managers built twice for one app key
	// and one broker URL in one Group issue once between them, while a
	// simulator or a proxy at another URL keeps tokens of its own.
	Store Store
	// Group is what this Manager shares in memory with the other Managers
	// of its Group (see Group). If nil, the Manager is a group of its own:
	// with no Store it shares its tokens with no other Manager.
	Group *Group
	// RefreshAhead: inside this window before expiry the current token is
	// still served while one background refresh runs. Zero means
	// DefaultRefreshAhead; negative disables refreshing ahead.
	RefreshAhead time.Duration
	// RefreshJitter spreads the refreshes of many app keys: each key's
	// refresh-ahead window starts later by a share of RefreshJitter fixed
	// by the key (the same in every process), so that tokens issued
	// together, such as an agent's thousands of accounts at start, are not
	// all refreshed in the same minute. It is capped at half of
	// RefreshAhead, leaving the refresh room to finish. Zero means none.
	RefreshJitter time.Duration
	// ExpiryMargin: no token is handed out in its last ExpiryMargin, or in
	// the last quarter of its life when that is shorter. When the broker
	// answers with the same token at that point (Kiwoom while it is valid),
	// the Manager revokes it and issues a new one, under the store's lock.
	// Zero means DefaultExpiryMargin.
	ExpiryMargin time.Duration
	// MinIssueInterval is the least time between two issuance attempts that
	// could have issued (a token, a rate limit) for the app key, across
	// every process sharing Store. A wait for it never exceeds
	// MinIssueInterval on this Manager's Clock, whatever time a peer with
	// another clock recorded. Transient failures (5xx, reset, timeout, HTML
	// or malformed page) do not count and are retried sooner. Zero means
	// MinIssueInterval(Provider): 61 s for KIS.
	MinIssueInterval time.Duration
	// IssueTimeout bounds one issuance, retries and waits included; a wait
	// for the spacing that would outlast it fails at once with
	// ErrRateLimited. Zero means DefaultIssueTimeout. Each caller is
	// bounded by its own ctx as well.
	IssueTimeout time.Duration
	// Turnover, if set, replaces a token that would be refreshed during
	// the market's session inside a window before the session opens (see
	// Turnover). Nil: tokens are refreshed when they must be.
	Turnover *Turnover
	// AttemptTimeout bounds one call to the broker within an issuance.
	// Zero means DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// Clock is the time source. Nil means the system clock.
	Clock Clock
	// Logger receives the token events (never a secret or a whole token).
	// Nil means slog.Default().
	Logger *slog.Logger
	// OnEvent, if set, is called synchronously for every event, e.g. to
	// count them in metrics. It must not block.
	OnEvent func(Event)
}

// Manager hands out a valid token for one set of Credentials, issuing
// upstream only when it must. It is safe for concurrent use. Call Close to
// stop its background work.
type Manager struct {
	creds    Credentials
	key      Key
	provider Provider
	store    Store
	clock    Clock
	wall     bool // the fast path reads wallNs (the Clock is the system clock)
	log      *slog.Logger
	onEvent  func(Event)
	policy   policy
	origin   origin // who this process is, in the issuance history
	hub      *hub
	group    *Group

	attemptTimeout time.Duration

	cur atomic.Pointer[state] // the token being served; nil if none

	mu        sync.Mutex
	closed    bool
	flight    *call // the blocking issuance in progress, if any
	bg        bool  // a background refresh is running
	reloading bool  // a reload is running
	again     bool  // reload once more when the running one ends
	// rejected is the one record of rejections this Manager knows of:
	// token fingerprint → until when the mark holds (the token's expiry).
	// The store's Entry.Rejected carries the latest one to other processes.
	rejected  map[string]time.Time
	failErr   error // the last broker failure, served until failUntil
	failUntil time.Time
	// limitErr says the broker refused a token request for its rate limit
	// and allows the next at notBefore: callers whose deadline ends before
	// then get it at once, the others wait for the issuance that waits.
	limitErr  *Error
	notBefore time.Time
	limitSet  time.Time // when limitErr was recorded: a clock stepped back before it voids it

	ctx    context.Context // canceled by Close; parent of background work
	cancel context.CancelFunc
	wg     sync.WaitGroup // background work; Add only under mu while !closed
}

// state is an immutable snapshot of the served token with the times the
// fast path compares against, computed once when the token arrives.
type state struct {
	tok         Token
	refreshAt   time.Time // from here on, serve and refresh in the background
	turnover    bool      // refreshAt is a turnover (Config.Turnover)
	usableUntil time.Time // from here on, the token is not handed out
	// fastNs (Unix nanoseconds, wall clock): before then the token is
	// served as it is, with no refresh: the earlier of refreshAt and
	// usableUntil.
	fastNs int64
}

// call is one blocking issuance shared by every caller waiting for it.
type call struct {
	done chan struct{}
	tok  Token
	err  error
}

// NewManager returns a Manager for cfg. If the store can report changes made
// by other processes (Watcher), the Manager listens until Close.
func NewManager(cfg Config) (*Manager, error) {
	if err := cfg.Credentials.Validate(); err != nil {
		return nil, err
	}
	if cfg.Provider == nil {
		return nil, fmt.Errorf("kauth: %s %s: no Provider (use kis.New() or kiwoom.New())", cfg.Credentials.Broker, cfg.Credentials.Env)
	}
	if err := cfg.Turnover.Validate(); err != nil {
		return nil, err
	}
	if !BindsTokenToIP(cfg.Provider) {
		// Every host shares this broker's tokens, whatever its egress.
		cfg.Credentials.Egress = ""
	}
	m := &Manager{
		creds:          cfg.Credentials,
		key:            cfg.Credentials.Key(),
		provider:       cfg.Provider,
		store:          cfg.Store,
		clock:          cfg.Clock,
		log:            cfg.Logger,
		onEvent:        cfg.OnEvent,
		policy:         policyOf(cfg),
		origin:         thisProcess(),
		attemptTimeout: orDefault(cfg.AttemptTimeout, DefaultAttemptTimeout),
		rejected:       make(map[string]time.Time),
	}
	m.policy.delay = jitterDelay(m.key, m.policy.ahead, cfg.RefreshJitter)
	m.group = cfg.Group
	if m.group == nil {
		m.group = new(Group)
	}
	if m.store == nil {
		m.store = m.group.memoryStore(cfg.Provider, cfg.Credentials.Env)
	}
	if m.clock == nil {
		m.clock = SystemClock{}
	}
	_, m.wall = m.clock.(SystemClock)
	if m.log == nil {
		m.log = slog.Default()
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.hub = m.group.join(m)
	return m, nil
}

// policyOf is the policy of a Manager built on cfg.
func policyOf(cfg Config) policy {
	return policy{
		ahead:       max(orDefault(cfg.RefreshAhead, DefaultRefreshAhead), 0),
		margin:      orDefault(cfg.ExpiryMargin, DefaultExpiryMargin),
		minInterval: orDefault(cfg.MinIssueInterval, MinIssueInterval(cfg.Provider)),
		budget:      orDefault(cfg.IssueTimeout, DefaultIssueTimeout),
		turn:        cfg.Turnover,
		fresh:       SameTokenWindow(cfg.Provider),
	}
}

// PlanRefresh returns when a Manager built on cfg, serving tok at now,
// refreshes it next, and whether that refresh is a turnover
// (Config.Turnover), without building one: a tool that reads the store
// tells from it what the Managers sharing it will do.
func PlanRefresh(cfg Config, tok Token, now time.Time) (at time.Time, turnover bool) {
	return policyOf(cfg).plan(tok, now, false)
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Credentials returns the Manager's credentials.
func (m *Manager) Credentials() Credentials { return m.creds }

// Key returns the cache key of the Manager's credentials.
func (m *Manager) Key() Key { return m.key }

// Provider returns the Manager's provider.
func (m *Manager) Provider() Provider { return m.provider }

// Store returns the Manager's store.
func (m *Manager) Store() Store { return m.store }

// BaseURL returns the domain the Manager's tokens are for, without a
// trailing slash: the Provider's URL for the Credentials' Env (its BaseURL
// override, the broker's variable such as KIS_BASE_URL, or the published
// real or mock domain), so that a program builds its API requests on the
// domain that issued the token. It returns "" for a Provider that is not a
// Locator.
func (m *Manager) BaseURL() string {
	if l, ok := m.provider.(Locator); ok {
		return strings.TrimSuffix(l.URL(m.creds.Env), "/")
	}
	return ""
}

// Cached returns the token currently held in memory, without any I/O, and
// whether it may still be handed out.
func (m *Manager) Cached() (Token, bool) {
	s := m.cur.Load()
	if s == nil {
		return Token{}, false
	}
	return s.tok, m.clock.Now().Before(s.usableUntil)
}

// NextRefresh returns when the token held in memory is next refreshed
// (zero if none is held), and whether that refresh is a turnover, brought
// forward out of the market's session (Config.Turnover).
func (m *Manager) NextRefresh() (at time.Time, turnover bool) {
	s := m.cur.Load()
	if s == nil {
		return time.Time{}, false
	}
	return s.refreshAt, s.turnover
}

// Token returns a valid token: one that is not in its last ExpiryMargin.
//
// A fresh token in memory costs one atomic load and one read of the wall
// clock: no lock, no allocation, no ticker.
// Inside the refresh-ahead window the current token is returned and one
// background refresh starts. A missing or expired token makes the caller
// wait, bounded by ctx, on one issuance shared by every concurrent caller
// (and, through the Store's lock, by every process sharing the Store).
// After Close, Token still returns a usable token held in memory; when that
// is gone it returns ErrClosed.
func (m *Manager) Token(ctx context.Context) (Token, error) {
	if s := m.cur.Load(); s != nil {
		// wallNs is never earlier than the true time, read at this call:
		// however long the process was stopped or the machine suspended,
		// a token past fastNs falls through to the exact checks.
		if m.wall && wallNs() < s.fastNs {
			return s.tok, nil
		}
		now := m.clock.Now()
		if now.Before(s.refreshAt) {
			return s.tok, nil
		}
		if now.Before(s.usableUntil) {
			m.refreshInBackground(s)
			return s.tok, nil
		}
	}
	return m.wait(ctx)
}

// wait joins (or starts) the blocking issuance and waits for it or ctx.
func (m *Manager) wait(ctx context.Context) (Token, error) {
	m.mu.Lock()
	if s := m.cur.Load(); s != nil && m.clock.Now().Before(s.usableUntil) {
		// A flight finished while we took the lock.
		m.mu.Unlock()
		return s.tok, nil
	}
	if m.closed {
		m.mu.Unlock()
		return Token{}, m.closedErr()
	}
	now := m.clock.Now()
	if until := m.limitedUntilLocked(now); now.Before(until) && !outlasts(ctx, until.Sub(now)) {
		// No token request is allowed before the caller's deadline: say
		// so now, and when, rather than start an issuance it cannot see.
		err := *m.limitErr
		err.RetryAfter = until.Sub(now)
		m.mu.Unlock()
		return Token{}, &err
	}
	if m.failErr != nil && now.Before(m.failUntil) {
		// The last issuance failed moments ago: answer with its error
		// instead of calling the broker again for every caller.
		err := m.failErr
		m.mu.Unlock()
		return Token{}, err
	}
	c := m.flight
	if c == nil {
		c = &call{done: make(chan struct{})}
		m.flight = c
		m.wg.Add(1)
		go m.fly(c)
	}
	m.mu.Unlock()

	select {
	case <-c.done:
		return c.tok, c.err
	case <-ctx.Done():
		return Token{}, fmt.Errorf("kauth: %s %s: waiting for a token: %w", m.key.Broker, m.key.Env, ctx.Err())
	}
}

func (m *Manager) closedErr() error {
	return fmt.Errorf("kauth: %s %s: %w", m.key.Broker, m.key.Env, ErrClosed)
}

// fly runs one blocking issuance on a context detached from every caller,
// so that a caller giving up does not cancel the others' token.
func (m *Manager) fly(c *call) {
	defer m.wg.Done()
	ctx, cancel := context.WithTimeout(m.ctx, m.policy.budget)
	defer cancel()
	c.tok, c.err = m.refresh(ctx, false, false)
	if c.err != nil && m.ctx.Err() != nil {
		c.err = m.closedErr()
	}
	m.mu.Lock()
	m.flight = nil
	m.mu.Unlock()
	close(c.done)
}

// refreshInBackground starts one background refresh of s, unless one (or a
// blocking issuance) is already running, or the Manager is closed.
func (m *Manager) refreshInBackground(s *state) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.bg || m.flight != nil || m.cur.Load() != s {
		return
	}
	m.bg = true
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		ctx, cancel := context.WithTimeout(m.ctx, m.policy.budget)
		defer cancel()
		if _, err := m.refresh(ctx, true, s.turnover); err != nil {
			// Keep serving the valid token, and try again later rather
			// than on every call.
			next := *s
			next.refreshAt = m.policy.retryAhead(m.clock.Now(), s.usableUntil, m.limitedUntil())
			next.turnover = false
			next.setFast()
			m.cur.CompareAndSwap(s, &next)
		}
		m.mu.Lock()
		m.bg = false
		m.mu.Unlock()
	}()
}

// newState computes when tok is refreshed and until when it is handed out:
// never in its last ExpiryMargin, whatever the broker answered.
func (m *Manager) newState(tok Token, now time.Time, same bool) *state {
	// Compare on the wall clock, as the broker does: Round(0) drops the
	// monotonic reading that receipt-based expiries carry, which stops
	// while the machine is suspended.
	s := &state{tok: tok, usableUntil: m.policy.usableUntil(tok)}
	s.refreshAt, s.turnover = m.policy.plan(tok, now, same)
	s.setFast()
	return s
}

func (s *state) setFast() {
	s.fastNs = min(s.refreshAt.UnixNano(), s.usableUntil.UnixNano())
}

// set makes s the served state and clears a remembered failure, unless its
// token was reported rejected meanwhile (an Invalidate that arrived while
// the refresh ran wins). It reports whether s is served.
func (m *Manager) set(s *state) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.isRejectedLocked(s.tok.Fingerprint()) {
		return false
	}
	m.cur.Store(s)
	m.failErr, m.limitErr, m.notBefore = nil, nil, time.Time{}
	return true
}

// outlasts reports whether ctx leaves at least d: a context deadline is a
// wall-clock time, whatever m.clock says.
func outlasts(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) >= d
}

// limit records that the broker allows the next token request at at, and
// err, which says so.
func (m *Manager) limit(err *Error, at time.Time) {
	m.mu.Lock()
	m.limitErr, m.notBefore, m.limitSet = err, at, m.clock.Now()
	m.mu.Unlock()
}

// limitedUntil is when the broker allows the next token request, as far
// as this Manager heard (zero if it heard of no rate limit).
func (m *Manager) limitedUntil() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.limitedUntilLocked(m.clock.Now())
}

// limitedUntilLocked is limitedUntil at now; the caller holds m.mu. A
// record made later than now (the clock stepped back since) holds nothing
// back: the store's RetryAt, bounded, still does.
func (m *Manager) limitedUntilLocked(now time.Time) time.Time {
	if m.limitErr == nil || now.Before(m.limitSet) {
		return time.Time{}
	}
	return m.notBefore
}

// limitedErr is the error that says the broker allows the next token
// request at at, after it refused cause for its rate limit; it keeps the
// broker's code.
func (m *Manager) limitedErr(cause error, at time.Time) *Error {
	e := m.errorf(ErrRateLimited, "%s", limitedWhy(at))
	e.RetryAfter = at.Sub(m.clock.Now())
	var be *Error
	if errors.As(cause, &be) {
		e.Code, e.StatusCode = be.Code, be.StatusCode
	}
	return e
}

// remember makes callers get err, without another upstream call, for d.
func (m *Manager) remember(err error, d time.Duration) {
	m.mu.Lock()
	m.failErr, m.failUntil = err, m.clock.Now().Add(d)
	m.mu.Unlock()
}

// markRejected records that the broker rejected the token fp, which expires
// at exp, and drops it if it is served. The caller holds m.mu.
func (m *Manager) markRejectedLocked(fp string, exp time.Time) (dropped *state) {
	now := m.clock.Now()
	for k, until := range m.rejected {
		if !now.Before(until) {
			delete(m.rejected, k)
		}
	}
	if exp.IsZero() || !exp.After(now) {
		exp = now.Add(24 * time.Hour)
	}
	m.rejected[fp] = exp
	m.failErr = nil
	if s := m.cur.Load(); s != nil && s.tok.Fingerprint() == fp && m.cur.CompareAndSwap(s, nil) {
		return s
	}
	return nil
}

func (m *Manager) isRejectedLocked(fp string) bool {
	until, ok := m.rejected[fp]
	return ok && m.clock.Now().Before(until)
}

func (m *Manager) isRejected(fp string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.isRejectedLocked(fp)
}

func (m *Manager) unmark(fp string) {
	m.mu.Lock()
	delete(m.rejected, fp)
	m.mu.Unlock()
}

func (m *Manager) failed(err error) error {
	m.emit(Event{Kind: EventFailed, Key: m.key, Err: err})
	return err
}

func (m *Manager) emit(ev Event) {
	level := slog.LevelInfo
	attrs := []any{"key", m.key.String()}
	if ev.Token != "" {
		attrs = append(attrs, "token", ev.Token, "expires", ev.ExpiresAt.In(KST).Format(time.RFC3339))
	}
	if ev.Source != "" {
		attrs = append(attrs, "source", ev.Source)
	}
	if ev.Duration > 0 {
		name := "took"
		if ev.Kind == EventWaiting {
			name = "wait"
		}
		attrs = append(attrs, name, ev.Duration.Round(time.Millisecond))
	}
	if ev.Turnover {
		attrs = append(attrs, "reason", "turnover")
	}
	if ev.Err != nil {
		level = slog.LevelError
		if ev.Kind == EventStoreFailed {
			level = slog.LevelWarn
		}
		attrs = append(attrs, "err", ev.Err)
	}
	m.log.Log(context.Background(), level, "kauth: token "+string(ev.Kind), attrs...)
	if m.onEvent != nil {
		m.onEvent(ev)
	}
}

// Invalidate reports that the broker rejected token. It is recorded, so
// that no later refresh adopts it again from the store, and if it is the
// token being served it is dropped and the next Token call gets a new one.
// A token that was already replaced is left alone, so that a late report
// about an old token cannot throw away a newer one. Invalidate reports
// whether it dropped the served token.
func (m *Manager) Invalidate(token string) bool {
	if token == "" {
		return false
	}
	fp := Fingerprint(token)
	var exp time.Time
	if s := m.cur.Load(); s != nil && s.tok.AccessToken == token {
		exp = s.tok.ExpiresAt
	}
	m.mu.Lock()
	s := m.markRejectedLocked(fp, exp)
	m.mu.Unlock()
	if s == nil {
		return false
	}
	m.emit(Event{Kind: EventInvalidated, Key: m.key, Token: fp, ExpiresAt: s.tok.ExpiresAt})
	return true
}

// Close stops the Manager's background work and waits for it. After Close,
// calls that need I/O (an issuance, a refresh, Revoke) return ErrClosed;
// Token still returns a token held in memory while it is usable, never one
// past its time. Close is safe to call more than once.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	m.hub.leave(m)
	return nil
}

func (m *Manager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}
