package kauth

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// This file is the runner: it performs the I/O that the policy decides on
// (store, lock, broker) and nothing else decides.

// errLeaseLost is what a refresh returns when its lease was lost: the
// caller locks again and reads what the new holder wrote.
var errLeaseLost = fmt.Errorf("kauth: refresh stopped: %w", ErrLeaseLost)

// refresh is the critical section: under the store's lock it reads the
// shared entry, adopts a token another process already got, or issues one,
// and writes the result back. ahead is true for a background refresh of a
// token that is still valid. If the lease is lost on the way, it writes
// nothing and starts again under a new lease, adopting what the new holder
// wrote. turnover says the refresh is a turnover (Config.Turnover): a new
// token it gets is reported and recorded as one.
func (m *Manager) refresh(ctx context.Context, ahead, turnover bool) (Token, error) {
	var orphan Token // a token the broker gave under a lease lost before it was saved
	for try := 0; ; try++ {
		tok, err := m.refreshOnce(ctx, ahead, turnover, &orphan)
		if !errors.Is(err, ErrLeaseLost) || try == 2 || ctx.Err() != nil {
			return tok, err
		}
		m.log.Warn("kauth: store lease lost during a refresh; reading the store again", "key", m.key.String())
	}
}

func (m *Manager) refreshOnce(ctx context.Context, ahead, turnover bool, orphan *Token) (Token, error) {
	begin := m.clock.Now()
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
		// Stop waiting and calling as soon as the lease is lost.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-lease.Done():
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	lost := func() bool { return lease != nil && lease.Err() != nil && !errors.Is(lease.Err(), context.Canceled) }

	e := m.load(ctx)
	now := m.clock.Now()
	o := *orphan
	d := m.policy.beforeIssue(before{
		now: now, stored: e, marked: m.marked(e.Token),
		orphan: o, orphanMarked: m.marked(o),
		ahead: ahead, spent: now.Sub(begin), notBefore: m.limitedUntil(),
	})
	e = d.entry
	if d.save {
		m.save(ctx, lease, e)
	}
	switch d.verb {
	case accept:
		*orphan = Token{}
		return m.accept(ctx, lease, e, d.tok, d.same, d.event, 0, turnover)
	case adopt:
		if !m.set(m.newState(d.tok, now, false)) {
			return Token{}, m.failed(m.errorf(ErrTokenRejected, "the stored token was reported rejected"))
		}
		m.emit(Event{Kind: d.event, Key: m.key, Token: d.tok.Fingerprint(), ExpiresAt: d.tok.ExpiresAt, Source: "store"})
		return d.tok, nil
	case keep:
		st := m.newState(d.tok, now, false)
		st.refreshAt, st.turnover = earlier(d.at.Round(0), st.usableUntil), false
		st.setFast()
		if !m.set(st) {
			return Token{}, m.failed(m.errorf(ErrTokenRejected, "the stored token was reported rejected"))
		}
		return d.tok, nil
	case fail:
		err := &Error{Broker: m.key.Broker, Env: m.key.Env, Op: "issue", Kind: d.err, RetryAfter: d.d, Message: d.why}
		if !d.at.IsZero() {
			m.limit(err, d.at)
		}
		return Token{}, m.failed(err)
	case waitFor:
		if !d.at.IsZero() {
			// A rate limit, heard here or from the store: callers whose
			// deadline ends before the wait get told so at once.
			m.limit(m.limitedErr(nil, d.at), d.at)
		}
		if err := m.waitSpacing(ctx, d.d); err != nil {
			if lost() {
				return Token{}, errLeaseLost
			}
			return Token{}, m.failed(err)
		}
	}

	var served *Token
	if prev := m.cur.Load(); prev != nil {
		served = &prev.tok
	}
	again := false
	for {
		tok, took, err := m.issue(ctx, lease, &e, begin)
		if lost() {
			if tok.AccessToken != "" {
				*orphan = tok
			}
			return Token{}, errLeaseLost
		}
		if err != nil {
			if at := e.RetryAt; errors.Is(err, ErrRateLimited) && m.clock.Now().Before(at) {
				// Remembered (limit, in issue) until the broker allows
				// the next request, and recorded in the store for the
				// other processes: no caller starts another issuance
				// before then.
				err = m.limitedErr(err, at)
			} else if m.ctx.Err() == nil && ctx.Err() == nil {
				m.remember(err, m.policy.holdFor(err))
			}
			return Token{}, m.failed(err)
		}
		now = m.clock.Now()
		after := m.policy.afterIssue(answer{
			now: now, asked: now.Add(-took), tok: tok, marked: m.marked(tok),
			served: served, stored: e.Token, again: again,
		})
		switch after.verb {
		case accept:
			e.Token = after.tok
			return m.accept(ctx, lease, e, after.tok, after.same, after.event, took, turnover)
		case fail:
			e.History = recorded(e.History, issueRecord(m.origin, m.clock.Now(), false, after.err))
			if after.forget {
				m.unmark(after.tok.Fingerprint())
				e.Token, e.Rejected = Token{}, ""
			}
			m.save(ctx, lease, e)
			err := m.errorf(after.err, "%s", after.why)
			m.remember(err, after.hold)
			return Token{}, m.failed(err)
		case revoke:
			// The same token, in its last margin: revoke it so that the
			// broker mints a new one. The store is marked first, as Revoke
			// does, so that a process killed once the broker revoked it
			// leaves it unserved.
			rfp := after.tok.Fingerprint()
			e.Revoking = rfp
			if errors.Is(m.save(ctx, lease, e), ErrLeaseLost) {
				return Token{}, errLeaseLost
			}
			err := m.provider.Revoke(ctx, m.creds, after.tok.AccessToken)
			end := m.policy.revoked(revokeAnswer{tok: after.tok, err: err, stored: e, marked: true})
			if end.verb == fail {
				return Token{}, m.failed(err)
			}
			m.mu.Lock()
			m.markRejectedLocked(rfp, after.tok.ExpiresAt)
			m.mu.Unlock()
			e = end.entry
			m.emit(Event{Kind: end.event, Key: m.key, Token: rfp, ExpiresAt: after.tok.ExpiresAt, Source: "end of a same-token period"})
			m.hub.changed(m, rfp)
		case issue:
			// Expired on the way: there is nothing to revoke.
		}
		again = true
		if w := m.policy.reissue(m.clock.Now(), e.LastIssue); w.verb == waitFor {
			if err := m.waitSpacing(ctx, w.d); err != nil {
				if lost() {
					return Token{}, errLeaseLost
				}
				return Token{}, m.failed(err)
			}
		}
	}
}

