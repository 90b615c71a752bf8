package agent_test

import (
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
	if n := h.sim.Issued(kisMock.Broker, kisMock.Env, kisMock.AppKey); n != 2 {
		t.Errorf("kis-mock issuances = %d; want 2", n)
	}
}
