package agent_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
)

// TestAccountsShowNextTurnover: an account with a turnover window tells in
// GET /v1/accounts when its token turns over; one without tells nothing.
func TestAccountsShowNextTurnover(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 12, 7, 14, 0, 0, 0, kauth.KST)) // a Monday
	h := newHarness(t, setup{clock: clock, cfg: func(c *agent.Config) {
		c.Accounts[0].Turnover = "07:30-08:30" // kis-mock
	}})
	var list struct{ Accounts []agent.AccountInfo }
	h.viaUnix("GET", "/v1/accounts", nil, nil).json(t, &list)
	got := map[string]string{}
	for _, a := range list.Accounts {
		got[a.Name] = a.NextTurnover
	}
	// The token issued Monday 14:00 would be refreshed Tuesday 13:30,
	// during the session: it turns over Tuesday 07:30 instead.
	if got["kis-mock"] != "2026-12-08T07:30:00+09:00" {
		t.Errorf("kis-mock next_turnover = %q; want 2026-12-08T07:30:00+09:00", got["kis-mock"])
	}
	if got["kis-real"] != "" {
		t.Errorf("kis-real next_turnover = %q; want none (no window)", got["kis-real"])
	}

	// Tuesday 07:31: the keeper turns the token over.
	clock.Advance(17*time.Hour + 31*time.Minute)
	eventually(t, "kis-mock's token turned over", func() bool {
		var list struct{ Accounts []agent.AccountInfo }
		h.viaUnix("GET", "/v1/accounts", nil, nil).json(t, &list)
		return list.Accounts[0].Name == "kis-mock" && list.Accounts[0].ExpiresAt == "2026-12-09T07:31:00+09:00" && list.Accounts[0].NextTurnover == ""
	})
	// Its history tells the issuance was a turnover.
	h.viaUnix("GET", "/v1/accounts", nil, nil).json(t, &list)
	if li := list.Accounts[0].LastIssue; li == nil || !li.Turnover || li.At != "2026-12-08T07:31:00+09:00" {
		t.Errorf("kis-mock last_issue = %+v; want the turnover at 07:31", li)
	}
	if n := h.sim.Issued(kisMock.Broker, kisMock.Env, kisMock.AppKey); n != 2 {
		t.Errorf("kis-mock issuances = %d; want 2", n)
	}
}

// TestWSQuietOffHours: with ws_quiet_off_hours, while the KRX market is
// closed (here: a holiday file that closes the next two weeks) a bot that
// subscribes while the broker's WebSocket is down is not told it is
// unavailable; once the broker is back its subscription goes through.
func TestWSQuietOffHours(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	s := wsOutageSetup(t, &down)
	var days []string
	for d := range 14 {
		days = append(days, time.Now().In(kauth.KST).AddDate(0, 0, d).Format(time.DateOnly))
	}
	holidays := writeFile(t, t.TempDir(), "holidays.txt", strings.Join(days, "\n"), 0o600)
	outage := s.cfg
	s.cfg = func(c *agent.Config) {
		outage(c)
		c.KRXHolidays = holidays
		for i := range c.Accounts {
			if c.Accounts[i].Name == "kis-mock" {
				c.Accounts[i].WSQuietOffHours = true
			}
		}
	}
	h := newHarness(t, s)
	w := h.ws("tcp", "kis-mock")
	w.kisSubscribe("1", "H0STCNT0", "005930")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			break // nothing within the second: quiet
		}
		if m := string(b); !strings.Contains(m, "PINGPONG") {
			t.Fatalf("while the market is closed and the broker 404s: %s; want nothing", m)
		}
	}
	down.Store(false)
	w = h.ws("tcp", "kis-mock") // the read's deadline closed the first connection
	w.kisSubscribe("1", "H0STCNT0", "005930")
	if c := w.control(); c.Header.TrKey != "005930" || c.Body.RtCd != "0" {
		t.Fatalf("after the outage: %+v; want the subscription answered", c)
	}
}
