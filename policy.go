package kauth

import (
	"errors"
	"fmt"
	"hash/fnv"
	"time"
)

// policy holds the Manager's decisions, apart from any I/O: given what the
// store holds, what is served, the time and the configuration, it says what
// to do. The runner (runner.go) performs what it decides. Every edge that
// the Manager promises is a row of the table in policy_test.go.
type policy struct {
	ahead       time.Duration // RefreshAhead (0: none)
	delay       time.Duration // this key's share of RefreshJitter, < ahead/2
	margin      time.Duration // ExpiryMargin
	minInterval time.Duration // MinIssueInterval
	budget      time.Duration // IssueTimeout
	turn        *Turnover     // Config.Turnover (nil: none)
	fresh       time.Duration // SameTokenWindow of the provider
}

// verb is what the policy decides.
type verb int

const (
	adopt   verb = iota + 1 // serve the stored token (decision.tok)
	keep                    // serve the stored token, and try again at decision.at
	waitFor                 // wait decision.d, then issue
	issue                   // issue now
	fail                    // give up with decision.err
	accept                  // write decision.tok to the store and serve it
	revoke                  // revoke decision.tok at the broker, then issue again
)

var verbNames = [...]string{adopt: "adopt", keep: "keep", waitFor: "wait", issue: "issue", fail: "fail", accept: "accept", revoke: "revoke"}

func (v verb) String() string { return verbNames[v] }

type decision struct {
	verb  verb
	entry Entry         // beforeIssue: the entry the refresh holds from here on
	save  bool          // beforeIssue: write entry before acting on verb
	tok   Token         // adopt, keep, accept, revoke: the token
	same  bool          // accept: the broker handed back a token already held
	event EventKind     // adopt, accept: the event that reports it
	d     time.Duration // waitFor: the wait; fail: the RetryAfter, if any
	// at, for keep: when to refresh again; for waitFor and fail: when the
	// broker allows the next token request after a rate limit (zero if
	// the wait is only the issuance spacing).
	at   time.Time
	err  error         // fail: the kind of failure
	why  string        // fail: what the caller is told
	hold time.Duration // fail: how long the failure is answered from memory (0: not at all)
	// forget, for fail: the refusal of tok is forgotten here and in the
	// store, so that tok is tried again once the failure is no longer
	// remembered.
	forget bool
}

// standing says whether a stored token may be served, and if not, why.
type standing int

const (
	sound    standing = iota // nothing is known against it
	refused                  // the broker refused it (Entry.Rejected, or this process's record)
	revoking                 // a revoke of it was started (Entry.Revoking) and may or may not have reached the broker
)

// standingOf is the one rule that says whether tok may be served, given
// the records of entry e (its Rejected and Revoking) and marked, whether
// this process recorded a refusal of tok.
func standingOf(tok Token, e Entry, marked bool) standing {
	if tok.AccessToken == "" {
		return sound
	}
	switch fp := tok.Fingerprint(); {
	case marked || fp == e.Rejected:
		return refused
	case fp == e.Revoking:
		return revoking
	}
	return sound
}

// before is the situation when a refresh holds the store's lock.
type before struct {
	now    time.Time
	stored Entry // the shared entry; zero if none or unreadable
	marked bool  // this process recorded a refusal of the stored token
	// orphan is a token the broker gave this refresh under a lease lost
	// before it was saved (zero if none); orphanMarked says it was
	// reported rejected since.
	orphan       Token
	orphanMarked bool
	ahead        bool          // a refresh ahead of a token still served
	spent        time.Duration // how much of the issuance budget is already used
	// notBefore is when this Manager last heard the broker allows the next
	// token request after a rate limit (zero if none): it holds even when
	// the store lost its Entry.RetryAt.
	notBefore time.Time
}

// usable reports whether tok may be handed out at now.
func (p policy) usable(tok Token, now time.Time) bool {
	return tok.AccessToken != "" && now.Round(0).Before(p.usableUntil(tok))
}

