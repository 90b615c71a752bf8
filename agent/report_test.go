package agent_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
)

// TestHostileReportsCauseNoOutage: a client reading the
// token and reporting it rejected, in a loop, over TCP and the socket,
// must neither take the token away from another client nor make the agent
// call the broker more than once a minute per account.
func TestHostileReportsCauseNoOutage(t *testing.T) {
	clock := newFakeClock(time.Now())
	h := newHarness(t, setup{clock: clock})
	calls := func(target string) int { return h.sim.Stats().Targets[target].Calls }
	issued := h.sim.Stats().Issued

	for _, acct := range []struct{ name, target string }{{"kis-mock", "kis/mock"}, {"kiwoom-mock", "kiwoom/mock"}} {
		t.Run(acct.name, func(t *testing.T) {
			before := calls(acct.target)
			served := h.token(acct.name).AccessToken
			const minutes = 3
			for m := 0; m < minutes; m++ {
				for i := 0; i < 20; i++ {
					body := `{"token":"` + served + `"}`
					var r response
					if i%2 == 0 {
						r = h.viaTCP("POST", "/v1/accounts/"+acct.name+"/invalidate", strings.NewReader(body), nil)
					} else {
						r = h.viaUnix("POST", "/v1/accounts/"+acct.name+"/invalidate", strings.NewReader(body), nil)
					}
					var res agent.InvalidateResponse
					r.json(t, &res)
					if r.status != http.StatusOK || res.Invalidated {
						t.Fatalf("minute %d report %d = %d %s; want 200, not invalidated", m, i, r.status, r.body)
					}
					// Another client is served all along, with the same token.
					if got := h.token(acct.name).AccessToken; got != served {
						t.Fatalf("minute %d report %d: another client got a different token", m, i)
					}
				}
				clock.Advance(time.Minute)
			}
			// The proxy still works for everyone.
			if acct.name == "kis-mock" {
				kisOK(t, h.kisPrice(acct.name, nil))
			} else {
				kiwoomOK(t, h.kiwoomInfo(acct.name, nil))
			}
			probes := calls(acct.target) - before - 1 // less the proxied call
			if probes > minutes {
				t.Errorf("%d upstream calls in %d minutes of reports; want at most one a minute", probes, minutes)
			}
			if probes < 1 {
				t.Errorf("no probe at all: the reports were not checked with the broker")
			}
		})
	}
	if n := h.sim.Stats().Issued; n != issued {
		t.Errorf("issued %d tokens during the reports; want none", n-issued)
	}
	if n := h.sim.Issued(kauth.KIS, kauth.Mock, kisMock.AppKey); n != 1 {
		t.Errorf("kis-mock issued %d; want 1", n)
	}
}

// TestReportVerdicts: what a report makes of the broker's answer to the
// probe. Only the broker's rejection drops the token; an outage or a rate
// limit proves nothing and the token stays.
func TestReportVerdicts(t *testing.T) {
	clock := newFakeClock(time.Now())
	h := newHarness(t, setup{clock: clock})
	report := func(name, tok string) agent.InvalidateResponse {
		t.Helper()
		r := h.viaUnix("POST", "/v1/accounts/"+name+"/invalidate", strings.NewReader(`{"token":"`+tok+`"}`), nil)
		var res agent.InvalidateResponse
		r.json(t, &res)
		if r.status != http.StatusOK {
			t.Fatalf("report = %d %s", r.status, r.body)
		}
		return res
	}
	for _, tc := range []struct {
		name, path string
		fault      brokersim.FaultKind
	}{
		{"kis-mock", "/uapi/domestic-stock/v1/quotations/inquire-price", brokersim.ServerError},
		{"kiwoom-mock", "/api/dostk/stkinfo", brokersim.RateLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := h.token(tc.name).AccessToken
			b, e := kauth.KIS, kauth.Mock
			if tc.name == "kiwoom-mock" {
				b = kauth.Kiwoom
			}
			// The broker is down or rate-limits the probe: unverified, kept.
			h.sim.Inject(brokersim.Fault{Broker: b, Env: e, Path: tc.path, Kind: tc.fault})
			if res := report(tc.name, tok); res.Invalidated || res.Reason != "unverified" || res.RetryAfter != 60 {
				t.Errorf("report during a fault = %+v; want unverified, retry after 60", res)
			}
			if h.token(tc.name).AccessToken != tok {
				t.Fatal("the token was dropped on a failed probe")
			}
			// Within the minute: no new probe.
			calls := h.sim.Stats().Calls
			clock.Advance(30 * time.Second)
			if res := report(tc.name, tok); res.Invalidated || res.Reason != "unverified" || res.RetryAfter != 30 {
				t.Errorf("second report = %+v; want unverified, retry after 30", res)
			}
			if h.sim.Stats().Calls != calls {
				t.Error("a second probe within the minute")
			}
			// A minute later the broker answers: accepted, kept.
			clock.Advance(30 * time.Second)
			if res := report(tc.name, tok); res.Invalidated || res.Reason != "accepted" {
				t.Errorf("report of a good token = %+v; want accepted", res)
			}
			// The broker really drops it: a minute on, the report is
			// confirmed and the token replaced.
			h.sim.InvalidateToken(tok)
			clock.Advance(time.Minute)
			if res := report(tc.name, tok); !res.Invalidated || res.Reason != "confirmed" {
				t.Errorf("report of a rejected token = %+v; want confirmed", res)
			}
			got := make(chan agent.TokenResponse, 1)
			go func() { got <- h.token(tc.name) }()
			if fresh := awaitOnVirtualClock(h, clock, got); fresh.AccessToken == tok {
				t.Error("the rejected token is still served")
			}
			// A report about the old token changes nothing now.
			if res := report(tc.name, tok); res.Invalidated || res.Reason != "not_current" {
				t.Errorf("late report = %+v; want not_current", res)
			}
		})
	}
}
