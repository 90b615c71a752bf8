package kauth

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The policy's table: every edge that the Manager promises, decided without
// a store, a broker or a clock.

var (
	t0     = time.Date(2026, 11, 25, 9, 0, 0, 0, KST)
	kisPol = policy{ahead: 30 * time.Minute, margin: time.Minute, minInterval: 61 * time.Second, budget: 3 * time.Minute}
)

// tokAt is a token received at issued that lives for life.
func tokAt(v string, issued time.Time, life time.Duration) Token {
	return Token{AccessToken: v, Type: "Bearer", IssuedAt: issued, ExpiresAt: issued.Add(life)}
}

func TestPolicyBeforeIssue(t *testing.T) {
	day := 24 * time.Hour
	fresh := tokAt("A", t0.Add(-time.Hour), day)           // 23 h left
	window := tokAt("A", t0.Add(-day+20*time.Minute), day) // 20 min left: refresh ahead
	last := tokAt("A", t0.Add(-day+30*time.Second), day)   // 30 s left: inside the margin
	orphan := tokAt("O", t0.Add(-time.Second), day)        // given under a lease lost before it was saved
	for _, tc := range []struct {
		name string
		pol  policy
		in   before
		want decision // verb, and the fields below when set
		// entry is the entry the refresh must hold from then on; save,
		// whether it must be written first.
		entry Entry
		save  bool
	}{
		{name: "nothing stored: issue", in: before{now: t0}, want: decision{verb: issue}},
		{name: "a usable stored token: adopt, reported as reused", in: before{now: t0, stored: Entry{Token: fresh}},
			want: decision{verb: adopt, tok: fresh, event: EventReused}, entry: Entry{Token: fresh}},
		{name: "a stored token refused here: record it in the entry, issue", in: before{now: t0, stored: Entry{Token: fresh}, marked: true},
			want: decision{verb: issue}, entry: Entry{Rejected: fresh.Fingerprint()}, save: true},
		{name: "a stored token refused elsewhere: issue, nothing to write", in: before{now: t0, stored: Entry{Token: fresh, Rejected: fresh.Fingerprint()}},
			want: decision{verb: issue}, entry: Entry{Rejected: fresh.Fingerprint()}},
		{name: "a stored token being revoked (its revoker gone): issue, no refusal recorded", in: before{now: t0, stored: Entry{Token: fresh, Revoking: fresh.Fingerprint()}},
			want: decision{verb: issue}, entry: Entry{Revoking: fresh.Fingerprint()}},
		{name: "a stored token in its last margin: issue", in: before{now: t0, stored: Entry{Token: last}}, want: decision{verb: issue}, entry: Entry{Token: last}},
		{name: "refresh ahead, store holds our old token: issue", in: before{now: t0, stored: Entry{Token: window}, ahead: true}, want: decision{verb: issue}},
		{name: "refresh ahead, someone refreshed already: adopt", in: before{now: t0, stored: Entry{Token: fresh}, ahead: true}, want: decision{verb: adopt, tok: fresh, event: EventReused}},
		{name: "issued 10 s ago, nothing usable: wait the rest", in: before{now: t0, stored: Entry{LastIssue: t0.Add(-10 * time.Second)}}, want: decision{verb: waitFor, d: 51 * time.Second}},
		{name: "issued 10 s ago, a usable token: keep it, try later", in: before{now: t0, stored: Entry{Token: window, LastIssue: t0.Add(-10 * time.Second)}, ahead: true},
			want: decision{verb: keep, tok: window, at: t0.Add(51 * time.Second)}},
		{name: "LastIssue 5 min in the future: taken as now and written, wait one spacing", in: before{now: t0, stored: Entry{LastIssue: t0.Add(5 * time.Minute)}},
			want: decision{verb: waitFor, d: 61 * time.Second}, entry: Entry{LastIssue: t0}, save: true},
		{name: "LastIssue 1 h in the future: still one spacing", in: before{now: t0, stored: Entry{LastIssue: t0.Add(time.Hour)}},
			want: decision{verb: waitFor, d: 61 * time.Second}, entry: Entry{LastIssue: t0}, save: true},
		{name: "the spacing outlasts IssueTimeout: fail now, not remembered", pol: policy{margin: time.Minute, minInterval: 61 * time.Second, budget: 20 * time.Second},
			in: before{now: t0, stored: Entry{LastIssue: t0.Add(-time.Second)}}, want: decision{verb: fail, d: 60 * time.Second, err: ErrRateLimited}},
		{name: "the spacing outlasts what is left of the budget: fail now", in: before{now: t0, stored: Entry{LastIssue: t0.Add(-10 * time.Second)}, spent: 150 * time.Second},
			want: decision{verb: fail, d: 51 * time.Second, err: ErrRateLimited}},
		{name: "spacing over: issue", in: before{now: t0, stored: Entry{Token: last, LastIssue: t0.Add(-61 * time.Second)}}, want: decision{verb: issue}},
		{name: "rate-limited, the broker's wait not over: wait for it, though past the spacing", in: before{now: t0, stored: Entry{LastIssue: t0.Add(-70 * time.Second), RetryAt: t0.Add(20 * time.Second)}},
			want: decision{verb: waitFor, d: 20 * time.Second, at: t0.Add(20 * time.Second)}},
		{name: "rate-limited, the broker's wait longer than the spacing: wait it all", in: before{now: t0, stored: Entry{LastIssue: t0.Add(-time.Second), RetryAt: t0.Add(90 * time.Second)}},
			want: decision{verb: waitFor, d: 90 * time.Second, at: t0.Add(90 * time.Second)}},
		{name: "rate-limited here, the store lost it: wait for it", in: before{now: t0, notBefore: t0.Add(30 * time.Second)},
			want: decision{verb: waitFor, d: 30 * time.Second, at: t0.Add(30 * time.Second)}},
		{name: "rate-limited, the wait outlasts the budget: fail now, remembered until the broker allows, said when", in: before{now: t0, stored: Entry{LastIssue: t0.Add(-time.Second), RetryAt: t0.Add(60 * time.Second)}, spent: 150 * time.Second},
			want: decision{verb: fail, d: 60 * time.Second, err: ErrRateLimited, at: t0.Add(60 * time.Second), hold: 60 * time.Second, why: "the broker refused the last token request for its rate limit; the next is allowed at 2026-11-25 09:01:00 KST"}},
		{name: "rate-limited, a usable token: keep it until the broker allows", in: before{now: t0, stored: Entry{Token: window, LastIssue: t0.Add(-time.Second), RetryAt: t0.Add(2 * time.Minute)}, ahead: true},
			want: decision{verb: keep, tok: window, at: t0.Add(2 * time.Minute)}},
		{name: "rate-limited, the broker's wait over: issue", in: before{now: t0, stored: Entry{LastIssue: t0.Add(-2 * time.Minute), RetryAt: t0.Add(-time.Second)}},
			want: decision{verb: issue}},
		{name: "a RetryAt from a clock 1 h ahead: the writer's own wait, from now", in: before{now: t0, stored: Entry{LastIssue: t0.Add(time.Hour), RetryAt: t0.Add(time.Hour + 30*time.Second)}},
			want: decision{verb: waitFor, d: 61 * time.Second, at: t0.Add(61 * time.Second)}, entry: Entry{LastIssue: t0, RetryAt: t0.Add(30 * time.Second)}, save: true},
		{name: "a RetryAt a day ahead with no LastIssue: at most maxRetryWait", pol: policy{margin: time.Minute, minInterval: 61 * time.Second, budget: time.Hour},
			in:   before{now: t0, stored: Entry{RetryAt: t0.Add(24 * time.Hour)}},
			want: decision{verb: waitFor, d: maxRetryWait, at: t0.Add(maxRetryWait)}, entry: Entry{RetryAt: t0.Add(maxRetryWait)}, save: true},
		{name: "an orphan, nothing usable stored: accept it, reported as issued", in: before{now: t0, stored: Entry{Token: last}, orphan: orphan},
			want: decision{verb: accept, tok: orphan, event: EventIssued}, entry: Entry{Token: orphan}},
		{name: "an orphan, the stored token refused here: accept it, the refusal recorded", in: before{now: t0, stored: Entry{Token: fresh}, marked: true, orphan: orphan},
			want: decision{verb: accept, tok: orphan, event: EventIssued}, entry: Entry{Token: orphan, Rejected: fresh.Fingerprint()}, save: true},
		{name: "an orphan, a usable token stored by the new holder: adopt the stored one", in: before{now: t0, stored: Entry{Token: fresh}, orphan: orphan},
			want: decision{verb: adopt, tok: fresh, event: EventReused}},
		{name: "an orphan refused since: issue", in: before{now: t0, orphan: orphan, orphanMarked: true}, want: decision{verb: issue}},
		{name: "an orphan in its last margin: issue", in: before{now: t0, orphan: last}, want: decision{verb: issue}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := tc.pol
			if pol == (policy{}) {
				pol = kisPol
			}
			got := pol.beforeIssue(tc.in)
			w := tc.want
			if got.verb != w.verb || (w.d != 0 && got.d != w.d) || (w.err != nil && !errors.Is(got.err, w.err)) {
				t.Errorf("beforeIssue() = %v %v %v; want %v %v %v", got.verb, got.d, got.err, w.verb, w.d, w.err)
			}
			if w.tok.AccessToken != "" && got.tok != w.tok {
				t.Errorf("beforeIssue() token = %q; want %q", got.tok.AccessToken, w.tok.AccessToken)
			}
			if got.event != w.event {
				t.Errorf("beforeIssue() event = %q; want %q", got.event, w.event)
			}
			if !w.at.IsZero() && !got.at.Equal(w.at) {
				t.Errorf("keep until %v; want %v", got.at, w.at)
			}
			if tc.entry != (Entry{}) && got.entry != tc.entry {
				t.Errorf("beforeIssue() entry = %+v; want %+v", got.entry, tc.entry)
			}
			if got.save != tc.save {
				t.Errorf("beforeIssue() save = %v; want %v", got.save, tc.save)
			}
			if !got.at.Equal(w.at) && got.verb != keep {
				t.Errorf("beforeIssue() next request allowed at %v; want %v", got.at, w.at)
			}
			if got.verb == fail && (got.hold != w.hold || got.why == "" || (w.why != "" && got.why != w.why)) {
				t.Errorf("a failed wait: hold %v, message %q; want hold %v, message %q", got.hold, got.why, w.hold, w.why)
			}
			if got.verb == waitFor && got.d > pol.minInterval && got.at.IsZero() {
				t.Errorf("wait %v exceeds MinIssueInterval %v, with no rate limit", got.d, pol.minInterval)
			}
			if got.verb == keep && !got.at.After(tc.in.now) {
				t.Errorf("keep until %v; want a later retry", got.at)
			}
		})
	}
}

