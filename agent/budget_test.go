package agent_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/budget"
	"github.com/kauth/kauth/internal/tcpproxy"
	"github.com/kauth/kauth/internal/testredis"
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

// With its shared budget's Redis stalled (the link open but silent), an
// agent goes on serving proxied calls on its budget_share: none fails, and
// none is blamed on the broker.
func TestSharedBudgetOutlivesAStalledRedis(t *testing.T) {
	p, err := tcpproxy.New(testredis.Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	o := testredis.Options(t)
	o.Addr = p.Addr()
	o.ReadTimeout, o.WriteTimeout, o.MaxRetries = 2*time.Second, 2*time.Second, 1
	c := goredis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	prefix := testredis.Prefix(t)
	h := newHarness(t, setup{
		opts: func(o *agent.Options) {
			o.SharedBudget = func(s agent.BudgetSpec) (*budget.Shared, error) {
				return budget.NewShared(budget.Config{Client: c, Key: prefix + ":{" + s.Key.String() + "}:budget", PerSecond: s.PerSecond,
					Burst: s.Burst, LocalShare: s.LocalShare, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnFallback: s.OnFallback})
			}
		},
	})
	call := func() response {
		return h.viaUnix("GET", "/proxy/kis-real/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil,
			http.Header{"Tr_id": {"FHKST01010100"}})
	}
	if r := call(); r.status != 200 {
		t.Fatalf("proxied call with Redis up = %d %s", r.status, r.body)
	}
	p.Stall()
	var mu sync.Mutex
	var bad []string
	ok := 0
	stop := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				r := call()
				mu.Lock()
				if r.status == 200 {
					ok++
				} else {
					bad = append(bad, fmt.Sprintf("%d %s", r.status, r.body))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(bad) != 0 {
		t.Errorf("%d proxied calls failed while the budget's Redis stalled (first: %s); want 0: the local share serves them", len(bad), bad[0])
	}
	if ok == 0 {
		t.Errorf("no proxied call went through while the budget's Redis stalled")
	}
	if strings.Contains(h.logs.String(), "proxied request failed") {
		t.Errorf("the agent logged a failed proxied call while only the budget's Redis stalled")
	}
	m := h.viaUnix("GET", "/metrics", nil, nil)
	fallback := ""
	for _, line := range strings.Split(string(m.body), "\n") {
		if strings.HasPrefix(line, `kauth_budget_fallback{app="kis/real/`) {
			fallback = line
		}
	}
	if !strings.HasSuffix(fallback, "} 1") {
		t.Errorf("/metrics says %q; want kauth_budget_fallback of 1 for kis/real", fallback)
	}
	p.Restore()
}
