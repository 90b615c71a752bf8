package agent_test

import (
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/budget"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/toss"
)

// newTossHarness serves the demo Toss client as account toss-real.
func newTossHarness(t *testing.T, tune ...func(*agent.Config)) *harness {
	t.Helper()
	return newTossHarnessOpts(t, nil, tune...)
}

// newTossHarnessOpts is newTossHarness with opts applied to the agent's
// options too.
func newTossHarnessOpts(t *testing.T, opts func(*agent.Options), tune ...func(*agent.Config)) *harness {
	t.Helper()
	app := brokersim.DemoTossReal
	env := map[string]string{"K_TOSS": app.AppKey, "S_TOSS": app.Secret}
	h := newHarness(t, setup{cfg: func(c *agent.Config) {
		c.Accounts = []agent.Account{{Name: "toss-real", Broker: toss.Broker, Env: kauth.Real,
			AppKey: agent.Secret{Env: "K_TOSS"}, AppSecret: agent.Secret{Env: "S_TOSS"}}}
		for _, f := range tune {
			f(c)
		}
	}, opts: func(o *agent.Options) {
		if opts != nil {
			opts(o)
		}
		get := o.Getenv
		o.Getenv = func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return get(k)
		}
	}, onSim: func(u string) {
		env[toss.BaseURLEnv] = brokersim.BaseURL(u, toss.Broker, kauth.Real)
	}})
	h.secrets = append(h.secrets, app.AppKey, app.Secret)
	return h
}

// TestTossGroupBudgets: the agent paces Toss's calls per API group — three
// ACCOUNT calls (1 a second) are spread over two seconds and more, while
// MARKET_DATA calls made at the same time do not wait behind them — and
// the broker rate-limits none of them.
func TestTossGroupBudgets(t *testing.T) {
	h := newTossHarness(t)
	if tok := h.token("toss-real"); tok.AccessToken == "" {
		t.Fatal("no token")
	}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var accountsDone, pricesDone []time.Duration
	call := func(path string, done *[]time.Duration) {
		defer wg.Done()
		r := h.viaUnix("GET", "/proxy/toss-real"+path, nil, nil)
		if r.status != 200 {
			t.Errorf("GET %s = %d %s", path, r.status, r.body)
		}
		mu.Lock()
		*done = append(*done, time.Since(start))
		mu.Unlock()
	}
	for range 3 {
		wg.Add(1)
		go call("/api/v1/accounts", &accountsDone)
	}
	for range 5 {
		wg.Add(1)
		go call(toss.ProbePath, &pricesDone)
	}
	wg.Wait()
	slowest := func(ds []time.Duration) (m time.Duration) {
		for _, d := range ds {
			m = max(m, d)
		}
		return m
	}
	if d := slowest(accountsDone); d < 2*time.Second {
		t.Errorf("3 ACCOUNT calls took %v; want them paced at under 1 a second", d)
	}
	if d := slowest(pricesDone); d > time.Second {
		t.Errorf("5 MARKET_DATA calls took %v; want them not held behind ACCOUNT", d)
	}
	if st := h.sim.Stats().App(toss.Broker, kauth.Real, brokersim.DemoTossReal.AppKey); st.RateLimited != 0 {
		t.Errorf("the broker rate-limited %d calls; want 0", st.RateLimited)
	}
}

// TestTossGroupRetryAfter: after a 429 with Retry-After, the group's next
// call waits that long; other groups do not.
func TestTossGroupRetryAfter(t *testing.T) {
	h := newTossHarness(t)
	h.token("toss-real")
	h.sim.Inject(brokersim.Fault{Kind: brokersim.RateLimit, Broker: toss.Broker, Env: kauth.Real, Path: "/api/v1/prices", Count: 1})
	if r := h.viaUnix("GET", "/proxy/toss-real"+toss.ProbePath, nil, nil); r.status != http.StatusTooManyRequests {
		t.Fatalf("faulted call = %d %s; want the broker's 429", r.status, r.body)
	}
	start := time.Now()
	if r := h.viaUnix("GET", "/proxy/toss-real/api/v1/accounts", nil, nil); r.status != 200 || time.Since(start) > 500*time.Millisecond {
		t.Errorf("another group's call = %d after %v; want it at once", r.status, time.Since(start))
	}
	if r := h.viaUnix("GET", "/proxy/toss-real"+toss.ProbePath, nil, nil); r.status != 200 {
		t.Fatalf("next call = %d %s", r.status, r.body)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("the call after a 429 with Retry-After: 1 went after %v; want a second's wait", d)
	}
}

