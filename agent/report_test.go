package agent_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
)

// TestHostileReportsCauseNoOutage is issue 10 item 1: a client reading the
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
