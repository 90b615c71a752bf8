package agent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
)

func TestKeeperRefreshesInBackground(t *testing.T) {
	clock := newFakeClock(time.Now())
	h := newHarness(t, setup{
		sim:  func(s *brokersim.Server) { s.Clock = clock.Now },
		opts: func(o *agent.Options) { o.Clock = clock; o.KeepEvery = time.Minute },
	})
	issued := func() int { return h.sim.Issued(kauth.KIS, kauth.Mock, kisMock.AppKey) }
	served := func() string {
		var in agent.AccountInfo
		h.viaUnix("GET", "/v1/accounts/kis-mock", nil, nil).json(t, &in)
		return in.Token
	}

	// Each keeper gets its token at start, with no bot calling, then sleeps.
	eventually(t, "the keepers got their tokens and sleep", func() bool {
		return issued() == 1 && clock.Sleepers() == 3
	})
	first, _, _ := h.sim.CurrentToken(kauth.KIS, kauth.Mock, kisMock.AppKey)
	h.sawToken(first)

	// A keeper looking at a fresh token costs nothing upstream.
	clock.Advance(time.Minute)
	eventually(t, "the keepers sleep again", func() bool { return clock.Sleepers() == 3 })
	if n := issued(); n != 1 {
		t.Fatalf("issued %d tokens for a fresh one; want 1", n)
	}

	// Into the refresh-ahead window (the last 30 minutes of 24 hours): the
	// keeper refreshes while no bot calls.
	clock.Advance(23*time.Hour + 40*time.Minute)
	eventually(t, "the keeper refreshed the token", func() bool { return issued() == 2 })
	second, _, _ := h.sim.CurrentToken(kauth.KIS, kauth.Mock, kisMock.AppKey)
	h.sawToken(second)
	if second == first {
		t.Fatal("the simulator still holds the first token")
	}
	eventually(t, "the agent serves the new token", func() bool { return served() == kauth.Fingerprint(second) })
	// The event that the metric counts comes just after the new token is
	// served.
	deadline := time.Now().Add(5 * time.Second)
	m := h.metrics()
	for !strings.Contains(m, `kauth_token_refreshes_total{account="kis-mock"} 1`) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		m = h.metrics()
	}
	if !strings.Contains(m, `kauth_token_refreshes_total{account="kis-mock"} 1`) {
		t.Errorf("metrics lack the refresh:\n%s", grep(m, "kauth_token_"))
	}
	// The bots' first call finds the new token, no wait and no issuance.
	if got := h.token("kis-mock"); got.AccessToken != second {
		t.Error("the token endpoint serves another token than the refreshed one")
	}
	if n := issued(); n != 2 {
		t.Errorf("issued %d; want 2", n)
	}
}

func TestKeeperReissuesAfterExpiry(t *testing.T) {
	// A machine that slept through the token's whole life: the keeper
	// issues at its next look, before any bot asks.
	clock := newFakeClock(time.Now())
	h := newHarness(t, setup{
		sim:  func(s *brokersim.Server) { s.Clock = clock.Now },
		opts: func(o *agent.Options) { o.Clock = clock },
	})
	issued := func() int { return h.sim.Issued(kauth.Kiwoom, kauth.Mock, kiwoomMock.AppKey) }
	eventually(t, "the keepers sleep", func() bool { return issued() == 1 && clock.Sleepers() == 3 })
	clock.Advance(25 * time.Hour)
	eventually(t, "the keeper issued a new token", func() bool { return issued() == 2 })
}