// waitSpacing waits d for the issuance spacing, and says so.
func (m *Manager) waitSpacing(ctx context.Context, d time.Duration) error {
	m.emit(Event{Kind: EventWaiting, Key: m.key, Duration: d})
	if err := m.clock.Sleep(ctx, d); err != nil {
		return fmt.Errorf("kauth: %s %s: waiting for the issuance interval: %w", m.key.Broker, m.key.Env, err)
	}
	return nil
}

// marked reports whether this process recorded a refusal of tok.
func (m *Manager) marked(tok Token) bool {
	return tok.AccessToken != "" && m.isRejected(tok.Fingerprint())
}

// accept writes e (holding tok) and serves tok. turnover: tok was asked
// for by a turnover, which a new token is recorded and reported as.
func (m *Manager) accept(ctx context.Context, lease Lease, e Entry, tok Token, same bool, kind EventKind, took time.Duration, turnover bool) (Token, error) {
	turnover = turnover && !same
	// The broker has just handed tok out as valid: whatever revoke was
	// pending did not kill it, and whatever rate limit held is over.
	e.Revoking, e.RetryAt = "", time.Time{}
	rec := issueRecord(m.origin, m.clock.Now(), same, nil)
	rec.Turnover = turnover
	e.History = recorded(e.History, rec)
	saved := m.save(ctx, lease, e)
	if errors.Is(saved, ErrLeaseLost) {
		return Token{}, errLeaseLost
	}
	if !m.set(m.newState(tok, m.clock.Now(), same)) {
		// Reported rejected while we were getting it.
		err := m.errorf(ErrTokenReturnedAgain, "the token was reported rejected while it was being issued")
		m.remember(err, m.policy.holdFailure())
		return Token{}, m.failed(err)
	}
	m.emit(Event{Kind: kind, Key: m.key, Token: tok.Fingerprint(), ExpiresAt: tok.ExpiresAt, Source: "broker", Duration: took, Turnover: turnover})
	if saved == nil {
		m.hub.changed(m, "")
	}
	return tok, nil
}

func (m *Manager) errorf(kind error, msg string, args ...any) *Error {
	return &Error{Broker: m.key.Broker, Env: m.key.Env, Op: "issue", Kind: kind, Message: fmt.Sprintf(msg, args...)}
}

