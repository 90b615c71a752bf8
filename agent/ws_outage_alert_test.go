package agent_test

import (
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/agent/internal/config"
)

// wsAlertSetup is wsOutageSetup with a webhook recorder, the agent's
// clock at start, alert_options.ws_unavailable_after at after, and
// ws_quiet_off_hours on kis-mock.
func wsAlertSetup(t *testing.T, down *atomic.Bool, start time.Time, after time.Duration) (setup, *webhookRecorder) {
	rec := new(webhookRecorder)
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	s := wsOutageSetup(t, down)
	s.clock = newFakeClock(start)
	outage := s.cfg
	s.cfg = func(c *agent.Config) {
		outage(c)
		c.Alerts = []config.Webhook{{Name: "ops", URL: srv.URL, Events: []string{"ws_unavailable", "ws_restored"}}}
		c.AlertOptions.WSUnavailableAfter = after
		for i := range c.Accounts {
			if c.Accounts[i].Name == "kis-mock" {
				c.Accounts[i].WSQuietOffHours = true
			}
		}
	}
	return s, rec
}

// TestWSUnavailableAlert: in trading hours, an upstream WebSocket that
// stays unavailable past alert_options.ws_unavailable_after (on the
// agent's clock) sends one ws_unavailable alert naming the account and
// the cause, and a ws_restored alert once it is back; nothing before the
// threshold.
func TestWSUnavailableAlert(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	s, rec := wsAlertSetup(t, &down, time.Date(2026, 12, 9, 10, 0, 0, 0, kauth.KST), 2*time.Minute) // a Wednesday
	h := newHarness(t, s)
	w := h.ws("tcp", "kis-mock")
	w.kisSubscribe("1", "H0STCNT0", "005930")
	w.wantControl("KAUTH0001", "005930")
	s.clock.Advance(time.Minute)
	time.Sleep(100 * time.Millisecond)
	if got := rec.all(); len(got) != 0 {
		t.Fatalf("after 1m of a 2m threshold: %q; want no alert yet", got)
	}
	s.clock.Advance(time.Minute)
	eventually(t, "the ws_unavailable alert", func() bool { return rec.has("ws_unavailable", "kis-mock", "") })
	body := rec.all()[0]
	if !strings.Contains(body, "unavailable for 2m0s") || !strings.Contains(body, "404") {
		t.Errorf("alert %s; want how long and the 404", body)
	}
	if strings.Contains(body, kisMock.AppKey) || strings.Contains(body, kisMock.Secret) {
		t.Errorf("alert %s names the app key or secret", body)
	}
	s.clock.Advance(time.Minute)
	down.Store(false)
	// The news that the session is back and the answer to the subscribe
	// that waited for it travel separately: either may come first.
	for range 2 {
		if c := w.control(); c.Body.MsgCd != "KAUTH0002" && c.Body.MsgCd != "OPSP0000" {
			t.Fatalf("after the outage: %+v; want KAUTH0002 and OPSP0000", c)
		}
	}
	eventually(t, "the ws_restored alert", func() bool { return rec.has("ws_restored", "kis-mock", "") })
	if n := len(rec.all()); n != 2 {
		t.Errorf("alerts %q; want one ws_unavailable and one ws_restored", rec.all())
	}
	if !strings.Contains(h.logs.String(), "agent: upstream WebSocket session unavailable") {
		t.Errorf("the outage was not logged")
	}
}

// TestWSUnavailableAlertQuietOffHours: with ws_quiet_off_hours, an
// upstream WebSocket down outside trading hours (a Saturday) sends no
// alert however long it lasts.
func TestWSUnavailableAlertQuietOffHours(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	s, rec := wsAlertSetup(t, &down, time.Date(2026, 12, 12, 10, 0, 0, 0, kauth.KST), time.Minute) // a Saturday
	h := newHarness(t, s)
	w := h.ws("tcp", "kis-mock")
	w.kisSubscribe("1", "H0STCNT0", "005930")
	eventually(t, "reconnection attempts", func() bool { return strings.Count(h.logs.String(), "realtime: connection ended; reconnecting") >= 1 })
	for range 10 {
		s.clock.Advance(time.Minute)
	}
	time.Sleep(200 * time.Millisecond)
	if got := rec.all(); len(got) != 0 {
		t.Fatalf("outside trading hours: %q; want no alert", got)
	}
}
