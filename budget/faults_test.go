package budget_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/budget"
	"github.com/kauth/kauth/internal/tcpproxy"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/kis"
)

// proxiedClient returns a client of the test Redis through p, with the
// timeouts kauth's Redis store opens its clients with.
func proxiedClient(t *testing.T, p *tcpproxy.Proxy) *goredis.Client {
	t.Helper()
	o := testredis.Options(t)
	o.Addr = p.Addr()
	o.DialTimeout = time.Second
	o.ReadTimeout = 2 * time.Second
	o.WriteTimeout = 2 * time.Second
	o.MaxRetries = 1
	o.DialerRetries = 1
	c := goredis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// recorder is a Limiter that notes when each call was let through and
// every error its budget gave.
type recorder struct {
	l     kauth.Limiter
	run   context.Context // errors after it ends are the run stopping
	mu    *sync.Mutex
	calls *[]time.Time
	errs  *atomic.Int64
	last  *atomic.Value // the last error, for the failure message
}

func (r recorder) Wait(ctx context.Context) error {
	if err := r.l.Wait(ctx); err != nil {
		if r.run.Err() == nil {
			r.errs.Add(1)
			r.last.Store(err.Error())
		}
		return err
	}
	r.mu.Lock()
	*r.calls = append(*r.calls, time.Now())
	r.mu.Unlock()
	return nil
}

// faultRun is what a run of budget holders through Redis faults saw.
type faultRun struct {
	sim      brokersim.Counts
	calls    []time.Time // every call let through, sorted
	budget   int64       // calls the budget failed
	lastErr  string
	failed   int64 // calls that got no answer from the simulator
	timeline []string
}

// runThroughFaults drives n budget holders of one app key (each on a Redis
// client of its own, as n agents would be, all through proxy p) with
// 4 callers each, calling KIS real through brokersim as fast as the budget
// lets them, while script breaks and mends the link to Redis.
func runThroughFaults(t *testing.T, n int, p *tcpproxy.Proxy, hold func(i int) kauth.Limiter, script func()) faultRun {
	t.Helper()
	sim := brokersim.New()
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	app := brokersim.DemoKISReal
	base := brokersim.BaseURL(ts.URL, app.Broker, app.Env)
	store := kauth.NewMemoryStore()
	var (
		mu      sync.Mutex
		calls   []time.Time
		errs    atomic.Int64
		failed  atomic.Int64
		lastErr atomic.Value
	)
	lastErr.Store("")
	ctx, cancel := context.WithCancel(t.Context())
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
		lim := recorder{l: hold(i), run: ctx, mu: &mu, calls: &calls, errs: &errs, last: &lastErr}
		c := &http.Client{Transport: &kauth.Transport{Manager: m, Limiter: lim}}
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					// A caller's own deadline, as an HTTP client's timeout
					// would give it.
					cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
					req, _ := http.NewRequestWithContext(cctx, "GET", base+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
					req.Header.Set("tr_id", "FHKST01010100")
					resp, err := c.Do(req)
					if err != nil {
						if ctx.Err() == nil {
							failed.Add(1)
						}
						ccancel()
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ccancel()
				}
			}()
		}
	}
	script()
	cancel()
	wg.Wait()
	sort.Slice(calls, func(i, j int) bool { return calls[i].Before(calls[j]) })
	return faultRun{sim: sim.Stats().App(app.Broker, app.Env, app.AppKey), calls: calls,
		budget: errs.Load(), lastErr: lastErr.Load().(string), failed: failed.Load()}
}

// longestGap returns the longest time between two calls let through.
func longestGap(ts []time.Time) time.Duration {
	var g time.Duration
	for i := 1; i < len(ts); i++ {
		g = max(g, ts[i].Sub(ts[i-1]))
	}
	return g
}

// perSecond counts the calls of each second from the first.
func perSecond(ts []time.Time) string {
	if len(ts) == 0 {
		return ""
	}
	var out []int
	for _, c := range ts {
		i := int(c.Sub(ts[0]) / time.Second)
		for len(out) <= i {
			out = append(out, 0)
		}
		out[i]++
	}
	return fmt.Sprint(out)
}

// Two holders of one app key's budget at full load while the link to its
// Redis stalls (open but silent), comes back, is cut, and comes back: no
// call fails for the budget's sake, calls go on within a second on the
// local shares, and the broker sees its limit kept throughout, on the way
// out and on the way back.
func TestBudgetOutlivesItsRedis(t *testing.T) {
	p, err := tcpproxy.New(testredis.Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	key := testredis.Prefix(t) + ":{kis/real/ffffffffffff}:budget"
	log := new(testlog.Buffer)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("budget log:\n%s", log.String())
		}
	})
	run := runThroughFaults(t, 2, p, func(int) kauth.Limiter {
		s, err := budget.NewShared(budget.Config{Client: proxiedClient(t, p), Key: key, PerSecond: 18, Burst: 1, LocalShare: 0.5, Logger: log.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, func() {
		time.Sleep(time.Second)
		p.Stall()
		time.Sleep(2 * time.Second)
		p.Restore()
		time.Sleep(2 * time.Second)
		p.Cut()
		time.Sleep(2 * time.Second)
		p.Restore()
		time.Sleep(2 * time.Second)
	})
	t.Logf("%d calls ok, %d EGW00201, %d failed by the budget, %d failed in all; longest gap %v; calls per second %s",
		run.sim.OK, run.sim.RateLimited, run.budget, run.failed, longestGap(run.calls).Round(time.Millisecond), perSecond(run.calls))
	if run.budget != 0 {
		t.Errorf("the budget failed %d calls while its Redis stalled or was cut (last: %s); want 0: the local share serves them", run.budget, run.lastErr)
	}
	if run.failed != 0 {
		t.Errorf("%d calls failed in all; want 0", run.failed)
	}
	if run.sim.RateLimited != 0 {
		t.Errorf("the broker answered EGW00201 %d times; the way out of Redis and the way back must keep the limit", run.sim.RateLimited)
	}
	if g := longestGap(run.calls); g > time.Second {
		t.Errorf("no call went for %v; the local shares must take over within a second", g)
	}
	if got := maxInWindow(run.calls, time.Second); got > 20 {
		t.Errorf("%d calls in one second; the broker allows 20", got)
	}
}

// Callers whose deadlines are shorter than the budget's Redis timeout still
// find the local share when Redis stalls: they do not all run out of time
// waiting for it.
func TestShortDeadlinesFallBackOnAStall(t *testing.T) {
	p, err := tcpproxy.New(testredis.Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	log := new(testlog.Buffer)
	s, err := budget.NewShared(budget.Config{Client: proxiedClient(t, p), Key: testredis.Prefix(t) + ":{kis/real/abababababab}:budget",
		PerSecond: 18, Burst: 1, Logger: log.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	p.Stall()
	ok, failed := 0, 0
	var last error
	for range 5 {
		ctx, cancel := context.WithTimeout(t.Context(), 400*time.Millisecond)
		if err := s.Wait(ctx); err != nil {
			failed++
			last = err
		} else {
			ok++
		}
		cancel()
	}
	p.Restore()
	if failed != 0 {
		t.Errorf("%d of 5 callers with 400 ms deadlines failed while Redis stalled (last: %v); want all served on the local share", failed, last)
	}
	if !s.Fallback() {
		t.Errorf("Fallback() = false after Redis stalled")
	}
}
