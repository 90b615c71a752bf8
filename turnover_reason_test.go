package kauth_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/krx"
)

// TestTurnoverReported checks that a refresh made in the turnover window is
// told as one, in the event, the log line and the issuance history, and
// that a refresh that is not one is not.
func TestTurnoverReported(t *testing.T) {
	for _, tc := range []struct {
		name     string
		turnover *kauth.Turnover
		want     bool
	}{
		{"turnover", &kauth.Turnover{From: 7*time.Hour + 30*time.Minute, To: 8*time.Hour + 30*time.Minute, Calendar: krx.Default()}, true},
		{"no window", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Date(2026, 12, 7, 14, 0, 0, 0, kauth.KST) // a Monday
			r := newRig(t)
			r.sim.Clock = func() time.Time { return start }
			var (
				mu     sync.Mutex
				events []kauth.Event
				logs   bytes.Buffer
			)
			m := r.manager(t, brokersim.DemoKISMock, func(c *kauth.Config) {
				c.Turnover = tc.turnover
				c.Logger = slog.New(slog.NewTextHandler(&syncWriter{mu: &mu, w: &logs}, nil))
				c.OnEvent = func(ev kauth.Event) {
					mu.Lock()
					defer mu.Unlock()
					events = append(events, ev)
				}
			})
			ctx := context.Background()
			if _, err := m.Token(ctx); err != nil {
				t.Fatal(err)
			}
			at, turn := m.NextRefresh()
			if turn != tc.want {
				t.Fatalf("NextRefresh() = %v, %v; want turnover %v", at, turn, tc.want)
			}
			r.sim.Advance(at.Sub(r.sim.Now()))
			if _, err := m.Token(ctx); err != nil {
				t.Fatal(err)
			}
			settle(t, m, r.sim.Now())

			mu.Lock()
			defer mu.Unlock()
			var refreshed []kauth.Event
			for _, ev := range events {
				if ev.Kind == kauth.EventRefreshed {
					refreshed = append(refreshed, ev)
				}
				if ev.Kind == kauth.EventIssued && ev.Turnover {
					t.Errorf("the first issuance is told as a turnover: %+v", ev)
				}
			}
			if len(refreshed) != 1 || refreshed[0].Turnover != tc.want {
				t.Fatalf("refreshed events %+v; want one with Turnover %v", refreshed, tc.want)
			}
			var line string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, `msg="kauth: token refreshed"`) {
					line = l
				}
			}
			if got := strings.Contains(line, "reason=turnover"); got != tc.want {
				t.Errorf("log line %q: reason=turnover %v; want %v", line, got, tc.want)
			}
			h, _, err := m.Issuance(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if h.LastIssue.Turnover != tc.want {
				t.Errorf("History.LastIssue = %+v; want Turnover %v", h.LastIssue, tc.want)
			}
			if first := h.Recent()[0]; first.Turnover {
				t.Errorf("the first issuance's record %+v says turnover", first)
			}
		})
	}
}

type syncWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
