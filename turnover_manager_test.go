package kauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/krx"
)

// TestTurnoverOverVirtualDays runs a trading program that asks for a KIS
// token every 10 minutes over 30 virtual days, from a Monday 14:00
// KST, through Christmas, the year-end closure and New Year. With a turnover window
// of 07:30 to 08:30 KST no token is issued during a session once the first
// is held, and no more are issued than without one; without it, the token
// turns over during the session.
func TestTurnoverOverVirtualDays(t *testing.T) {
	window := &kauth.Turnover{From: 7*time.Hour + 30*time.Minute, To: 8*time.Hour + 30*time.Minute, Calendar: krx.Default()}
	with := runDays(t, window)
	without := runDays(t, nil)

	if len(with.inSession) != 0 {
		t.Errorf("with a turnover window: issued during a session at %v", with.inSession)
	}
	if with.issued > without.issued {
		t.Errorf("with a turnover window: %d issuances; without: %d. A turnover must cost no extra issuance", with.issued, without.issued)
	}
	if with.reissued != 0 {
		t.Errorf("with a turnover window: %d requests answered with the same token (wasted turnovers)", with.reissued)
	}
	if with.turnovers == 0 {
		t.Errorf("with a turnover window: no turnover planned")
	}
	if len(without.inSession) == 0 {
		t.Errorf("without a turnover window: no issuance during a session; the scenario proves nothing")
	}
	t.Logf("issuances: %d with the window, %d without (%d of them in session)", with.issued, without.issued, len(without.inSession))
}

type dayRun struct {
	issued, reissued int
	turnovers        int
	inSession        []string // when tokens were issued during a session
}

func runDays(t *testing.T, turnover *kauth.Turnover) dayRun {
	t.Helper()
	start := time.Date(2026, 12, 7, 14, 0, 0, 0, kauth.KST) // a Monday
	r := newRig(t)
	r.sim.Clock = func() time.Time { return start }
	app := brokersim.DemoKISMock
	m := r.manager(t, app, func(c *kauth.Config) {
		c.Turnover = turnover
	})
	cal := krx.Default()
	ctx := context.Background()

	var run dayRun
	var last string
	for end := start.Add(30 * 24 * time.Hour); r.sim.Now().Before(end); r.sim.Advance(10 * time.Minute) {
		now := r.sim.Now()
		tok, err := m.Token(ctx)
		if err != nil {
			t.Fatalf("%s: Token() = %v", now.In(kauth.KST).Format("Mon 01-02 15:04"), err)
		}
		if !now.Add(time.Minute).Before(tok.ExpiresAt) {
			t.Fatalf("%s: Token() served a token in its last margin (expires %v)", now.In(kauth.KST).Format("Mon 01-02 15:04"), tok.ExpiresAt)
		}
		settle(t, m, now)
		if tok, _ := m.Cached(); tok.AccessToken != last {
			if last != "" && cal.InSession(tok.IssuedAt) {
				run.inSession = append(run.inSession, tok.IssuedAt.In(kauth.KST).Format("Mon 01-02 15:04"))
			}
			last = tok.AccessToken
		}
		if _, turn := m.NextRefresh(); turn {
			run.turnovers++
		}
	}
	st := r.sim.Stats()
	run.issued, run.reissued = st.Issued, st.Reissued
	return run
}

// settle waits for a background refresh that the call at now started,
// calling again (as a program does) if the store's news of the last
// refresh swapped the served state under the call.
func settle(t *testing.T, m *kauth.Manager, now time.Time) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if at, _ := m.NextRefresh(); at.After(now) {
			return
		}
		if time.Now().After(deadline) {
			at, turn := m.NextRefresh()
			tok, ok := m.Cached()
			t.Fatalf("no refresh planned after %v: next %v %v; token issued %v expires %v usable %v", now, at, turn, tok.IssuedAt.In(kauth.KST), tok.ExpiresAt.In(kauth.KST), ok)
		}
		time.Sleep(time.Millisecond)
		if _, err := m.Token(context.Background()); err != nil {
			t.Fatalf("%v: Token() = %v", now, err)
		}
	}
}