func TestPolicyStanding(t *testing.T) {
	a, b := tokAt("A", t0, time.Hour), tokAt("B", t0, time.Hour)
	for _, tc := range []struct {
		name   string
		tok    Token
		e      Entry
		marked bool
		want   standing
	}{
		{"no token", Token{}, Entry{Rejected: a.Fingerprint()}, true, sound},
		{"nothing known against it", a, Entry{Token: a}, false, sound},
		{"refused here", a, Entry{Token: a}, true, refused},
		{"refused elsewhere", a, Entry{Token: a, Rejected: a.Fingerprint()}, false, refused},
		{"another token refused", a, Entry{Token: a, Rejected: b.Fingerprint()}, false, sound},
		{"being revoked", a, Entry{Token: a, Revoking: a.Fingerprint()}, false, revoking},
		{"being revoked and refused: refused", a, Entry{Token: a, Revoking: a.Fingerprint(), Rejected: a.Fingerprint()}, false, refused},
		{"a served token the entry records as refused, replaced", a, Entry{Token: b, Rejected: a.Fingerprint()}, false, refused},
		{"a served token the entry records as being revoked, replaced", a, Entry{Token: b, Revoking: a.Fingerprint()}, false, revoking},
		{"a served token the entry does not hold", a, Entry{Token: b}, false, sound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := standingOf(tc.tok, tc.e, tc.marked); got != tc.want {
				t.Errorf("standingOf() = %v; want %v", got, tc.want)
			}
		})
	}
}

