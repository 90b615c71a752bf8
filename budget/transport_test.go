package budget_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/kis"
)

// hammer calls KIS inquire-price through n Transports (as n processes
// would), each from 4 goroutines as fast as they can for d, and returns the
// simulator's counts for the app.
func hammer(t *testing.T, n int, d time.Duration, limiter func(i int) kauth.Limiter) brokersim.Counts {
	t.Helper()
	sim := brokersim.New()
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	app := brokersim.DemoKISReal
	base := brokersim.BaseURL(ts.URL, app.Broker, app.Env)
	store := kauth.NewMemoryStore()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var wg sync.WaitGroup
	for i := range n {
		m, err := kauth.NewManager(kauth.Config{Credentials: app.Credentials(), Provider: &kis.Provider{BaseURL: base}, Store: store,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		if _, err := m.Token(t.Context()); err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: &kauth.Transport{Manager: m, Limiter: limiter(i)}}
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, "GET", base+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
					req.Header.Set("tr_id", "FHKST01010100")
					resp, err := c.Do(req)
					if err != nil {
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
	}
	wg.Wait()
	return sim.Stats().App(app.Broker, app.Env, app.AppKey)
}

// Three Transports of one app key, each pacing through the same shared
// budget, keep KIS's 20 calls/s limit between them: no EGW00201. Without
// it, each paces only itself and together they trip the limit.
func TestTransportsShareOneBudget(t *testing.T) {
	prefix := testredis.Prefix(t)
	key := prefix + ":{kis/real/dddddddddddd}:budget"
	shared := hammer(t, 3, 1500*time.Millisecond, func(int) kauth.Limiter {
		return newShared(t, testredis.Client(t), key, 18, 1)
	})
	if shared.RateLimited != 0 || shared.OK < 18 {
		t.Errorf("three Transports on one shared 18/s budget: %d calls ok, %d EGW00201; want ≥ 18 ok and 0 EGW00201", shared.OK, shared.RateLimited)
	}
	local := hammer(t, 3, 1500*time.Millisecond, func(int) kauth.Limiter { return budgetLocal(18, 1) })
	if local.RateLimited == 0 {
		t.Errorf("three Transports each on its own 18/s limiter: no EGW00201 (%d ok); the shared test would prove nothing", local.OK)
	}
	t.Logf("shared: %d ok, %d EGW00201; local only: %d ok, %d EGW00201", shared.OK, shared.RateLimited, local.OK, local.RateLimited)
}
