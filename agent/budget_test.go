package agent_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/budget"
)

// With its shared budget out of reach, an agent still paces its calls, on
// its budget_share of the app key's budget, and says so in
// kauth_budget_fallback.
func TestSharedBudgetFallsBackToLocalShare(t *testing.T) {
	dead := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { dead.Close() })
	var specs []agent.BudgetSpec
	h := newHarness(t, setup{
		cfg: func(c *agent.Config) { c.BudgetShare = 0.25 },
		opts: func(o *agent.Options) {
			o.SharedBudget = func(s agent.BudgetSpec) (*budget.Shared, error) {
				specs = append(specs, s)
				return budget.NewShared(budget.Config{Client: dead, Key: "k:{" + s.Key.String() + "}:budget", PerSecond: s.PerSecond,
					Burst: s.Burst, LocalShare: s.LocalShare, Timeout: 50 * time.Millisecond,
					Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnFallback: s.OnFallback})
			}
		},
	})
	if len(specs) != 3 {
		t.Fatalf("%d shared budgets built for three app keys", len(specs))
	}
	for _, s := range specs {
		if s.LocalShare != 0.25 || s.Key.Fingerprint == "" {
			t.Errorf("budget spec %+v: want the configured share 0.25 and the app key's fingerprint", s)
		}
	}
	// kis-real: 18/s shared, 4.5/s on a quarter share. Four calls at once
	// take at least three intervals of 1/4.5 s.
	start := time.Now()
	for range 4 {
		r := h.viaUnix("GET", "/proxy/kis-real/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil,
			http.Header{"Tr_id": {"FHKST01010100"}})
		if r.status != 200 {
			t.Fatalf("proxied call on the local share = %d %s", r.status, r.body)
		}
	}
	if took := time.Since(start); took < 3*time.Second/5 {
		t.Errorf("four calls on a 4.5/s local share took %v: the fallback does not pace", took)
	}
	m := h.viaUnix("GET", "/metrics", nil, nil)
	if !strings.Contains(string(m.body), `kauth_budget_fallback{app="kis/real/`) || !strings.Contains(string(m.body), "} 1") {
		t.Errorf("/metrics has no kauth_budget_fallback of 1 for kis/real")
	}
}