// usableUntil is when tok stops being handed out: ExpiryMargin before its
// expiry, or a quarter of its life before it if that is shorter (a token
// that arrives with less life than the margin, say from a broker whose
// clock runs behind ours, is still served for three quarters of it).
// IssuedAt is when kauth first received the token: an answer that hands
// back a token we had keeps the earlier IssuedAt (see keepIssuedAt), so a
// same-token answer near the end never looks young.
func (p policy) usableUntil(tok Token) time.Time {
	exp, margin := tok.ExpiresAt.Round(0), p.margin
	if issued := tok.IssuedAt.Round(0); !issued.IsZero() && exp.After(issued) {
		margin = min(margin, exp.Sub(issued)/4)
	}
	return exp.Add(-margin)
}

// keepIssuedAt returns tok with the earliest IssuedAt of the copies known
// of it.
func keepIssuedAt(tok Token, known ...Token) Token {
	for _, k := range known {
		if k.AccessToken == tok.AccessToken && !k.IssuedAt.IsZero() && k.IssuedAt.Before(tok.IssuedAt) {
			tok.IssuedAt = k.IssuedAt
		}
	}
	return tok
}

// beforeIssue decides what a refresh does with what the store holds: adopt
// the stored token, keep it a while, take back a token the broker gave it
// under a lost lease, wait for the issuance spacing, or issue. The entry
// it returns is the one the refresh holds from then on: a refused or
// revoking token is taken out of it, a refusal known only here is recorded
// in it, and a LastIssue in the future is taken as now.
func (p policy) beforeIssue(b before) decision {
	e, save := b.stored, false
	switch standingOf(e.Token, e, b.marked) {
	case refused:
		if fp := e.Token.Fingerprint(); e.Rejected != fp {
			// The refusal goes to the shared entry, so that no process
			// adopts the token again.
			e.Rejected, save = fp, true
		}
		e.Token = Token{}
	case revoking:
		// A revoke of it was started, and its revoker is gone (we hold
		// the lock): the broker may have revoked it. Issue instead; if
		// the revoke never reached the broker, it hands this token back
		// (KIS within 6 h of its issue, Kiwoom while it is valid), and
		// then it is good to serve.
		e.Token = Token{}
	}
	if e.RetryAt.After(b.now) {
		// The broker refused the last token request for its rate limit.
		// Its RetryAt is honoured for at most the delay its writer was
		// asked for (RetryAt - LastIssue, both on the writer's clock),
		// counted on ours, and never beyond maxRetryWait: a peer whose
		// clock runs ahead delays us by the broker's own wait at most.
		asked := min(e.RetryAt.Sub(e.LastIssue), maxRetryWait)
		if e.LastIssue.IsZero() || asked < 0 {
			asked = maxRetryWait
		}
		if limit := b.now.Add(asked); e.RetryAt.After(limit) {
			e.RetryAt, save = limit, true
		}
	}
	if e.LastIssue.After(b.now) {
		// A LastIssue in the future (a peer whose clock runs ahead, an NTP
		// step back) is taken as now, on our clock: it holds issuance back
		// for one spacing at most, and the next caller finds it over.
		e.LastIssue, save = b.now, true
	}
	tok := e.Token
	usable := p.usable(tok, b.now)
	if o := b.orphan; o.AccessToken != "" && !b.orphanMarked && !usable && p.usable(o, b.now) {
		// The broker gave us this token under the lease we lost, and the
		// new holder left no usable one: keep ours rather than issue again.
		e.Token = o
		return decision{verb: accept, entry: e, save: save, tok: o, event: EventIssued}
	}
	d := decision{entry: e, save: save}
	switch {
	case usable && !b.ahead,
		// Someone refreshed already: the stored token is newer than ours.
		usable && b.ahead && b.now.Before(p.refreshAt(tok, b.now, false)):
		d.verb, d.tok, d.event = adopt, tok, EventReused
		return d
	}
	next := e.LastIssue.Add(p.minInterval)
	// limited: the broker refused a token request for its rate limit, and
	// the wait it asked for (RetryAt, here or in the store) is not over.
	retryAt := later(e.RetryAt, b.notBefore)
	limited := b.now.Before(retryAt)
	next = later(next, retryAt)
	if b.now.Before(next) {
		wait := next.Sub(b.now)
		switch {
		case usable:
			// Too soon to issue again, and what we have still works.
			d.verb, d.tok, d.at = keep, tok, next
		case b.spent+wait > p.budget && limited:
			// The broker's wait outlasts the budget: say so at once, and
			// remember it until the wait is over, so that no caller
			// starts another issuance before then.
			d.verb, d.d, d.err, d.at, d.hold = fail, wait, ErrRateLimited, next, wait
			d.why = limitedWhy(next)
		case b.spent+wait > p.budget:
			// Say so at once rather than sleep past the budget. Not
			// remembered: the next caller may find the spacing over.
			d.verb, d.d, d.err = fail, wait, ErrRateLimited
			d.why = fmt.Sprintf("the issuance spacing (%v) outlasts IssueTimeout", wait.Round(time.Second))
		default:
			d.verb, d.d = waitFor, wait
			if limited {
				d.at = next
			}
		}
		return d
	}
	d.verb = issue
	return d
}