func TestPolicyAfterIssue(t *testing.T) {
	day := 24 * time.Hour
	a := tokAt("A", t0.Add(-2*time.Hour), day)
	aAgain := tokAt("A", t0, day-2*time.Hour) // A handed back: the broker's IssuedAt is the answer's
	inMargin := tokAt("A", t0.Add(-day+30*time.Second), day)
	expired := tokAt("A", t0.Add(-2*day), day)
	for _, tc := range []struct {
		name string
		pol  policy
		in   answer
		want decision // verb, and the fields below when set
	}{
		{name: "a new token, nothing before: accept, issued", in: answer{now: t0, tok: tokAt("B", t0, day)}, want: decision{verb: accept, event: EventIssued}},
		{name: "a new token over a live one: accept, refreshed", in: answer{now: t0, tok: tokAt("B", t0, day), served: &a}, want: decision{verb: accept, event: EventRefreshed}},
		{name: "a new token over an expired one: accept, issued", in: answer{now: t0, tok: tokAt("B", t0, day), served: &expired, stored: expired}, want: decision{verb: accept, event: EventIssued}},
		{name: "a new token over one in its last margin: accept, refreshed", in: answer{now: t0, tok: tokAt("B", t0, day), served: &inMargin}, want: decision{verb: accept, event: EventRefreshed}},
		{name: "the served token handed back: accept, reused, its first IssuedAt kept", in: answer{now: t0, tok: aAgain, served: &a},
			want: decision{verb: accept, event: EventReused, same: true, tok: a}},
		{name: "the stored token handed back: accept, reused", in: answer{now: t0, tok: aAgain, stored: a},
			want: decision{verb: accept, event: EventReused, same: true, tok: a}},
		{name: "the token just rejected, again: fail, forget the refusal, remembered", in: answer{now: t0, tok: tokAt("A", t0, day), marked: true},
			want: decision{verb: fail, err: ErrTokenReturnedAgain, forget: true, hold: 61 * time.Second}},
		{name: "the same token in its last margin: revoke and issue again", in: answer{now: t0, tok: inMargin}, want: decision{verb: revoke, tok: inMargin}},
		{name: "in its last margin even after a revoke: fail", in: answer{now: t0, tok: inMargin, again: true}, want: decision{verb: fail, err: ErrUnavailable, hold: 61 * time.Second}},
		{name: "valid when asked, expired on the way: issue again",
			in: answer{now: t0, asked: t0.Add(-2 * time.Minute), tok: tokAt("A", t0.Add(-day-time.Minute), day)}, want: decision{verb: issue}},
		{name: "expired on the way after one more issue: fail",
			in: answer{now: t0, asked: t0.Add(-2 * time.Minute), tok: tokAt("A", t0.Add(-day-time.Minute), day), again: true}, want: decision{verb: fail, err: ErrUnavailable}},
		{name: "an expired answer: fail", in: answer{now: t0, tok: tokAt("A", t0.Add(-2*day), day)}, want: decision{verb: fail, err: ErrUnavailable, hold: 61 * time.Second}},
		{name: "a fresh token with less life than the margin: accept (margin capped at a quarter of its life)",
			pol: policy{margin: 30 * time.Minute, minInterval: time.Second, budget: time.Minute}, in: answer{now: t0, tok: tokAt("B", t0, 15*time.Minute)}, want: decision{verb: accept, event: EventIssued}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := tc.pol
			if pol == (policy{}) {
				pol = kisPol
			}
			in := tc.in
			if in.asked.IsZero() {
				in.asked = in.now
			}
			got := pol.afterIssue(in)
			w := tc.want
			if got.verb != w.verb || (w.err != nil && !errors.Is(got.err, w.err)) {
				t.Errorf("afterIssue() = %v %v; want %v %v", got.verb, got.err, w.verb, w.err)
			}
			if got.event != w.event || got.same != w.same || got.forget != w.forget {
				t.Errorf("afterIssue() event %q, same %v, forget %v; want %q, %v, %v", got.event, got.same, got.forget, w.event, w.same, w.forget)
			}
			if w.hold != 0 && got.hold != w.hold {
				t.Errorf("afterIssue() hold = %v; want %v", got.hold, w.hold)
			}
			if got.verb == fail && got.why == "" {
				t.Error("afterIssue() fails without saying why")
			}
			if w.tok.AccessToken != "" && got.tok != w.tok {
				t.Errorf("afterIssue() token = %q issued %v; want %q issued %v", got.tok.AccessToken, got.tok.IssuedAt, w.tok.AccessToken, w.tok.IssuedAt)
			}
		})
	}
}

