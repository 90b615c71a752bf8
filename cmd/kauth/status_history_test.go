package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/store/file"
)

// TestStatusHistory: after the broker refused one issuance for the KIS mock
// app (a wrong secret) and kauth token then issued once, status says so:
// issued today, by which host and process, the failure and its code, and
// when the next issuance is allowed, in JSON and in the table, never a
// secret.
func TestStatusHistory(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	day := time.Now().In(kauth.KST).Format(time.DateOnly)
	r := run(t, with(env, "KIS_APPSECRET", "FAKE-TEST-KIS-SECRET-a-wrong-one"), "", "token", "--broker", "kis", "--env", "mock")
	r.wantCode(t, exitCredentials)
	const code = "EGW00105" // KIS: 유효하지 않은 AppSecret입니다.
	// The right secret, past the issuance spacing the refused attempt
	// started.
	st, err := file.New(env["KAUTH_CACHE_DIR"])
	if err != nil {
		t.Fatal(err)
	}
	key, secret := fakeApp(kauth.KIS)
	creds := kauth.Credentials{Broker: kauth.KIS, Env: kauth.Mock, AppKey: key, AppSecret: secret}
	e, err := st.Load(context.Background(), creds.Key())
	if err != nil {
		t.Fatal(err)
	}
	e.LastIssue, e.RetryAt = time.Now().Add(-2*time.Minute), time.Time{}
	if err := st.Save(context.Background(), creds.Key(), e); err != nil {
		t.Fatal(err)
	}
	r = run(t, env, "", "token", "--broker", "kis", "--env", "mock")
	r.wantCode(t, 0)
	tok := strings.TrimSpace(r.stdout)

	r = run(t, env, "", "status", "--json")
	r.wantCode(t, 0)
	var out statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Tokens) != 1 {
		t.Fatalf("status --json: %d tokens; want 1\n%s", len(out.Tokens), r.stdout)
	}
	got := out.Tokens[0]
	host, _ := os.Hostname()
	if day == time.Now().In(kauth.KST).Format(time.DateOnly) && (got.IssuedToday != 1 || got.SameToday != 0 || got.FailedToday != 1) {
		t.Errorf("today = %d issued, %d same, %d failed; want 1, 0, 1", got.IssuedToday, got.SameToday, got.FailedToday)
	}
	if li := got.LastIssue; li == nil || li.Outcome != kauth.OutcomeIssued || li.Host != host || li.PID != os.Getpid() {
		t.Errorf("last_issue = %+v; want issued by %s pid %d", li, host, os.Getpid())
	}
	if lf := got.LastFailure; lf == nil || lf.Code != code || lf.Host != host || lf.PID != os.Getpid() {
		t.Errorf("last_failure = %+v; want %s by %s pid %d", lf, code, host, os.Getpid())
	}
	if next := mustParse(got.NextIssue); !next.After(time.Now()) || next.After(time.Now().Add(2*time.Minute)) {
		t.Errorf("next_issue = %q; want within the minute's spacing after the issuance", got.NextIssue)
	}

	r = run(t, env, "", "status")
	r.wantCode(t, 0)
	for _, want := range []string{"TODAY (KST)", "LAST ISSUE (KST)", "NEXT ISSUE (KST)", "LAST FAILURE (KST)", code, host + " pid "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status does not show %q:\n%s", want, r.stdout)
		}
	}
	for name, s := range map[string]string{"token": tok, "app key": key, "app secret": secret} {
		if s == "" || strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			t.Errorf("status shows the %s (or it is empty)", name)
		}
	}
}

// TestStatusHistoryDay: the counts are those of the KST day of now, in
// whatever zone now is read, and the next issuance is the later of the
// spacing and the broker's rate limit.
func TestStatusHistoryDay(t *testing.T) {
	// 00:30 KST on the 26th is 15:30 UTC on the 25th.
	now := time.Date(2026, 11, 26, 0, 30, 0, 0, kauth.KST).In(time.FixedZone("PST", -8*3600))
	h := kauth.History{Day: "2026-11-26", Issued: 2, Same: 1, Failed: 1,
		LastIssue:   kauth.IssueRecord{At: now.Add(-10 * time.Second), Outcome: kauth.OutcomeSame, Host: "h1", PID: 7},
		LastFailure: kauth.IssueRecord{At: now.Add(-time.Hour), Outcome: kauth.OutcomeFailed, Host: "h2", PID: 8, Code: "EGW00133"},
	}
	tests := []struct {
		name                 string
		e                    kauth.Entry
		now                  time.Time
		issued, same, failed int
		next                 string
	}{
		{"today, within the spacing", kauth.Entry{History: h, LastIssue: now.Add(-10 * time.Second)}, now, 2, 1, 1, "2026-11-26T00:30:51+09:00"},
		{"the rate limit is later", kauth.Entry{History: h, LastIssue: now.Add(-10 * time.Second), RetryAt: now.Add(5 * time.Minute)}, now, 2, 1, 1, "2026-11-26T00:35:00+09:00"},
		{"spacing over", kauth.Entry{History: h, LastIssue: now.Add(-2 * time.Minute)}, now, 2, 1, 1, ""},
		{"the KST day before", kauth.Entry{History: h}, now.Add(-time.Hour), 0, 0, 0, ""},
		{"no history", kauth.Entry{}, now, 0, 0, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got tokenStatusJSON
			got.history(tc.e, 61*time.Second, tc.now)
			if got.IssuedToday != tc.issued || got.SameToday != tc.same || got.FailedToday != tc.failed || got.NextIssue != tc.next {
				t.Errorf("history = %d, %d, %d, next %q; want %d, %d, %d, next %q",
					got.IssuedToday, got.SameToday, got.FailedToday, got.NextIssue, tc.issued, tc.same, tc.failed, tc.next)
			}
			if tc.e.History == (kauth.History{}) && (got.LastIssue != nil || got.LastFailure != nil) {
				t.Errorf("no history shows %+v, %+v", got.LastIssue, got.LastFailure)
			}
		})
	}
}