// answer is what the broker handed back, and what was there before.
type answer struct {
	now    time.Time
	asked  time.Time // when the request that got tok was sent
	tok    Token     // as the broker handed it
	marked bool      // tok is in this process's record of refusals
	served *Token    // the token this Manager served when the refresh began, if any
	stored Token     // the token the refresh holds from the store (zero if none, refused or revoking)
	again  bool      // this refresh already issued again after a same-token answer
}

// afterIssue decides what to do with the broker's token: accept it (and
// which event reports it), revoke it and issue again, issue again, or
// fail.
func (p policy) afterIssue(a answer) decision {
	known := []Token{a.stored}
	if a.served != nil {
		known = append(known, *a.served)
	}
	tok := keepIssuedAt(a.tok, known...)
	unavailable := func(why string) decision {
		return decision{verb: fail, tok: tok, err: ErrUnavailable, why: why, hold: p.holdFailure()}
	}
	switch {
	case a.marked:
		// Handing it out now would only loop between the broker's
		// rejection and its re-issue: fail this round. The failure is
		// remembered for a while, after which the mark is gone and the
		// token is tried again, so a rejection that was a passing glitch
		// heals itself and one that was not costs one issuance a minute
		// at most.
		return decision{verb: fail, tok: tok, err: ErrTokenReturnedAgain, hold: p.holdFailure(), forget: true,
			why: "wait for it to expire, or revoke it (kauth revoke) so the broker mints a new one"}
	case p.usable(tok, a.now):
		d := decision{verb: accept, tok: tok, event: EventIssued}
		switch {
		case tok.AccessToken == a.stored.AccessToken || (a.served != nil && tok.AccessToken == a.served.AccessToken):
			d.same, d.event = true, EventReused
		case a.served != nil && a.now.Before(a.served.ExpiresAt):
			d.event = EventRefreshed
		}
		return d
	case tok.AccessToken == "":
		return unavailable("empty token in the broker's answer")
	case a.again:
		return unavailable(fmt.Sprintf("the broker keeps answering with a token in its last %v", p.margin))
	case a.now.Before(tok.ExpiresAt):
		// The broker handed back a token in its last margin: it keeps the
		// same token while it is valid (Kiwoom; KIS within 6 h of an
		// issue). Revoke it and issue again, under the lock, so that the
		// next one is new.
		return decision{verb: revoke, tok: tok}
	case a.asked.Before(tok.ExpiresAt):
		// Valid when the broker answered, expired by the time the answer
		// is read (the clock moved while the call was on the way): the
		// broker mints a new one once its token has expired, so issue
		// again.
		return decision{verb: issue, tok: tok}
	}
	return unavailable(fmt.Sprintf("the broker answered with a token that had expired (%s) when it was asked", tok.ExpiresAt.In(KST).Format(time.RFC3339)))
}