// issue calls the broker, retrying what is worth retrying with backoff and
// jitter. Each attempt is recorded in the store (LastIssue) before it is
// made, so that the spacing holds across processes and crashes; an attempt
// that failed transiently did not count at the broker, and its record is
// taken back.
func (m *Manager) issue(ctx context.Context, lease Lease, e *Entry, begin time.Time) (Token, time.Duration, error) {
	backoff := 500 * time.Millisecond
	counted := e.LastIssue
	for attempt := 1; ; attempt++ {
		start := m.clock.Now()
		e.LastIssue = start
		if errors.Is(m.saveAttempt(ctx, lease, *e), ErrLeaseLost) {
			return Token{}, 0, errLeaseLost
		}
		actx, cancel := context.WithTimeout(ctx, m.attemptTimeout)
		tok, err := m.provider.Issue(actx, m.creds)
		cancel()
		took := m.clock.Now().Sub(start)
		if err == nil {
			var bad error
			if tok.AccessToken == "" {
				bad = &Error{Broker: m.key.Broker, Env: m.key.Env, Op: "issue", Kind: ErrUnavailable, Message: "empty token in the broker's answer"}
			} else if err := CheckToken(tok.AccessToken); err != nil {
				// Counted and not retried at once: the broker issued, and
				// would hand the same token back (KIS within 6 h).
				bad = &Error{Broker: m.key.Broker, Env: m.key.Env, Op: "issue", Kind: ErrMalformedToken, Err: err}
			}
			if bad != nil {
				e.History = recorded(e.History, issueRecord(m.origin, m.clock.Now(), false, bad))
				m.save(ctx, lease, *e)
				return Token{}, took, bad
			}
			return m.bound(tok), took, nil
		}
		jittered := backoff/2 + rand.N(backoff/2+1)
		wait, again, count := m.policy.retry(err, took, m.clock.Now().Sub(begin), jittered)
		if count {
			counted = start
		} else {
			e.LastIssue = counted
		}
		e.History = recorded(e.History, issueRecord(m.origin, m.clock.Now(), false, err))
		at := m.policy.nextRequest(err, m.clock.Now(), wait)
		if !at.IsZero() {
			// The broker refused for its rate limit: every caller here and
			// every process sharing the store waits until at, whether this
			// issuance goes on or gives up.
			e.RetryAt = at
		}
		m.save(ctx, lease, *e)
		if !at.IsZero() {
			m.limit(m.limitedErr(err, at), at)
		}
		if !again || ctx.Err() != nil {
			return Token{}, took, err
		}
		// IssueTimeout is a budget on the Manager's clock; a context deadline
		// is a wall-clock time, whatever m.clock says. Stop before either
		// would run out during the wait.
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

// bound cuts tok's life, received now, to the longest its broker
// documents when the broker's expiry lies too far beyond it (see cutLife),
// and says so in the log. The token is still served, and refreshed when its
// bounded life ends.
func (m *Manager) bound(tok Token) Token {
	life := MaxLifetime(m.provider)
	cut, ok := cutLife(tok, m.clock.Now().Round(0), life)
	if ok {
		m.log.Warn("kauth: the broker's token lifetime exceeds the documented one; cut to it",
			"key", m.key.String(), "token", tok.Fingerprint(),
			"broker_expires", tok.ExpiresAt.In(KST).Format(time.RFC3339),
			"expires", cut.ExpiresAt.In(KST).Format(time.RFC3339), "max", lifeOrDay(life))
	}
	return cut
}

// load reads the shared entry; an unreadable one counts as none.
func (m *Manager) load(ctx context.Context) Entry {
	e, err := m.store.Load(ctx, m.key)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			m.log.Warn("kauth: store read failed; treating as empty", "key", m.key.String(), "err", err)
		}
		return Entry{}
	}
	return m.vet(e)
}

// vet makes a stored entry safe to serve from: a token kauth would have
// refused from the broker (one written by an older kauth, or damaged)
// counts as none, and an expiry more than lifetimeSkew past the broker's
// documented lifetime, counted from the token's IssuedAt, is cut to it.
func (m *Manager) vet(e Entry) Entry {
	if e.Token.AccessToken == "" {
		return e
	}
	if err := CheckToken(e.Token.AccessToken); err != nil {
		m.log.Warn("kauth: the stored token cannot be a token; treating it as none", "key", m.key.String(), "err", err)
		e.Token = Token{}
		return e
	}
	e.Token, _ = cutLife(e.Token, e.Token.IssuedAt.Round(0), MaxLifetime(m.provider))
	return e
}

