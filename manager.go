package kauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
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
	// Store shares tokens beyond this Manager. If nil, a process-wide
	// MemoryStore per broker URL is used, so Managers built twice for one
	// app key and one broker URL in one process issue once between them,
	// while a simulator or a proxy at another URL keeps tokens of its own.
	Store Store
	// RefreshAhead: inside this window before expiry the current token is
	// still served while one background refresh runs. Zero means
	// DefaultRefreshAhead; negative disables refreshing ahead.
	RefreshAhead time.Duration
	// ExpiryMargin: a token is not handed out in its last ExpiryMargin.
	// Zero means DefaultExpiryMargin.
	ExpiryMargin time.Duration
	// MinIssueInterval is the least time between two issuance attempts for
	// the app key, across every process sharing Store. Zero means
	// MinIssueInterval(Credentials.Broker): 61 s for KIS.
	MinIssueInterval time.Duration
	// IssueTimeout bounds one issuance, retries included. Zero means
	// DefaultIssueTimeout. Each caller is bounded by its own ctx as well.
	IssueTimeout time.Duration
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
	coarse   bool // the fast path reads the coarse clock (Config.Clock is nil)
	log      *slog.Logger
	onEvent  func(Event)

	ahead, margin, minInterval, issueTimeout, attemptTimeout time.Duration

	cur atomic.Pointer[state] // the token being served; nil if none

	mu        sync.Mutex
	flight    *call  // the blocking issuance in progress, if any
	bg        bool   // a background refresh is running
	rejected  string // fingerprint of the last token reported rejected
	failErr   error  // the last flight's failure, served until failUntil
	failUntil time.Time

	ctx       context.Context // canceled by Close; parent of background work
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// state is an immutable snapshot of the served token with the times the
// fast path compares against, computed once when the token arrives.
type state struct {
	tok         Token
	refreshAt   time.Time // from here on, serve and refresh in the background
	usableUntil time.Time // from here on, the token is not handed out
	// fastNs (Unix nanoseconds): until then the token is fresh by a wide
	// margin, so the coarse clock may decide it. It stays coarseGuard short
	// of usableUntil, so that however late the coarse clock runs, the
	// decisions near a boundary are taken on the exact clock.
	fastNs int64
}