// reissue decides, once a same-token answer was revoked or had expired,
// how long to wait before issuing again: the rest of the issuance spacing
// since lastIssue, at most one spacing on our clock.
func (p policy) reissue(now, lastIssue time.Time) decision {
	if wait := lastIssue.Add(p.minInterval).Sub(now); wait > 0 {
		return decision{verb: waitFor, d: min(wait, p.minInterval)}
	}
	return decision{verb: issue}
}

// holdFailure is how long a failed issuance whose cause lies with the
// broker's token is answered from memory.
func (p policy) holdFailure() time.Duration {
	return max(p.minInterval, 5*time.Second)
}

// holdFor is how long a broker failure err is answered from memory.
func (p policy) holdFor(err error) time.Duration {
	if errors.Is(err, ErrUnavailable) {
		return 5 * time.Second // transient: try again soon
	}
	if ra := RetryAfter(err); ra > 0 {
		return ra
	}
	return p.holdFailure()
}

// maxRetryWait bounds how long a rate limit recorded in the store
// (Entry.RetryAt) holds issuance back, whatever its writer's clock said.
const maxRetryWait = 10 * time.Minute

// nextRequest is when the next token request may go out after an attempt
// that failed with err at now and that retry decided to follow after wait
// (whether or not the issuance goes on): for a rate limit, the broker's
// Retry-After or the rest of its spacing, or the backoff reached,
// whichever is longest — wait holds all three (one spacing if retry
// decided none). Every caller of every process sharing the store waits
// until then (Entry.RetryAt), so an issuance that gave up on a rate limit
// is not followed at once by another. Zero for any other failure.
func (p policy) nextRequest(err error, now time.Time, wait time.Duration) time.Time {
	if !errors.Is(err, ErrRateLimited) {
		return time.Time{}
	}
	wait = max(wait, RetryAfter(err))
	if wait <= 0 {
		wait = p.minInterval
	}
	return now.Add(wait).Round(0)
}

// limitedWhy says when the next token request is allowed.
func limitedWhy(at time.Time) string {
	return "the broker refused the last token request for its rate limit; the next is allowed at " + at.In(KST).Format("2006-01-02 15:04:05 KST")
}

// reconcile decides what a reload does with the stored entry: serve it
// (adopt), keep what is served (keep), or drop what is served (fail).
// marked says this process recorded a refusal of the stored token. Without
// the store's lock (locked false) a reload only drops a served token that
// was revoked or rejected elsewhere, or swaps it for the replacement stored
// with that record: a revoked token is worse than any other, while taking a
// newer token over a live one needs the lock, so that no refresh writes
// between the read and the decision.
func (p policy) reconcile(now time.Time, stored Entry, marked bool, served *Token, locked bool) verb {
	tok := stored.Token
	adoptable := standingOf(tok, stored, marked) == sound && p.usable(tok, now) && (served == nil || !older(tok, *served))
	switch {
	case served != nil && standingOf(*served, stored, false) != sound:
		// Revoked, being revoked or rejected elsewhere: take its
		// replacement if there is one, else drop it.
		if adoptable && tok.AccessToken != served.AccessToken {
			return adopt
		}
		return fail
	case served != nil && tok.AccessToken == served.AccessToken:
		return keep
	case adoptable && locked:
		return adopt
	case served != nil && tok.AccessToken == "":
		// Removed elsewhere (revoked, invalidated, deleted).
		return fail
	}
	// Nothing better in the store (an older token, one that lags behind a
	// write of ours that failed, one we know rejected), or no lock to take
	// a newer one under: never swap back.
	return keep
}