// TestTossAccountHeaderPassesThrough: the proxy adds the bearer token and
// passes X-Tossinvest-Account, which Toss's account calls require, through
// untouched; without it the broker's own 400 comes back.
func TestTossAccountHeaderPassesThrough(t *testing.T) {
	h := newTossHarness(t)
	h.token("toss-real")
	r := h.viaUnix("GET", "/proxy/toss-real/api/v1/holdings", nil, http.Header{"X-Tossinvest-Account": {"1"}})
	if r.status != 200 || !strings.Contains(string(r.body), `"result"`) {
		t.Fatalf("holdings with the account header = %d %s", r.status, r.body)
	}
	r = h.viaUnix("GET", "/proxy/toss-real/api/v1/holdings", nil, nil)
	if r.status != 400 || !strings.Contains(string(r.body), "account-header-required") {
		t.Fatalf("holdings without the account header = %d %s; want the broker's 400", r.status, r.body)
	}
	// The token endpoint is never proxied.
	if r := h.viaUnix("POST", "/proxy/toss-real/oauth2/token", nil, nil); r.status != http.StatusForbidden {
		t.Errorf("proxied /oauth2/token = %d; want it refused", r.status)
	}
}

// TestTossNoRevokeOnShutdown: revoke_on_shutdown leaves a Toss token alone
// (Toss has no revoke endpoint) and closes without an error; the token
// stays valid for the other holders of the client.
func TestTossNoRevokeOnShutdown(t *testing.T) {
	h := newTossHarness(t, func(c *agent.Config) { c.RevokeOnShutdown = true })
	tok := h.token("toss-real").AccessToken
	h.close() // fails the test if Close returns an error
	if cur, _, ok := h.sim.CurrentToken(toss.Broker, kauth.Real, brokersim.DemoTossReal.AppKey); !ok || cur != tok {
		t.Error("the Toss token was touched on shutdown")
	}
	if n := h.sim.Issued(toss.Broker, kauth.Real, brokersim.DemoTossReal.AppKey); n != 1 {
		t.Errorf("issued %d tokens; want 1", n)
	}
}

// TestTossGroupBudgetsShared: with a shared budget (Options.SharedBudget),
// a Toss account builds one per API group it calls, keyed by the app key
// and the group, at 90% of the group's limit — so that agents on one Redis
// pace each group together — and its calls go through it.
func TestTossGroupBudgetsShared(t *testing.T) {
	c := goredis.NewClient(testredis.Options(t))
	t.Cleanup(func() { c.Close() })
	prefix := testredis.Prefix(t)
	var mu sync.Mutex
	specs := map[string]agent.BudgetSpec{}
	h := newTossHarnessOpts(t, func(o *agent.Options) {
		o.SharedBudget = func(s agent.BudgetSpec) (*budget.Shared, error) {
			mu.Lock()
			specs[s.Key.String()] = s
			mu.Unlock()
			return budget.NewShared(budget.Config{Client: c, Key: prefix + ":{" + s.Key.String() + "}:budget", PerSecond: s.PerSecond,
				Burst: s.Burst, LocalShare: s.LocalShare, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnFallback: s.OnFallback})
		}
	})
	h.token("toss-real")
	start := time.Now()
	for range 3 {
		if r := h.viaUnix("GET", "/proxy/toss-real/api/v1/accounts", nil, nil); r.status != 200 {
			t.Fatalf("accounts = %d %s", r.status, r.body)
		}
	}
	if r := h.viaUnix("GET", "/proxy/toss-real"+toss.ProbePath, nil, nil); r.status != 200 {
		t.Fatalf("prices = %d %s", r.status, r.body)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("3 ACCOUNT calls on the shared budget took %v; want them paced under 1 a second", took)
	}
	fp := kauth.Fingerprint(brokersim.DemoTossReal.AppKey)
	mu.Lock()
	defer mu.Unlock()
	for group, want := range map[string]float64{"account": 0.9, "market_data": 13.5} {
		s, ok := specs["toss/real/"+fp+"."+group]
		if !ok {
			t.Errorf("no shared budget for group %s; built %v", group, specs)
			continue
		}
		if math.Abs(s.PerSecond-want) > 1e-9 || s.Burst != 1 {
			t.Errorf("group %s budget = %v/s burst %d; want %v/s burst 1", group, s.PerSecond, s.Burst, want)
		}
	}
	if st := h.sim.Stats().App(toss.Broker, kauth.Real, brokersim.DemoTossReal.AppKey); st.RateLimited != 0 {
		t.Errorf("the broker rate-limited %d calls; want 0", st.RateLimited)
	}
}
