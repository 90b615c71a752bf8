package kauth

import (
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
	for _, tc := range []struct {
		name string
		pol  policy
		in   before
		want verb
		d    time.Duration
		err  error
	}{
		{name: "nothing stored: issue", in: before{now: t0}, want: issue},
		{name: "a usable stored token: adopt", in: before{now: t0, stored: Entry{Token: fresh}}, want: adopt},
		{name: "a stored token marked rejected: issue", in: before{now: t0, stored: Entry{Token: fresh}, rejected: true}, want: issue},
		{name: "a stored token in its last margin: issue", in: before{now: t0, stored: Entry{Token: last}}, want: issue},
		{name: "refresh ahead, store holds our old token: issue", in: before{now: t0, stored: Entry{Token: window}, ahead: true}, want: issue},
		{name: "refresh ahead, someone refreshed already: adopt", in: before{now: t0, stored: Entry{Token: fresh}, ahead: true}, want: adopt},
		{name: "issued 10 s ago, nothing usable: wait the rest", in: before{now: t0, stored: Entry{LastIssue: t0.Add(-10 * time.Second)}}, want: waitFor, d: 51 * time.Second},
		{name: "issued 10 s ago, a usable token: keep it, try later", in: before{now: t0, stored: Entry{Token: window, LastIssue: t0.Add(-10 * time.Second)}, ahead: true}, want: keep},
		{name: "LastIssue 5 min in the future: wait one spacing at most", in: before{now: t0, stored: Entry{LastIssue: t0.Add(5 * time.Minute)}}, want: waitFor, d: 61 * time.Second},
		{name: "LastIssue 1 h in the future: still one spacing", in: before{now: t0, stored: Entry{LastIssue: t0.Add(time.Hour)}}, want: waitFor, d: 61 * time.Second},
		{name: "the spacing outlasts IssueTimeout: fail now", pol: policy{margin: time.Minute, minInterval: 61 * time.Second, budget: 20 * time.Second},
			in: before{now: t0, stored: Entry{LastIssue: t0.Add(-time.Second)}}, want: fail, d: 60 * time.Second, err: ErrRateLimited},
		{name: "the spacing outlasts what is left of the budget: fail now", in: before{now: t0, stored: Entry{LastIssue: t0.Add(-10 * time.Second)}, spent: 150 * time.Second}, want: fail, d: 51 * time.Second, err: ErrRateLimited},
		{name: "spacing over: issue", in: before{now: t0, stored: Entry{Token: last, LastIssue: t0.Add(-61 * time.Second)}}, want: issue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := tc.pol
			if pol == (policy{}) {
				pol = kisPol
			}
			got := pol.beforeIssue(tc.in)
			if got.verb != tc.want || (tc.d != 0 && got.d != tc.d) || (tc.err != nil && !errors.Is(got.err, tc.err)) {
				t.Errorf("beforeIssue() = %v %v %v; want %v %v %v", got.verb, got.d, got.err, tc.want, tc.d, tc.err)
			}
			if got.verb == waitFor && got.d > pol.minInterval {
				t.Errorf("wait %v exceeds MinIssueInterval %v", got.d, pol.minInterval)
			}
			if got.verb == keep && !got.at.After(tc.in.now) {
				t.Errorf("keep until %v; want a later retry", got.at)
			}
		})
	}
}

func TestPolicyAfterIssue(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		name string
		pol  policy
		in   answer
		want verb
		err  error
	}{
		{name: "a new token: adopt", in: answer{now: t0, tok: tokAt("B", t0, day)}, want: adopt},
		{name: "the token just rejected, again: fail", in: answer{now: t0, tok: tokAt("A", t0, day), rejected: true}, want: fail, err: ErrTokenReturnedAgain},
		{name: "the same token in its last margin: revoke and issue again", in: answer{now: t0, tok: tokAt("A", t0.Add(-day+30*time.Second), day)}, want: issue},
		{name: "in its last margin even after a revoke: fail", in: answer{now: t0, tok: tokAt("A", t0.Add(-day+30*time.Second), day), revoked: true}, want: fail, err: ErrUnavailable},
		{name: "an expired answer: fail", in: answer{now: t0, tok: tokAt("A", t0.Add(-2*day), day)}, want: fail, err: ErrUnavailable},
		{name: "a fresh token with less life than the margin: adopt (margin capped at a quarter of its life)",
			pol: policy{margin: 30 * time.Minute, minInterval: time.Second, budget: time.Minute}, in: answer{now: t0, tok: tokAt("B", t0, 15*time.Minute)}, want: adopt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := tc.pol
			if pol == (policy{}) {
				pol = kisPol
			}
			got := pol.afterIssue(tc.in)
			if got.verb != tc.want || (tc.err != nil && !errors.Is(got.err, tc.err)) {
				t.Errorf("afterIssue() = %v %v; want %v %v", got.verb, got.err, tc.want, tc.err)
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
		name     string
		stored   Entry
		rejected bool
		served   *Token
		want     verb
	}{
		{"the store holds what we serve: keep", Entry{Token: b}, false, &b, keep},
		{"a newer token in the store: adopt", Entry{Token: b}, false, &a, adopt},
		{"an older token in the store (a write of ours failed): keep, never swap back", Entry{Token: a}, false, &b, keep},
		{"served token revoked elsewhere: drop", Entry{Rejected: b.Fingerprint()}, false, &b, fail},
		{"served token being revoked elsewhere (its revoker may be dead): drop", Entry{Token: b, Revoking: b.Fingerprint()}, true, &b, fail},
		{"served token being revoked elsewhere, replaced: adopt", Entry{Token: b, Revoking: a.Fingerprint()}, false, &a, adopt},
		{"served token rejected elsewhere, replaced: adopt", Entry{Token: b, Rejected: a.Fingerprint()}, false, &a, adopt},
		{"entry removed elsewhere: drop", Entry{}, false, &b, fail},
		{"nothing served, a usable token stored: adopt", Entry{Token: b}, false, nil, adopt},
		{"a stored token we know rejected: keep ours", Entry{Token: b}, true, &a, keep},
		{"a stored token in its last margin: keep ours", Entry{Token: tokAt("B", t0.Add(-day+30*time.Second), day)}, false, &a, keep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := kisPol.reconcile(t0, tc.stored, tc.rejected, tc.served); got != tc.want {
				t.Errorf("reconcile() = %v; want %v", got, tc.want)
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