// older reports whether a was handed out before b.
func older(a, b Token) bool {
	return a.IssuedAt.Before(b.IssuedAt) && a.ExpiresAt.Before(b.ExpiresAt)
}

// retry decides whether an issuance attempt that failed with err is tried
// again, and after how long; counted says whether the attempt could have
// issued at the broker, so that LastIssue keeps it.
func (p policy) retry(err error, took, spent, backoff time.Duration) (wait time.Duration, again, counted bool) {
	// A 5xx, a reset or an HTML or malformed page never reached the
	// broker's issuance (a transient answer is not an issuance); a token
	// or EGW00133 could have (KIS counts once a minute per app key,
	// 접근토큰발급 /oauth2/tokenP: "1분당 1회"). A timeout may have been
	// served, its answer lost: it is not counted either, so that a hung
	// connection costs a quick retry, not a minute; if the broker did
	// serve it, KIS answers the retry with EGW00133, which counts.
	counted = !errors.Is(err, ErrUnavailable)
	if !Retryable(err) {
		return 0, false, counted
	}
	wait = backoff
	if ra := RetryAfter(err); ra > wait {
		wait = ra
	}
	if counted {
		if spacing := p.minInterval - took; spacing > wait {
			wait = spacing
		}
	}
	if spent+wait > p.budget {
		return wait, false, counted
	}
	return wait, true, counted
}

// retryAhead is when a refresh ahead that failed at now is tried again,
// for a token served until usableUntil: after a quarter of what is left,
// and no sooner than the issuance spacing, so that a failing broker is not
// asked on every call, nor before notBefore, when the broker allows the
// next token request after a rate limit.
func (p policy) retryAhead(now, usableUntil, notBefore time.Time) time.Time {
	retry := later(now.Add(max(usableUntil.Sub(now)/4, p.minInterval)), notBefore)
	return earlier(retry.Round(0), usableUntil)
}

// refreshAt is when tok is refreshed in the background. same says the
// broker just answered a refresh with this very token: it will not mint a
// new one yet, so try again later rather than on every call.
func (p policy) refreshAt(tok Token, now time.Time, same bool) time.Time {
	at, _ := p.plan(tok, now, same)
	return at
}

// plan is refreshAt, and whether that time is a turnover (Turnover) that
// brings the refresh forward out of the market's session.
func (p policy) plan(tok Token, now time.Time, same bool) (time.Time, bool) {
	exp := tok.ExpiresAt.Round(0)
	at := exp.Add(-p.ahead + p.delay)
	if issued := tok.IssuedAt.Round(0); !issued.IsZero() && exp.After(issued) {
		// A short-lived token is not refreshed in the first three quarters
		// of its life, however wide the window.
		at = later(at, issued.Add(exp.Sub(issued)*3/4))
	}
	if same {
		now = now.Round(0)
		at = later(at, now.Add(max(exp.Sub(now)/2, 5*time.Minute, p.minInterval)))
	}
	at = earlier(at, p.usableUntil(tok))
	if same {
		// The broker keeps handing this token back: a turnover now would
		// only get it again.
		return at, false
	}
	if t := p.turnoverAt(tok, at, now); !t.IsZero() {
		return t, true
	}
	return at, false
}

// turnoverAt is when tok is turned over instead of being refreshed at
// normal, or zero if it is not: normal falls in the market's session, and
// the window of that trading day, before normal, still lies ahead of now
// and after the broker mints a new token again. KIS answers a re-issue
// within 6 h of an issuance with the same token and its old expiry
// (kis.Provider.Issue), so a turnover that early would be wasted; and no
// token is turned over within the issuance spacing of its issue, which
// would issue again at once.
func (p policy) turnoverAt(tok Token, normal, now time.Time) time.Time {
	w := p.turn
	if w == nil || !w.Calendar.InSession(normal) {
		return time.Time{}
	}
	issued := tok.IssuedAt.Round(0)
	if issued.IsZero() {
		// Its age is unknown: a turnover might only get it back.
		return time.Time{}
	}
	day := midnightKST(normal)
	from, to := day.Add(w.From), day.Add(w.To)
	at := later(from, issued.Add(max(p.fresh, p.minInterval)))
	if !at.Before(to) || !now.Round(0).Before(to) || !at.Before(normal) {
		return time.Time{}
	}
	return at
}

