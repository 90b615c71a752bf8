package kauth

import (
	"errors"
	"time"
)

// policy holds the Manager's decisions, apart from any I/O: given what the
// store holds, what is served, the time and the configuration, it says what
// to do. The runner (runner.go) performs what it decides. Every edge that
// the Manager promises is a row of the table in policy_test.go.
type policy struct {
	ahead       time.Duration // RefreshAhead (0: none)
	margin      time.Duration // ExpiryMargin
	minInterval time.Duration // MinIssueInterval
	budget      time.Duration // IssueTimeout
}

// verb is what the policy decides.
type verb int

const (
	adopt   verb = iota + 1 // serve the stored token
	keep                    // serve the stored token, and try again at decision.at
	waitFor                 // wait decision.d, then issue
	issue                   // issue now
	fail                    // give up with decision.err
)

var verbNames = [...]string{adopt: "adopt", keep: "keep", waitFor: "wait", issue: "issue", fail: "fail"}

func (v verb) String() string { return verbNames[v] }

type decision struct {
	verb verb
	d    time.Duration // for waitFor
	at   time.Time     // for keep: when to refresh again
	err  error         // for fail
}

// before is the situation when a refresh holds the store's lock.
type before struct {
	now      time.Time
	stored   Entry         // the shared entry; zero if none or unreadable
	rejected bool          // the stored token is marked rejected (here or in the entry)
	ahead    bool          // a refresh ahead of a token still served
	spent    time.Duration // how much of the issuance budget is already used
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

// beforeIssue decides whether a refresh adopts the stored token, waits for
// the issuance spacing, or issues.
func (p policy) beforeIssue(b before) decision {
	tok := b.stored.Token
	usable := !b.rejected && p.usable(tok, b.now)
	if usable && !b.ahead {
		return decision{verb: adopt}
	}
	if usable && b.ahead && b.now.Before(p.refreshAt(tok, b.now, false)) {
		// Someone refreshed already: the stored token is newer than ours.
		return decision{verb: adopt}
	}
	if next := b.stored.LastIssue.Add(p.minInterval); b.now.Before(next) {
		// A LastIssue in the future (a peer whose clock runs ahead, an NTP
		// step back) must not hold issuance back for longer than the
		// spacing itself, counted on our clock.
		d := min(next.Sub(b.now), p.minInterval)
		if usable {
			return decision{verb: keep, at: b.now.Add(d)}
		}
		if b.spent+d > p.budget {
			return decision{verb: fail, d: d, err: ErrRateLimited}
		}
		return decision{verb: waitFor, d: d}
	}
	return decision{verb: issue}
}

// answer is what the broker handed back, and what was there before.
type answer struct {
	now      time.Time
	tok      Token
	rejected bool // tok is marked rejected
	revoked  bool // this refresh already revoked a token at its end
}

// afterIssue decides what to do with the broker's token.
func (p policy) afterIssue(a answer) decision {
	switch {
	case a.rejected:
		return decision{verb: fail, err: ErrTokenReturnedAgain}
	case p.usable(a.tok, a.now):
		return decision{verb: adopt}
	case !a.revoked && a.tok.AccessToken != "" && a.now.Before(a.tok.ExpiresAt):
		// The broker handed back a token in its last margin: it keeps the
		// same token while it is valid (Kiwoom; KIS within 6 h of an
		// issue). Revoke it and issue again, under the lock, so that the
		// next one is new.
		return decision{verb: issue}
	}
	return decision{verb: fail, err: ErrUnavailable}
}

// reconcile decides what a reload does with the stored entry: serve it
// (adopt), keep what is served (keep), or drop what is served (fail).
func (p policy) reconcile(now time.Time, stored Entry, storedRejected bool, served *Token) verb {
	tok := stored.Token
	adoptable := !storedRejected && p.usable(tok, now) && (served == nil || !older(tok, *served))
	switch {
	case served != nil && (stored.Rejected == served.Fingerprint() || stored.Revoking == served.Fingerprint()):
		// Revoked, being revoked or rejected elsewhere: take its
		// replacement if there is one, else drop it.
		if adoptable && tok.AccessToken != served.AccessToken {
			return adopt
		}
		return fail
	case served != nil && tok.AccessToken == served.AccessToken:
		return keep
	case adoptable:
		return adopt
	case served != nil && tok.AccessToken == "":
		// Removed elsewhere (revoked, invalidated, deleted).
		return fail
	}
	// Nothing better in the store (an older token, one that lags behind a
	// write of ours that failed, one we know rejected): never swap back.
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
	// A 5xx, a reset, a timeout or an HTML or malformed page never reached
	// the broker's issuance (a transient answer is not an issuance); a
	// token or EGW00133 could have (KIS counts once a minute per app key,
	// 접근토큰발급 /oauth2/tokenP: "1분당 1회").
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

// refreshAt is when tok is refreshed in the background. same says the
// broker just answered a refresh with this very token: it will not mint a
// new one yet, so try again later rather than on every call.
func (p policy) refreshAt(tok Token, now time.Time, same bool) time.Time {
	exp := tok.ExpiresAt.Round(0)
	at := exp.Add(-p.ahead)
	if issued := tok.IssuedAt.Round(0); !issued.IsZero() && exp.After(issued) {
		// A short-lived token is not refreshed in the first three quarters
		// of its life, however wide the window.
		at = later(at, issued.Add(exp.Sub(issued)*3/4))
	}
	if same {
		now = now.Round(0)
		at = later(at, now.Add(max(exp.Sub(now)/2, 5*time.Minute, p.minInterval)))
	}
	return earlier(at, p.usableUntil(tok))
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