func TestPolicyReissue(t *testing.T) {
	for _, tc := range []struct {
		name      string
		lastIssue time.Time
		want      verb
		d         time.Duration
	}{
		{"right after an attempt: wait the rest of the spacing", t0.Add(-time.Second), waitFor, 60 * time.Second},
		{"the spacing over: issue", t0.Add(-61 * time.Second), issue, 0},
		{"an attempt recorded in the future: one spacing at most", t0.Add(time.Hour), waitFor, 61 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := kisPol.reissue(t0, tc.lastIssue)
			if got.verb != tc.want || got.d != tc.d {
				t.Errorf("reissue() = %v %v; want %v %v", got.verb, got.d, tc.want, tc.d)
			}
		})
	}
}

func TestPolicyRetryAhead(t *testing.T) {
	for _, tc := range []struct {
		name      string
		left      time.Duration // until the token stops being served
		notBefore time.Duration // from now: when the broker allows the next request (0: no rate limit)
		want      time.Duration // from now
	}{
		{"20 min left: after a quarter of it", 20 * time.Minute, 0, 5 * time.Minute},
		{"2 min left: no sooner than the spacing", 2 * time.Minute, 0, 61 * time.Second},
		{"30 s left: never past the end of the token", 30 * time.Second, 0, 30 * time.Second},
		{"rate-limited for 3 min: not before the broker allows", 20 * time.Minute, 3 * time.Minute, 5 * time.Minute},
		{"rate-limited for 8 min: not before the broker allows", 20 * time.Minute, 8 * time.Minute, 8 * time.Minute},
		{"rate-limited past the end of the token: the end", 10 * time.Minute, 12 * time.Minute, 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var notBefore time.Time
			if tc.notBefore != 0 {
				notBefore = t0.Add(tc.notBefore)
			}
			if got := kisPol.retryAhead(t0, t0.Add(tc.left), notBefore); !got.Equal(t0.Add(tc.want)) {
				t.Errorf("retryAhead() = now+%v; want now+%v", got.Sub(t0), tc.want)
			}
		})
	}
}

func TestPolicyHoldFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want time.Duration
	}{
		{"transient: seconds", &Error{Kind: ErrUnavailable}, 5 * time.Second},
		{"a wait asked for", &Error{Kind: ErrRateLimited, RetryAfter: 30 * time.Second}, 30 * time.Second},
		{"anything else: one spacing", &Error{Kind: ErrCredentials}, 61 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := kisPol.holdFor(tc.err); got != tc.want {
				t.Errorf("holdFor(%v) = %v; want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestPolicyNextRequest(t *testing.T) {
	kiwoomPol := policy{margin: time.Minute, minInterval: time.Second, budget: 3 * time.Minute}
	for _, tc := range []struct {
		name string
		pol  policy
		err  error
		wait time.Duration // what retry decided
		want time.Duration // from now; 0: no rate limit recorded
	}{
		{"transient: nothing recorded", kisPol, &Error{Kind: ErrUnavailable}, 2 * time.Second, 0},
		{"credentials: nothing recorded", kisPol, &Error{Kind: ErrCredentials}, 0, 0},
		{"EGW00133: the rest of the spacing, when the flight tries again", kisPol, &Error{Kind: ErrRateLimited, Code: "EGW00133", RetryAfter: time.Minute}, 60500 * time.Millisecond, 60500 * time.Millisecond},
		{"a Retry-After longer than the wait: the Retry-After", kisPol, &Error{Kind: ErrRateLimited, RetryAfter: 5 * time.Minute}, 61 * time.Second, 5 * time.Minute},
		{"a 1 s spacing, the backoff at 24 s: the backoff", kiwoomPol, &Error{Kind: ErrRateLimited, Code: "1700", RetryAfter: time.Second}, 24 * time.Second, 24 * time.Second},
		{"no wait decided: at least the spacing", kiwoomPol, &Error{Kind: ErrRateLimited}, 0, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.pol.nextRequest(tc.err, t0, tc.wait)
			switch {
			case tc.want == 0 && !got.IsZero():
				t.Errorf("nextRequest() = now+%v; want none", got.Sub(t0))
			case tc.want != 0 && !got.Equal(t0.Add(tc.want)):
				t.Errorf("nextRequest() = now+%v; want now+%v", got.Sub(t0), tc.want)
			}
		})
	}
}

func TestPolicyUsableUntil(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		tok  Token
		want time.Time
	}{
		{tokAt("A", t0, day), t0.Add(day - time.Minute)},
		{tokAt("A", t0, 2*time.Minute), t0.Add(90 * time.Second)}, // a quarter of 2 min
		{Token{AccessToken: "A", ExpiresAt: t0}, t0.Add(-time.Minute)},
		// A same-token answer keeps its first IssuedAt, so it does not look young.
		{keepIssuedAt(tokAt("A", t0.Add(day-30*time.Second), 30*time.Second), tokAt("A", t0, day)), t0.Add(day - time.Minute)},
	} {
		if got := kisPol.usableUntil(tc.tok); !got.Equal(tc.want) {
			t.Errorf("usableUntil(issued %v, expires %v) = %v; want %v", tc.tok.IssuedAt, tc.tok.ExpiresAt, got, tc.want)
		}
	}
}

func TestPolicyReconcile(t *testing.T) {
	day := 24 * time.Hour
	a := tokAt("A", t0.Add(-2*time.Hour), day)
	b := tokAt("B", t0.Add(-time.Hour), day)
	for _, tc := range []struct {
		name   string
		stored Entry
		marked bool // a refusal of the stored token was recorded here
		served *Token
		want   verb
	}{
		{"the store holds what we serve: keep", Entry{Token: b}, false, &b, keep},
		{"a newer token in the store: adopt", Entry{Token: b}, false, &a, adopt},
		{"an older token in the store (a write of ours failed): keep, never swap back", Entry{Token: a}, false, &b, keep},
		{"served token revoked elsewhere: drop", Entry{Rejected: b.Fingerprint()}, false, &b, fail},
		{"served token being revoked elsewhere (its revoker may be dead): drop", Entry{Token: b, Revoking: b.Fingerprint()}, false, &b, fail},
		{"served token being revoked elsewhere, replaced: adopt", Entry{Token: b, Revoking: a.Fingerprint()}, false, &a, adopt},
		{"served token rejected elsewhere, replaced: adopt", Entry{Token: b, Rejected: a.Fingerprint()}, false, &a, adopt},
		{"entry removed elsewhere: drop", Entry{}, false, &b, fail},
		{"nothing served, a usable token stored: adopt", Entry{Token: b}, false, nil, adopt},
		{"a stored token we know rejected: keep ours", Entry{Token: b}, true, &a, keep},
		{"a stored token rejected elsewhere: keep ours", Entry{Token: b, Rejected: b.Fingerprint()}, false, &a, keep},
		{"nothing served, the stored token being revoked: nothing to adopt", Entry{Token: b, Revoking: b.Fingerprint()}, false, nil, keep},
		{"nothing served, the stored token rejected elsewhere: nothing to adopt", Entry{Token: b, Rejected: b.Fingerprint()}, false, nil, keep},
		{"a stored token in its last margin: keep ours", Entry{Token: tokAt("B", t0.Add(-day+30*time.Second), day)}, false, &a, keep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := kisPol.reconcile(t0, tc.stored, tc.marked, tc.served, true); got != tc.want {
				t.Errorf("reconcile() = %v; want %v", got, tc.want)
			}
			// Without the lock, a reload only drops a revoked or removed
			// token, or takes the replacement stored with its record.
			unlocked := tc.want
			if tc.want == adopt && (tc.served == nil || (tc.stored.Rejected != tc.served.Fingerprint() && tc.stored.Revoking != tc.served.Fingerprint())) {
				unlocked = keep
			}
			if got := kisPol.reconcile(t0, tc.stored, tc.marked, tc.served, false); got != unlocked {
				t.Errorf("reconcile() without the lock = %v; want %v", got, unlocked)
			}
		})
	}
}