// jitterDelay is key's share of jitter, capped at ahead/2: uniform over
// the keys, and the same wherever key is refreshed.
func jitterDelay(key Key, ahead, jitter time.Duration) time.Duration {
	jitter = min(jitter, ahead/2)
	if jitter <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(key.String()))
	return time.Duration(h.Sum64() % uint64(jitter))
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

// lifetimeSkew is how far past the documented lifetime, counted on our
// clock, a broker's expiry is still taken as sent: the broker prints its
// expiry on its own clock, which may run hours ahead of ours.
const lifetimeSkew = 3 * time.Hour

// lifeOrDay is life, or 24 h if life is zero (a broker that documents no
// longest life).
func lifeOrDay(life time.Duration) time.Duration {
	if life <= 0 {
		return 24 * time.Hour
	}
	return life
}

// cutLife decides the life kauth grants tok, counted from from: the token
// received now from the broker, or a stored token's IssuedAt. A broker's
// expiry more than lifetimeSkew beyond from plus life, the longest its
// broker documents (0: 24 h), is cut to from plus life, and cutLife says
// so: a broker's bad expiry (9999-12-31) would otherwise pin the token for
// years, past any revoke or rotation kauth does not hear of. A cut token
// whose IssuedAt is unknown or after from is taken as issued at from. A
// zero from (a stored token without IssuedAt) cuts nothing.
func cutLife(tok Token, from time.Time, life time.Duration) (Token, bool) {
	if from.IsZero() {
		return tok, false
	}
	limit := from.Add(lifeOrDay(life))
	if !tok.ExpiresAt.After(limit.Add(lifetimeSkew)) {
		return tok, false
	}
	tok.ExpiresAt = limit
	if tok.IssuedAt.IsZero() || tok.IssuedAt.After(from) {
		tok.IssuedAt = from
	}
	return tok, true
}

// found is what a user's revoke finds before it calls the broker.
type found struct {
	unlocked bool   // the store could not be locked
	gaveUp   bool   // unlocked because the caller's context ended
	stored   Entry  // the shared entry; zero if none or unreadable
	unread   bool   // the store could not be read (not: it holds nothing)
	served   *Token // the token this Manager serves, if any
}

// revokePlan is what a user's revoke does before it calls the broker.
type revokePlan struct {
	// verb is revoke (call the broker on tok), fail (stop with the
	// store's error, told why) or keep (nothing to revoke: done).
	verb verb
	why  string // fail: what the caller is told, before the store's error
	// storeFailed, when set, is reported as EventStoreFailed with the
	// store's error: the revoke goes on without what it names.
	storeFailed string
	tok         Token
	// mark is the entry written before the broker is called, if write:
	// from then on no process serves tok, even if this one dies before
	// it hears the broker's answer.
	mark  Entry
	write bool
	drop  bool // tok is served here: stop serving it before the call
}

