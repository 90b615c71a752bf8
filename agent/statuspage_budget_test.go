package agent_test

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/budget"
	"github.com/kauth/kauth/internal/testredis"
)

// statusBudget is the call budget of one account in /status/data.json.
type statusBudget struct {
	InUse    float64 `json:"in_use"`
	Unknown  bool    `json:"in_use_unknown"`
	Burst    int
	Shared   bool
	Fallback bool
}

func (h *harness) statusBudget(cookie *http.Cookie, name string) statusBudget {
	h.t.Helper()
	r := h.browserGet("/status/data.json", cookie, nil)
	var d struct {
		Accounts []struct {
			Name   string
			Budget statusBudget
		}
	}
	r.json(h.t, &d)
	for _, a := range d.Accounts {
		if a.Name == name {
			return a.Budget
		}
	}
	h.t.Fatalf("data.json has no %s: %s", name, r.body)
	return statusBudget{}
}

// sharedOn has the agent share its call budgets through c, under prefix.
func sharedOn(c goredis.UniversalClient, prefix string, timeout time.Duration) func(*agent.Options) {
	return func(o *agent.Options) {
		o.SharedBudget = func(s agent.BudgetSpec) (*budget.Shared, error) {
			return budget.NewShared(budget.Config{Client: c, Key: prefix + ":{" + s.Key.String() + "}:budget", PerSecond: s.PerSecond,
				Burst: s.Burst, LocalShare: s.LocalShare, Timeout: timeout,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnFallback: s.OnFallback})
		}
	}
}

// TestStatusShowsSharedBudget: two agents share the app key's call budget
// through Redis; the calls one of them makes show on the other's status
// page as the budget in use, the figure of the shared budget itself, not
// the second agent's own idle view of it. With the shared budget out of
// reach, the page says it does not know the figure rather than show one.
func TestStatusShowsSharedBudget(t *testing.T) {
	c := testredis.Client(t)
	prefix := testredis.Prefix(t)
	// A budget that takes 10 s to refill a call, so that the spend is
	// still there when the pages look, however slow the machine.
	slow := func(c *agent.Config) { c.Accounts[0].RateLimit = 0.1 }
	idle := newHarness(t, setup{cfg: slow, opts: sharedOn(c, prefix, 0)})
	busy := newHarness(t, setup{cfg: slow, opts: sharedOn(c, prefix, 0)})
	idleCookie := idle.statusSession("")
	busyCookie := busy.statusSession("")

	if b := idle.statusBudget(idleCookie, "kis-mock"); !b.Shared || b.Unknown || b.InUse != 0 {
		t.Errorf("budget before any call = %+v; want shared, none of it in use", b)
	}
	kisOK(t, busy.kisPrice("kis-mock", nil))
	seen := idle.statusBudget(idleCookie, "kis-mock")
	own := busy.statusBudget(busyCookie, "kis-mock")
	if !seen.Shared || seen.Unknown || seen.InUse < 0.5 || seen.InUse > 1 {
		t.Errorf("the idle agent's page, after the other agent's call, shows the budget %+v; want about 1 call of the shared budget in use", seen)
	}
	if own.Unknown || own.InUse < 0.5 || own.InUse > 1 {
		t.Errorf("the calling agent's page shows the budget %+v; want about 1 call of the shared budget in use", own)
	}

	// An agent whose shared budget cannot be reached paces on its own
	// share, and its page does not pretend to know the shared figure.
	dead := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { dead.Close() })
	cut := newHarness(t, setup{cfg: slow, opts: sharedOn(dead, prefix, 50*time.Millisecond)})
	cutCookie := cut.statusSession("")
	if b := cut.statusBudget(cutCookie, "kis-mock"); !b.Shared || !b.Unknown || b.Fallback {
		t.Errorf("budget of an agent whose Redis is out of reach = %+v; want shared, its figure unknown", b)
	}
	kisOK(t, cut.kisPrice("kis-mock", nil))
	if b := cut.statusBudget(cutCookie, "kis-mock"); !b.Shared || !b.Unknown || !b.Fallback {
		t.Errorf("budget of an agent that paced a call on its own share = %+v; want shared, on its share, its figure unknown", b)
	}
}