// save writes e, under lease if there is one. A failure other than a lost
// lease is reported as EventStoreFailed: other processes will not see the
// change, and the next run may have to issue again.
func (m *Manager) save(ctx context.Context, lease Lease, e Entry) error {
	var err error
	e.IssueInterval = m.policy.minInterval
	if lease != nil {
		err = lease.Save(ctx, e)
	} else {
		err = m.store.Save(ctx, m.key, e)
	}
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		m.emit(Event{Kind: EventStoreFailed, Key: m.key, Err: fmt.Errorf("kauth: %s %s: writing the store: %w", m.key.Broker, m.key.Env, err)})
	}
	return err
}

// saveAttempt writes e, the record of an issuance attempt about to be
// made, as save does, but without making it survive a power loss where the
// lease allows (VisibleSaver): the other processes see it at once.
func (m *Manager) saveAttempt(ctx context.Context, lease Lease, e Entry) error {
	vs, ok := lease.(VisibleSaver)
	if !ok {
		return m.save(ctx, lease, e)
	}
	e.IssueInterval = m.policy.minInterval
	err := vs.SaveVisible(ctx, e)
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		m.emit(Event{Kind: EventStoreFailed, Key: m.key, Err: fmt.Errorf("kauth: %s %s: writing the store: %w", m.key.Broker, m.key.Env, err)})
	}
	return err
}

// Revoke revokes the current token at the broker and forgets it in memory
// and in the store. Every other holder of the same token loses it too: the
// brokers hand one token to an app key, and Managers on the same Store
// value (in this process) and watching it (elsewhere) drop it.
//
// Before the broker is called, the store entry is marked (Entry.Revoking),
// so that a revoker that dies at any instant after that leaves the token
// unserved, never a revoked token in use. The broker is called whatever
// the store's state: when the store cannot be locked or written (a full
// disk, Redis away), the token is still revoked, and the store is then
// asked to record it, or else to remove the entry. Revoke returns an error
// wrapping the store's (e.g. ErrStoreUnwritable) only when the store still
// holds the revoked token unmarked: other processes may then use it until
// the broker refuses it. Store failures that left the store safe are
// reported as EventStoreFailed.
func (m *Manager) Revoke(ctx context.Context) error {
	if m.isClosed() {
		return m.closedErr()
	}
	var f found
	lease, lockErr := m.store.Lock(ctx, m.key)
	if lockErr != nil {
		f.unlocked, f.gaveUp = true, ctx.Err() != nil
	} else {
		defer lease.Unlock()
	}
	e, loadErr := m.store.Load(ctx, m.key)
	if errors.Is(loadErr, ErrNotFound) {
		loadErr = nil
	}
	if loadErr == nil {
		f.stored = e
	}
	f.unread = loadErr != nil
	s := m.cur.Load()
	if s != nil {
		f.served = &s.tok
	}
	plan := m.policy.planRevoke(f)
	if plan.storeFailed != "" {
		m.emit(Event{Kind: EventStoreFailed, Key: m.key, Err: fmt.Errorf("kauth: %s %s: revoke: %s: %w", m.key.Broker, m.key.Env, plan.storeFailed, lockErr)})
	}
	switch plan.verb {
	case keep:
		return nil
	case fail:
		if plan.why == "" {
			return fmt.Errorf("kauth: %s %s: revoke: %w", m.key.Broker, m.key.Env, lockErr)
		}
		return fmt.Errorf("kauth: %s %s: revoke: %s: %w", m.key.Broker, m.key.Env, plan.why, loadErr)
	}
	tok, fp := plan.tok, plan.tok.Fingerprint()
	marked := plan.write && m.save(ctx, lease, plan.mark) == nil
	if cur := m.cur.Load(); plan.drop && cur != nil && cur.tok.AccessToken == tok.AccessToken {
		m.cur.CompareAndSwap(cur, nil)
	}
	if marked {
		m.hub.changed(m, "")
	}
	err := m.provider.Revoke(ctx, m.creds, tok.AccessToken)
	end := m.policy.revoked(revokeAnswer{tok: tok, err: err, stored: f.stored, unread: f.unread, marked: marked})
	if end.verb == fail {
		return m.failed(err)
	}
	m.mu.Lock()
	m.markRejectedLocked(fp, tok.ExpiresAt)
	m.mu.Unlock()
	var kept error
	if !end.save || m.save(ctx, lease, end.entry) != nil {
		// Without the record, at least remove the token: a full disk can
		// still unlink.
		if derr := m.store.Delete(ctx, m.key); derr != nil && end.unmarked {
			kept = fmt.Errorf("kauth: %s %s: revoke: revoked at the broker, but the store still holds the token, unmarked: processes that read it use it until the broker refuses it; run kauth revoke again once the store works: %w", m.key.Broker, m.key.Env, derr)
			m.emit(Event{Kind: EventStoreFailed, Key: m.key, Err: kept})
		}
	}
	m.hub.changed(m, fp)
	m.emit(Event{Kind: end.event, Key: m.key, Token: fp, ExpiresAt: tok.ExpiresAt})
	return kept
}