// planRevoke decides what a user's revoke does with what it found: revoke
// the stored token, else the one served here; mark it in the store first
// if the store could be read; stop serving it. A store that cannot be
// locked does not stop a revoke (the user wants the token dead), unless
// the caller gave up; a store that cannot be read stops it only when this
// Manager serves nothing either.
func (p policy) planRevoke(f found) revokePlan {
	if f.unlocked && f.gaveUp {
		return revokePlan{verb: fail}
	}
	var r revokePlan
	if f.unlocked {
		r.storeFailed = "locking the store"
	}
	r.tok = f.stored.Token
	if r.tok.AccessToken == "" && f.served != nil {
		r.tok = *f.served
	}
	switch {
	case r.tok.AccessToken == "" && f.unread:
		r.verb, r.why = fail, "reading the store for the token to revoke"
		return r
	case r.tok.AccessToken == "":
		r.verb = keep
		return r
	}
	r.verb = revoke
	r.mark, r.write = f.stored, !f.unread
	r.mark.Revoking = r.tok.Fingerprint()
	r.drop = f.served != nil && f.served.AccessToken == r.tok.AccessToken
	return r
}

// revokeAnswer is the broker's answer to a revoke of tok, and what the
// revoke knows of the store.
type revokeAnswer struct {
	tok    Token
	err    error // the broker's answer: nil if it revoked tok
	stored Entry // the shared entry as read before the call (zero if none or unreadable)
	unread bool  // the store could not be read
	marked bool  // the Revoking mark was written before the call
}

// revokeEnd is what a revoke does once the broker has answered.
type revokeEnd struct {
	// verb is revoke (tok is dead at the broker: record it) or fail (the
	// revoke may or may not have reached the broker: return its error).
	verb  verb
	event EventKind // EventRevoked or EventFailed
	// entry is written, if save, to record the revoke; if it is not
	// written, the entry is deleted, and if that fails too and unmarked,
	// the store still holds tok with no mark: the caller is told.
	entry    Entry
	save     bool
	unmarked bool
}

// revoked decides what follows the broker's answer to a revoke. A revoke
// that failed, or timed out, may have reached the broker: tok stays
// unserved and marked as being revoked, never served again as if nothing
// happened, and the next caller issues, which hands the same token back if
// the broker still holds it valid (KIS within 6 h of its issue, Kiwoom
// while it is valid). A broker that refuses tok as unknown or expired
// (ErrTokenRejected: already revoked, or replaced) has no more use for it
// than one that revoked it: tok is recorded as refused, and forgotten.
func (p policy) revoked(a revokeAnswer) revokeEnd {
	if a.err != nil && !errors.Is(a.err, ErrTokenRejected) {
		return revokeEnd{verb: fail, event: EventFailed}
	}
	e := a.stored
	e.Token, e.Rejected, e.Revoking = Token{}, a.tok.Fingerprint(), ""
	return revokeEnd{verb: revoke, event: EventRevoked, entry: e, save: !a.unread, unmarked: !a.marked}
}

// recorded returns h with the outcome r counted: the counts are for the
// KST day of r.At, begun afresh on a new day, and the events keep the last
// HistoryEvents. A record dated before h.Day (a writer whose clock runs
// behind) is counted in h.Day rather than taking the counts back a day.
func recorded(h History, r IssueRecord) History {
	if day := kstDay(r.At); day > h.Day {
		h.Day, h.Issued, h.Same, h.Failed = day, 0, 0, 0
	}
	switch r.Outcome {
	case OutcomeFailed:
		h.Failed++
		h.LastFailure = r
	case OutcomeSame:
		h.Same++
		h.Issued++
		h.LastIssue = r
	default:
		h.Issued++
		h.LastIssue = r
	}
	events := append(h.Recent(), r)
	h.Events = [HistoryEvents]IssueRecord{}
	copy(h.Events[:], events[max(0, len(events)-HistoryEvents):])
	return h
}

// issueRecord is the record of an issuance at now by o: an issuance that
// handed out a token (same: the one already held), or, if err is set, one
// that failed.
func issueRecord(o origin, now time.Time, same bool, err error) IssueRecord {
	r := IssueRecord{At: now.Round(0), Outcome: OutcomeIssued, Host: o.host, PID: o.pid}
	switch {
	case err != nil:
		r.Outcome, r.Code = OutcomeFailed, failureCode(err)
	case same:
		r.Outcome = OutcomeSame
	}
	return r
}