func TestPolicyRetry(t *testing.T) {
	unavailable := &Error{Kind: ErrUnavailable, Code: "HTTP 502"}
	for _, tc := range []struct {
		name               string
		err                error
		took, spent        time.Duration
		wantWait           time.Duration
		wantAgain, counted bool
	}{
		{"an HTML 502: back off, not counted", unavailable, time.Second, 0, 500 * time.Millisecond, true, false},
		{"a transient answer asking for a wait", &Error{Kind: ErrUnavailable, RetryAfter: 5 * time.Second}, 0, 0, 5 * time.Second, true, false},
		{"EGW00133: wait out the spacing, counted", &Error{Kind: ErrRateLimited, Code: "EGW00133"}, time.Second, 0, 60 * time.Second, true, true},
		{"bad credentials: stop", &Error{Kind: ErrCredentials}, 0, 0, 0, false, true},
		{"a redirect: stop, not counted", &Error{Kind: ErrUnavailable, Code: "HTTP 307", Err: &RedirectError{StatusCode: 307, Host: "elsewhere.example"}}, 0, 0, 0, false, false},
		{"out of budget: stop", unavailable, 0, 179*time.Second + 800*time.Millisecond, 500 * time.Millisecond, false, false},
		{"EGW00133 past the budget: stop", &Error{Kind: ErrRateLimited}, 0, 150 * time.Second, 61 * time.Second, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wait, again, counted := kisPol.retry(tc.err, tc.took, tc.spent, 500*time.Millisecond)
			if again != tc.wantAgain || counted != tc.counted || (tc.wantAgain && wait != tc.wantWait) {
				t.Errorf("retry(%v) = %v, again %v, counted %v; want %v, %v, %v", tc.err, wait, again, counted, tc.wantWait, tc.wantAgain, tc.counted)
			}
		})
	}
}