// coarseGuard is how close to the end of a token's use the coarse clock
// stops deciding. A coarse clock delayed by scheduling or GC for less than
// this cannot hand out a token past its time.
const coarseGuard = time.Second

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
	m := &Manager{
		creds:          cfg.Credentials,
		key:            cfg.Credentials.Key(),
		provider:       cfg.Provider,
		store:          cfg.Store,
		clock:          cfg.Clock,
		log:            cfg.Logger,
		onEvent:        cfg.OnEvent,
		ahead:          orDefault(cfg.RefreshAhead, DefaultRefreshAhead),
		margin:         orDefault(cfg.ExpiryMargin, DefaultExpiryMargin),
		minInterval:    orDefault(cfg.MinIssueInterval, MinIssueInterval(cfg.Credentials.Broker)),
		issueTimeout:   orDefault(cfg.IssueTimeout, DefaultIssueTimeout),
		attemptTimeout: orDefault(cfg.AttemptTimeout, DefaultAttemptTimeout),
	}
	if m.store == nil {
		m.store = defaultStore(cfg.Provider, cfg.Credentials.Env)
	}
	if m.clock == nil {
		m.clock = SystemClock{}
		m.coarse = true
		coarse.acquire()
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.ahead < 0 {
		m.ahead = 0
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if w, ok := m.store.(Watcher); ok {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.watch(w)
		}()
	}
	return m, nil
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

// Cached returns the token currently held in memory, without any I/O, and
// whether it may still be handed out.
func (m *Manager) Cached() (Token, bool) {
	s := m.cur.Load()
	if s == nil {
		return Token{}, false
	}
	return s.tok, m.clock.Now().Before(s.usableUntil)
}

// Token returns a valid token.
//
// A fresh token in memory costs one atomic load: no lock, no allocation.
// Inside the refresh-ahead window the current token is returned and one
// background refresh starts. A missing or expired token makes the caller
// wait, bounded by ctx, on one issuance shared by every concurrent caller
// (and, through the Store's lock, by every process sharing the Store).
func (m *Manager) Token(ctx context.Context) (Token, error) {
	if s := m.cur.Load(); s != nil {
		if m.coarse && coarse.now.Load() < s.fastNs {
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
	if m.failErr != nil && m.clock.Now().Before(m.failUntil) {
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

// fly runs one blocking issuance on a context detached from every caller,
// so that a caller giving up does not cancel the others' token.
func (m *Manager) fly(c *call) {
	defer m.wg.Done()
	ctx, cancel := context.WithTimeout(m.ctx, m.issueTimeout)
	defer cancel()
	c.tok, c.err = m.refresh(ctx, false)

	m.mu.Lock()
	m.flight = nil
	if c.err != nil {
		m.failErr = c.err
		m.failUntil = m.clock.Now().Add(max(m.minInterval, 5*time.Second))
	} else {
		m.failErr = nil
	}
	m.mu.Unlock()
	close(c.done)
}

// refreshInBackground starts one background refresh of s, unless one (or a
// blocking issuance) is already running.
func (m *Manager) refreshInBackground(s *state) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bg || m.flight != nil || m.cur.Load() != s {
		return
	}
	m.bg = true
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		ctx, cancel := context.WithTimeout(m.ctx, m.issueTimeout)
		defer cancel()
		if _, err := m.refresh(ctx, true); err != nil {
			// Keep serving the valid token, and try again later rather
			// than on every call.
			now := m.clock.Now()
			retry := now.Add(max(s.usableUntil.Sub(now)/4, m.minInterval))
			next := *s
			next.refreshAt = earlier(retry.Round(0), s.usableUntil)
			next.setFast()
			m.cur.CompareAndSwap(s, &next)
		}
		m.mu.Lock()
		m.bg = false
		m.mu.Unlock()
	}()
}

// refresh is the critical section: under the store's lock it reads the
// shared entry, adopts a token another process already got, or issues one,
// and writes the result back. ahead is true for a background refresh of a
// token that is still valid.
func (m *Manager) refresh(ctx context.Context, ahead bool) (Token, error) {
	lease, err := m.store.Lock(ctx, m.key)
	if err != nil {
		if ctx.Err() != nil {
			return Token{}, fmt.Errorf("kauth: %s %s: waiting for the store lock: %w", m.key.Broker, m.key.Env, err)
		}
		// The brokers answer a re-issue with the same token, so issuing
		// without the shared lock costs at most a duplicate call, while
		// waiting would leave the caller without a token.
		m.log.Warn("kauth: store lock unavailable; issuing without it", "key", m.key.String(), "err", err)
		lease = nil
	} else {
		defer lease.Unlock()
	}

	e, err := m.store.Load(ctx, m.key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		m.log.Warn("kauth: store read failed; treating as empty", "key", m.key.String(), "err", err)
	}
	if err != nil {
		e = Entry{}
	}
	m.mu.Lock()
	rejected := m.rejected
	m.mu.Unlock()
	if fp := e.Token.Fingerprint(); e.Token.AccessToken != "" && (fp == rejected || fp == e.Rejected) {
		e.Token = Token{}
	}

	now := m.clock.Now()
	prev := m.cur.Load()
	if st := m.newState(e.Token, now, false); e.Token.AccessToken != "" && now.Before(st.usableUntil) {
		// Another process (or an earlier run) holds a usable token. Take it
		// unless this is a refresh ahead and it is as old as ours.
		if !ahead || now.Before(st.refreshAt) {
			m.set(st)
			m.emit(Event{Kind: EventReused, Key: m.key, Token: e.Token.Fingerprint(), ExpiresAt: e.Token.ExpiresAt, Source: "store"})
			return e.Token, nil
		}
	}

	if next := e.LastIssue.Add(m.minInterval); now.Before(next) {
		if e.Token.AccessToken != "" && now.Before(e.Token.ExpiresAt.Add(-m.margin)) {
			// Too soon to issue again, and what we have still works.
			st := m.newState(e.Token, now, false)
			st.refreshAt = earlier(next.Round(0), st.usableUntil)
			st.setFast()
			m.set(st)
			return e.Token, nil
		}
		m.emit(Event{Kind: EventWaiting, Key: m.key, Duration: next.Sub(now)})
		if err := m.clock.Sleep(ctx, next.Sub(now)); err != nil {
			return Token{}, m.failed(fmt.Errorf("kauth: %s %s: waiting for the issuance interval: %w", m.key.Broker, m.key.Env, err))
		}
	}

	tok, took, err := m.issue(ctx, lease, &e)
	if err != nil {
		return Token{}, m.failed(err)
	}
	if tok.Fingerprint() == rejected || (e.Rejected != "" && tok.Fingerprint() == e.Rejected) {
		// Handing it out now would only loop between the broker's rejection
		// and its re-issue: fail this round. The failure is remembered for
		// a while (see fly), after which the mark is gone and the token is
		// tried again, so a rejection that was a passing glitch heals
		// itself and one that was not costs one issuance a minute at most.
		m.mu.Lock()
		if m.rejected == tok.Fingerprint() {
			m.rejected = ""
		}
		m.mu.Unlock()
		e.Token, e.Rejected = Token{}, ""
		m.save(ctx, lease, e)
		return Token{}, m.failed(&Error{
			Broker: m.key.Broker, Env: m.key.Env, Op: "issue", Kind: ErrTokenReturnedAgain,
			Message: "wait for it to expire, or revoke it (kauth revoke) so the broker mints a new one",
		})
	}

	now = m.clock.Now()
	same := (prev != nil && prev.tok.AccessToken == tok.AccessToken) || e.Token.AccessToken == tok.AccessToken
	kind := EventIssued
	switch {
	case same:
		kind = EventReused
	case prev != nil && now.Before(prev.tok.ExpiresAt):
		kind = EventRefreshed
	}
	e.Token = tok
	m.save(ctx, lease, e)
	m.set(m.newState(tok, now, same))
	m.emit(Event{Kind: kind, Key: m.key, Token: tok.Fingerprint(), ExpiresAt: tok.ExpiresAt, Source: "broker", Duration: took})
	return tok, nil
}

// issue calls the broker, retrying what is worth retrying with exponential
// backoff and jitter, and never sooner than the issuance interval. Each
// attempt is recorded in the store before it is made, so that the interval
// holds across processes and crashes.
func (m *Manager) issue(ctx context.Context, lease Lease, e *Entry) (Token, time.Duration, error) {
	backoff := 500 * time.Millisecond
	begin := m.clock.Now()
	for attempt := 1; ; attempt++ {
		start := m.clock.Now()
		e.LastIssue = start
		m.save(ctx, lease, *e)
		actx, cancel := context.WithTimeout(ctx, m.attemptTimeout)
		tok, err := m.provider.Issue(actx, m.creds)
		cancel()
		took := m.clock.Now().Sub(start)
		if err == nil {
			if tok.AccessToken == "" {
				return Token{}, took, &Error{Broker: m.key.Broker, Env: m.key.Env, Op: "issue", Kind: ErrUnavailable, Message: "empty token in the broker's answer"}
			}
			return tok, took, nil
		}
		if ctx.Err() != nil || !Retryable(err) {
			return Token{}, took, err
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		if ra := RetryAfter(err); ra > wait {
			wait = ra
		}
		if spacing := m.minInterval - took; spacing > wait {
			wait = spacing
		}
		// IssueTimeout is a budget on the Manager's clock; a context deadline
		// is a wall-clock time, whatever m.clock says. Stop before either
		// would run out during the wait.
		if m.clock.Now().Add(wait).Sub(begin) > m.issueTimeout {
			return Token{}, took, err
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return Token{}, took, err
		}
		m.log.Warn("kauth: issuance failed; retrying", "key", m.key.String(), "attempt", attempt, "wait", wait.Round(time.Millisecond), "err", err)
		if err := m.clock.Sleep(ctx, wait); err != nil {
			return Token{}, took, err
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// newState computes when tok should be refreshed and until when it is
// handed out. same says the broker just answered a refresh with the token
// we had: it will not mint a new one yet (KIS within 6 h of the last issue,
// Kiwoom while the token is valid), so try again later rather than on
// every call, and serve the token to its end.
func (m *Manager) newState(tok Token, now time.Time, same bool) *state {
	// Compare on the wall clock, as the broker does: Round(0) drops the
	// monotonic reading that receipt-based expiries carry, which stops
	// while the machine is suspended.
	exp, now := tok.ExpiresAt.Round(0), now.Round(0)
	s := &state{tok: tok, usableUntil: exp.Add(-m.margin)}
	s.refreshAt = exp.Add(-m.ahead)
	if issued := tok.IssuedAt.Round(0); !issued.IsZero() && exp.After(issued) {
		// A short-lived token is not refreshed in the first three quarters
		// of its life, however wide the window.
		s.refreshAt = later(s.refreshAt, issued.Add(exp.Sub(issued)*3/4))
	}
	if same {
		s.usableUntil = exp
		s.refreshAt = later(s.refreshAt, now.Add(max(exp.Sub(now)/2, 5*time.Minute, m.minInterval)))
	}
	if s.refreshAt.After(s.usableUntil) {
		s.refreshAt = s.usableUntil
	}
	s.setFast()
	return s
}

func (s *state) setFast() {
	s.fastNs = min(s.refreshAt.UnixNano(), s.usableUntil.Add(-coarseGuard).UnixNano())
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// set makes s the served state and clears a remembered failure.
func (m *Manager) set(s *state) {
	m.cur.Store(s)
	m.mu.Lock()
	m.failErr = nil
	m.mu.Unlock()
}

func (m *Manager) save(ctx context.Context, lease Lease, e Entry) {
	var err error
	if lease != nil {
		err = lease.Save(ctx, e)
	} else {
		err = m.store.Save(ctx, m.key, e)
	}
	if err != nil {
		m.log.Warn("kauth: store write failed", "key", m.key.String(), "err", err)
	}
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
	if ev.Err != nil {
		level = slog.LevelError
		attrs = append(attrs, "err", ev.Err)
	}
	m.log.Log(context.Background(), level, "kauth: token "+string(ev.Kind), attrs...)
	if m.onEvent != nil {
		m.onEvent(ev)
	}
}

// Invalidate reports that the broker rejected token. If token is the one
// being served, it is dropped, and the next Token call gets a new one; a
// token that was already replaced is left alone, so that a late report
// about an old token cannot throw away a newer one. Invalidate reports
// whether it dropped the served token.
func (m *Manager) Invalidate(token string) bool {
	if token == "" {
		return false
	}
	fp := Fingerprint(token)
	m.mu.Lock()
	m.rejected = fp
	m.failErr = nil
	m.mu.Unlock()
	s := m.cur.Load()
	if s == nil || s.tok.AccessToken != token || !m.cur.CompareAndSwap(s, nil) {
		return false
	}
	m.emit(Event{Kind: EventInvalidated, Key: m.key, Token: fp, ExpiresAt: s.tok.ExpiresAt})
	return true
}

// Revoke revokes the current token at the broker and forgets it in memory
// and in the store. Every other holder of the same token (other processes,
// other hosts) loses it too: the brokers hand one token to an app key.
func (m *Manager) Revoke(ctx context.Context) error {
	lease, err := m.store.Lock(ctx, m.key)
	if err != nil {
		return fmt.Errorf("kauth: %s %s: revoke: %w", m.key.Broker, m.key.Env, err)
	}
	defer lease.Unlock()
	e, err := m.store.Load(ctx, m.key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		m.log.Warn("kauth: store read failed", "key", m.key.String(), "err", err)
	}
	tok := e.Token
	if tok.AccessToken == "" {
		if s := m.cur.Load(); s != nil {
			tok = s.tok
		}
	}
	if tok.AccessToken == "" {
		return nil
	}
	if err := m.provider.Revoke(ctx, m.creds, tok.AccessToken); err != nil && !errors.Is(err, ErrTokenRejected) {
		return m.failed(err)
	}
	fp := tok.Fingerprint()
	m.mu.Lock()
	m.rejected = fp
	m.mu.Unlock()
	m.cur.Store(nil)
	e.Token, e.Rejected = Token{}, fp
	if err := lease.Save(ctx, e); err != nil {
		return fmt.Errorf("kauth: %s %s: revoked, but the store kept the token: %w", m.key.Broker, m.key.Env, err)
	}
	m.emit(Event{Kind: EventRevoked, Key: m.key, Token: fp, ExpiresAt: tok.ExpiresAt})
	return nil
}

// watch follows other processes' changes to the shared entry: a new token
// is adopted, a revoked or rejected one is dropped.
func (m *Manager) watch(w Watcher) {
	backoff := time.Second
	for first := true; m.ctx.Err() == nil; first = false {
		if !first {
			// Changes made while the watch was down were not reported.
			m.reload()
		}
		err := w.Watch(m.ctx, func(c Change) {
			if c.Resync || c.Key == m.key {
				m.reload()
			}
		})
		if m.ctx.Err() != nil {
			return
		}
		m.log.Warn("kauth: store watch ended; retrying", "key", m.key.String(), "err", err)
		if m.clock.Sleep(m.ctx, backoff) != nil {
			return
		}
		backoff = min(backoff*2, time.Minute)
	}
}

// reload reads the shared entry without the lock (a read is atomic) and
// brings the served token in line with it.
func (m *Manager) reload() {
	ctx, cancel := context.WithTimeout(m.ctx, 10*time.Second)
	defer cancel()
	e, err := m.store.Load(ctx, m.key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return
	}
	m.mu.Lock()
	rejected := m.rejected
	m.mu.Unlock()
	s := m.cur.Load()
	now := m.clock.Now()
	fp := e.Token.Fingerprint()
	switch {
	case s != nil && e.Token.AccessToken == s.tok.AccessToken:
	case e.Token.AccessToken != "" && fp != e.Rejected && fp != rejected && now.Before(e.Token.ExpiresAt.Add(-m.margin)):
		m.cur.CompareAndSwap(s, m.newState(e.Token, now, false))
	case s != nil:
		// Revoked or invalidated elsewhere.
		m.cur.CompareAndSwap(s, nil)
	}
}

// Close stops the Manager's background work and waits for it. After Close,
// Token still returns a token held in memory, but issues no new one.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.cancel()
		m.wg.Wait()
		if m.coarse {
			coarse.release()
		}
	})
	return nil
}
