package kauth

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The issuance history's table: how each outcome is counted, on which KST
// day, and how much is kept.

func TestRecorded(t *testing.T) {
	me := origin{host: "h1", pid: 42}
	// 23:59:59 KST on the 25th is 14:59:59 UTC: the day turns at 15:00 UTC.
	lastSecond := time.Date(2026, 11, 25, 14, 59, 59, 0, time.UTC)
	nextDay := lastSecond.Add(time.Second)
	limited := &Error{Broker: KIS, Env: Real, Op: "issue", Kind: ErrRateLimited, Code: "EGW00133", Message: "1분당 1회"}
	down := &Error{Broker: KIS, Env: Real, Op: "issue", Kind: ErrUnavailable, Message: "connection reset"}
	full := History{Day: "2026-11-25", Issued: 3}
	for i := range HistoryEvents {
		full.Events[i] = IssueRecord{At: t0.Add(time.Duration(i) * time.Minute), Outcome: OutcomeIssued, Host: "h0", PID: i}
	}
	tests := []struct {
		name string
		h    History
		r    IssueRecord
		want func(t *testing.T, h History)
	}{
		{"first issuance starts the day", History{}, issueRecord(me, t0, false, nil), func(t *testing.T, h History) {
			want := IssueRecord{At: t0, Outcome: OutcomeIssued, Host: "h1", PID: 42}
			if h.Day != "2026-11-25" || h.Issued != 1 || h.Same != 0 || h.Failed != 0 || h.LastIssue != want || !h.LastFailure.IsZero() {
				t.Errorf("History = %+v; want day 2026-11-25, 1 issued, last %+v", h, want)
			}
			if got := h.Recent(); len(got) != 1 || got[0] != want {
				t.Errorf("Recent() = %+v; want [%+v]", got, want)
			}
		}},
		{"same token counts as issued and same", History{Day: "2026-11-25", Issued: 1}, issueRecord(me, t0, true, nil), func(t *testing.T, h History) {
			if h.Issued != 2 || h.Same != 1 || h.LastIssue.Outcome != OutcomeSame {
				t.Errorf("History = %+v; want 2 issued, 1 same, last same", h)
			}
		}},
		{"failure keeps the broker's code", History{Day: "2026-11-25", Issued: 1}, issueRecord(me, t0, false, fmt.Errorf("wrapped: %w", limited)), func(t *testing.T, h History) {
			if h.Failed != 1 || h.Issued != 1 || h.LastFailure.Code != "EGW00133" || h.LastFailure.Outcome != OutcomeFailed || !h.LastIssue.IsZero() {
				t.Errorf("History = %+v; want 1 failed with EGW00133, issued untouched", h)
			}
		}},
		{"failure without a code keeps its kind, not its message", History{}, issueRecord(me, t0, false, down), func(t *testing.T, h History) {
			if h.LastFailure.Code != "broker unavailable" {
				t.Errorf("LastFailure.Code = %q; want %q", h.LastFailure.Code, "broker unavailable")
			}
		}},
		{"the caller's deadline", History{}, issueRecord(me, t0, false, fmt.Errorf("issuing: %w", context.DeadlineExceeded)), func(t *testing.T, h History) {
			if h.LastFailure.Code != "timeout" {
				t.Errorf("LastFailure.Code = %q; want timeout", h.LastFailure.Code)
			}
		}},
		{"bare kind", History{}, issueRecord(me, t0, false, ErrTokenReturnedAgain), func(t *testing.T, h History) {
			if h.LastFailure.Code != ErrTokenReturnedAgain.Error() {
				t.Errorf("LastFailure.Code = %q; want the kind", h.LastFailure.Code)
			}
		}},
		{"last second of a KST day counts in it", History{Day: "2026-11-25", Issued: 5, Same: 2, Failed: 1}, issueRecord(me, lastSecond, false, nil), func(t *testing.T, h History) {
			if h.Day != "2026-11-25" || h.Issued != 6 || h.Same != 2 || h.Failed != 1 {
				t.Errorf("History = %+v; want the 25th with 6 issued", h)
			}
		}},
		{"a new KST day starts the counts afresh", History{Day: "2026-11-25", Issued: 5, Same: 2, Failed: 1, LastFailure: IssueRecord{At: t0, Outcome: OutcomeFailed, Code: "EGW00133"}}, issueRecord(me, nextDay, false, nil), func(t *testing.T, h History) {
			if h.Day != "2026-11-26" || h.Issued != 1 || h.Same != 0 || h.Failed != 0 {
				t.Errorf("History = %+v; want the 26th with 1 issued", h)
			}
			if h.LastFailure.Code != "EGW00133" {
				t.Errorf("LastFailure = %+v; want it kept across days", h.LastFailure)
			}
		}},
		{"a writer whose clock is behind does not take the day back", History{Day: "2026-11-26", Issued: 1}, issueRecord(me, lastSecond, false, nil), func(t *testing.T, h History) {
			if h.Day != "2026-11-26" || h.Issued != 2 {
				t.Errorf("History = %+v; want the 26th with 2 issued", h)
			}
		}},
		{"only the last events are kept", full, issueRecord(me, t0.Add(time.Hour), false, nil), func(t *testing.T, h History) {
			got := h.Recent()
			if len(got) != HistoryEvents {
				t.Fatalf("len(Recent()) = %d; want %d", len(got), HistoryEvents)
			}
			if got[0].PID != 1 || got[HistoryEvents-1].PID != 42 {
				t.Errorf("Recent() = %+v; want the oldest dropped and the new one last", got)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.h
			got := recorded(tc.h, tc.r)
			if tc.h != before {
				t.Errorf("recorded changed its argument")
			}
			tc.want(t, got)
		})
	}
}

// TestHistoryTodayAnyZone: the counts are read for the KST day, whatever
// the zone of the time asked with.
func TestHistoryTodayAnyZone(t *testing.T) {
	h := History{Day: "2026-11-26", Issued: 3, Same: 1, Failed: 2}
	for _, zone := range []*time.Location{time.UTC, time.FixedZone("PST", -8*3600), time.FixedZone("NZDT", 13*3600), KST} {
		// 00:30 KST on the 26th: still the 25th in UTC and PST.
		now := time.Date(2026, 11, 26, 0, 30, 0, 0, KST).In(zone)
		if i, s, f := h.Today(now); i != 3 || s != 1 || f != 2 {
			t.Errorf("Today(%v) = %d, %d, %d; want 3, 1, 2", now, i, s, f)
		}
		if i, s, f := h.Today(now.Add(-time.Hour)); i != 0 || s != 0 || f != 0 {
			t.Errorf("Today(%v) = %d, %d, %d; want zeros on the day before", now.Add(-time.Hour), i, s, f)
		}
	}
}