func TestPolicyCutLife(t *testing.T) {
	day := 24 * time.Hour
	far := time.Date(9999, 12, 31, 23, 59, 59, 0, KST)
	for _, tc := range []struct {
		name string
		tok  Token
		from time.Time
		life time.Duration
		want Token
		cut  bool
	}{
		{name: "a day's token: as sent", tok: tokAt("A", t0, day), from: t0, life: day, want: tokAt("A", t0, day)},
		{name: "exactly at the skew: as sent", tok: tokAt("A", t0, day+3*time.Hour), from: t0, life: day, want: tokAt("A", t0, day+3*time.Hour)},
		{name: "a second over the skew: cut to the documented life", tok: tokAt("A", t0, day+3*time.Hour+time.Second), from: t0, life: day,
			want: tokAt("A", t0, day), cut: true},
		{name: "a broker's bad expiry (9999-12-31): cut", tok: Token{AccessToken: "A", IssuedAt: t0, ExpiresAt: far}, from: t0, life: day,
			want: tokAt("A", t0, day), cut: true},
		{name: "a longer documented life (31 h): 34 h as sent", tok: tokAt("A", t0, 34*time.Hour), from: t0, life: 31 * time.Hour,
			want: tokAt("A", t0, 34*time.Hour)},
		{name: "a longer documented life (31 h): 35 h cut to 31 h", tok: tokAt("A", t0, 35*time.Hour), from: t0, life: 31 * time.Hour,
			want: tokAt("A", t0, 31*time.Hour), cut: true},
		{name: "a zero documented life means 24 h: 27 h as sent", tok: tokAt("A", t0, 27*time.Hour), from: t0,
			want: tokAt("A", t0, 27*time.Hour)},
		{name: "a zero documented life means 24 h: 28 h cut to 24 h", tok: tokAt("A", t0, 28*time.Hour), from: t0,
			want: tokAt("A", t0, day), cut: true},
		{name: "received without IssuedAt and cut: issued at its receipt", tok: Token{AccessToken: "A", ExpiresAt: far}, from: t0, life: day,
			want: tokAt("A", t0, day), cut: true},
		{name: "received with an IssuedAt after its receipt and cut: issued at its receipt", tok: Token{AccessToken: "A", IssuedAt: t0.Add(time.Hour), ExpiresAt: far}, from: t0, life: day,
			want: tokAt("A", t0, day), cut: true},
		{name: "a stored token cut from its issuance, not from now", tok: Token{AccessToken: "A", IssuedAt: t0.Add(-20 * time.Hour), ExpiresAt: far}, from: t0.Add(-20 * time.Hour), life: day,
			want: tokAt("A", t0.Add(-20*time.Hour), day), cut: true},
		{name: "a stored token over the skew from its issuance, inside it from now: still cut", tok: tokAt("A", t0.Add(-2*time.Hour), day+4*time.Hour), from: t0.Add(-2 * time.Hour), life: day,
			want: tokAt("A", t0.Add(-2*time.Hour), day), cut: true},
		{name: "a stored token without IssuedAt: nothing to count from, as stored", tok: Token{AccessToken: "A", ExpiresAt: far}, life: day,
			want: Token{AccessToken: "A", ExpiresAt: far}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.tok.Type, tc.want.Type = "", ""
			got, cut := cutLife(tc.tok, tc.from, tc.life)
			if !got.ExpiresAt.Equal(tc.want.ExpiresAt) || !got.IssuedAt.Equal(tc.want.IssuedAt) || got.AccessToken != tc.want.AccessToken || cut != tc.cut {
				t.Errorf("cutLife() = issued %v, expires %v, cut %v; want issued %v, expires %v, cut %v",
					got.IssuedAt, got.ExpiresAt, cut, tc.want.IssuedAt, tc.want.ExpiresAt, tc.cut)
			}
		})
	}
}