// requestReload brings the served token in line with the store soon, in
// the background; requests made while a reload runs are folded into one
// more.
func (m *Manager) requestReload() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if m.reloading {
		m.again = true
		return
	}
	m.reloading = true
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			retry := m.reload()
			m.mu.Lock()
			if !(m.again || retry) || m.closed {
				m.reloading, m.again = false, false
				m.mu.Unlock()
				return
			}
			m.again = false
			m.mu.Unlock()
		}
	}()
}

// reload reads the shared entry under the store's lock, so that no refresh
// writes between the read and the decision, and brings the served token in
// line with it: a newer token is adopted, a revoked or rejected one is
// dropped, and the served token is never swapped back to an older one.
//
// The lock is waited for at most reloadLockWait at a time, and reload
// reports that it must run again if it did not get it: a holder may keep
// the lock for a long while (issuing, or dead with a lease still running),
// and the unlocked check at the top must meanwhile see every later change
// — a revoke among them — at once, not after that holder is gone.
func (m *Manager) reload() (retry bool) {
	ctx, cancel := context.WithTimeout(m.ctx, m.policy.budget)
	defer cancel()
	// A served token that the store says is revoked or removed is dropped,
	// or swapped for the replacement stored with the record, at once,
	// before the lock: the lock's holder may be issuing, or dead with a
	// lease that lapses only later, and meanwhile the token must not be
	// served. A revoked token is worse than any other, so this never swaps
	// back to a better one; only taking a newer token over a live one
	// needs the lock.
	if s := m.cur.Load(); s != nil {
		if e, err := m.store.Load(ctx, m.key); err == nil || errors.Is(err, ErrNotFound) {
			e = m.vet(e)
			now := m.clock.Now()
			switch m.policy.reconcile(now, e, m.marked(e.Token), &s.tok, false) {
			case fail:
				m.cur.CompareAndSwap(s, nil)
			case adopt:
				m.swap(s, e.Token, now)
			}
		}
	}
	lctx, lcancel := context.WithTimeout(ctx, reloadLockWait)
	lease, err := m.store.Lock(lctx, m.key)
	lcancel()
	if err != nil {
		// Held by another: look again soon. Any other failure (the store
		// unreachable) waits for the next change or resync.
		return lctx.Err() != nil && m.ctx.Err() == nil
	}
	defer lease.Unlock()
	e, err := m.store.Load(ctx, m.key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false
	}
	e = m.vet(e)
	s := m.cur.Load()
	var served *Token
	if s != nil {
		served = &s.tok
	}
	now := m.clock.Now()
	switch m.policy.reconcile(now, e, m.marked(e.Token), served, true) {
	case adopt:
		m.swap(s, e.Token, now)
	case fail:
		m.cur.CompareAndSwap(s, nil)
	}
	return false
}

// swap serves tok in place of s, unless a refusal of tok was recorded
// meanwhile or s is no longer served.
func (m *Manager) swap(s *state, tok Token, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.isRejectedLocked(tok.Fingerprint()) {
		m.cur.CompareAndSwap(s, m.newState(tok, now, false))
	}
}

// reloadLockWait bounds one wait of reload for the store's lock.
const reloadLockWait = time.Second

// dropRejected is how a sibling on the same Store value hears of a revoke
// or rejection at once, without I/O.
func (m *Manager) dropRejected(fp string) {
	m.mu.Lock()
	m.markRejectedLocked(fp, time.Time{})
	m.mu.Unlock()
}