func TestPolicyPlanRevoke(t *testing.T) {
	day := 24 * time.Hour
	stored := tokAt("S", t0.Add(-time.Hour), day)
	served := tokAt("V", t0.Add(-2*time.Hour), day)
	for _, tc := range []struct {
		name string
		in   found
		want revokePlan
	}{
		{name: "a stored token: mark it in the store, then revoke it", in: found{stored: Entry{Token: stored, LastIssue: t0}},
			want: revokePlan{verb: revoke, tok: stored, mark: Entry{Token: stored, LastIssue: t0, Revoking: stored.Fingerprint()}, write: true}},
		{name: "the stored token is the one served here: mark it, stop serving it, revoke it", in: found{stored: Entry{Token: stored}, served: &stored},
			want: revokePlan{verb: revoke, tok: stored, mark: Entry{Token: stored, Revoking: stored.Fingerprint()}, write: true, drop: true}},
		{name: "the store holds a newer token than the one served here: revoke the stored one, keep serving", in: found{stored: Entry{Token: stored}, served: &served},
			want: revokePlan{verb: revoke, tok: stored, mark: Entry{Token: stored, Revoking: stored.Fingerprint()}, write: true}},
		{name: "a stored token already refused: revoke it all the same", in: found{stored: Entry{Token: stored, Rejected: stored.Fingerprint()}},
			want: revokePlan{verb: revoke, tok: stored, mark: Entry{Token: stored, Rejected: stored.Fingerprint(), Revoking: stored.Fingerprint()}, write: true}},
		{name: "nothing stored, a token served here: mark the entry, stop serving it, revoke it", in: found{stored: Entry{LastIssue: t0}, served: &served},
			want: revokePlan{verb: revoke, tok: served, mark: Entry{LastIssue: t0, Revoking: served.Fingerprint()}, write: true, drop: true}},
		{name: "nothing stored, nothing served: nothing to revoke", in: found{stored: Entry{LastIssue: t0}}, want: revokePlan{verb: keep}},
		{name: "the store unreadable, a token served here: revoke it without a mark", in: found{unread: true, served: &served},
			want: revokePlan{verb: revoke, tok: served, mark: Entry{Revoking: served.Fingerprint()}, drop: true}},
		{name: "the store unreadable, nothing served: fail, saying what could not be read", in: found{unread: true},
			want: revokePlan{verb: fail, why: "reading the store for the token to revoke"}},
		{name: "the store cannot be locked: revoke all the same, and report the store", in: found{unlocked: true, stored: Entry{Token: stored}},
			want: revokePlan{verb: revoke, storeFailed: "locking the store", tok: stored, mark: Entry{Token: stored, Revoking: stored.Fingerprint()}, write: true}},
		{name: "the store cannot be locked nor read, a token served here: revoke it, report the store", in: found{unlocked: true, unread: true, served: &served},
			want: revokePlan{verb: revoke, storeFailed: "locking the store", tok: served, mark: Entry{Revoking: served.Fingerprint()}, drop: true}},
		{name: "the caller gave up waiting for the lock: fail, touching nothing", in: found{unlocked: true, gaveUp: true, stored: Entry{Token: stored}, served: &stored},
			want: revokePlan{verb: fail}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := kisPol.planRevoke(tc.in)
			if got != tc.want {
				t.Errorf("planRevoke() = %+v; want %+v", got, tc.want)
			}
		})
	}
}

func TestPolicyRevoked(t *testing.T) {
	tok := tokAt("S", t0.Add(-time.Hour), 24*time.Hour)
	fp := tok.Fingerprint()
	pending := Entry{Token: tok, LastIssue: t0, Revoking: fp}
	gone := Entry{LastIssue: t0, Rejected: fp}
	lost := &Error{Op: "revoke", Kind: ErrUnavailable, Message: "connection reset"}
	for _, tc := range []struct {
		name string
		in   revokeAnswer
		want revokeEnd
	}{
		{name: "revoked: record the refusal, forget the token, clear the mark", in: revokeAnswer{tok: tok, stored: pending, marked: true},
			want: revokeEnd{verb: revoke, event: EventRevoked, entry: gone, save: true}},
		{name: "already gone at the broker (refused as unknown or expired): as revoked", in: revokeAnswer{tok: tok, err: &Error{Kind: ErrTokenRejected}, stored: pending, marked: true},
			want: revokeEnd{verb: revoke, event: EventRevoked, entry: gone, save: true}},
		{name: "a failed revoke may have reached the broker: fail, the mark stays", in: revokeAnswer{tok: tok, err: lost, stored: pending, marked: true},
			want: revokeEnd{verb: fail, event: EventFailed}},
		{name: "a revoke that timed out may have reached the broker: fail, the mark stays", in: revokeAnswer{tok: tok, err: context.DeadlineExceeded, stored: pending, marked: true},
			want: revokeEnd{verb: fail, event: EventFailed}},
		{name: "revoked, the mark never written: record it; if that fails, the caller is told", in: revokeAnswer{tok: tok, stored: Entry{Token: tok, LastIssue: t0}},
			want: revokeEnd{verb: revoke, event: EventRevoked, entry: gone, save: true, unmarked: true}},
		{name: "revoked, the store unreadable: nothing to write over, remove the entry", in: revokeAnswer{tok: tok, unread: true},
			want: revokeEnd{verb: revoke, event: EventRevoked, entry: Entry{Rejected: fp}, unmarked: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := kisPol.revoked(tc.in)
			if got != tc.want {
				t.Errorf("revoked() = %+v; want %+v", got, tc.want)
			}
		})
	}
}
