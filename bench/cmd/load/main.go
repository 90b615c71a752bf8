// Command load measures the kauth agent on loopback: the throughput and
// latency of its token endpoint and of its authenticating proxy, each in
// the same run beside a bare Go handler that answers the same body and a
// direct call to the simulator.
//
// It starts everything in this process on 127.0.0.1: the simulator
// (brokersim, per-second call limits off), the agent (agent.New over
// SimConfig, TCP with its key, rate limits lifted) and the bare handlers.
// Each target is driven with keep-alive connections:
//
//   - throughput: -c concurrent clients, -n requests in all (or -max of
//     time, whichever comes first), after a warm-up: requests per second;
//   - latency: one client, -serial requests: p50, p90 and p99.
//
// Targets (BENCHMARKS.md): the token endpoint serves at least 80% of the
// bare handler's requests per second; the proxy adds at most 100 µs at p50
// over a direct call to the simulator.
//
//	go run ./bench/cmd/load [-n 20000] [-c 16] [-serial 3000] [-max 10s]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/bench/internal/benchagent"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/agentsim"
)

func main() {
	n := flag.Int("n", 20000, "requests per throughput run")
	c := flag.Int("c", 16, "concurrent clients in throughput runs")
	serial := flag.Int("serial", 3000, "requests per latency run (one client)")
	maxTime := flag.Duration("max", 10*time.Second, "longest time one run may take")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to `file`")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*n, *c, *serial, *maxTime); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// target is one thing to load: a way to build its request.
type target struct {
	name string
	req  func() *http.Request
}

func run(n, conc, serial int, maxTime time.Duration) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The simulator, on loopback.
	sim := brokersim.New()
	sim.KISRealCallsPerSecond, sim.KISMockCallsPerSecond, sim.KiwoomCallsPerSecond = -1, -1, -1
	// Count the connections the simulator accepts: the proxy must reuse
	// its upstream connections, not open one per request.
	var simConns atomic.Int64
	simSrv := httptest.NewUnstartedServer(sim)
	simSrv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			simConns.Add(1)
		}
	}
	simSrv.Start()
	defer simSrv.Close()

	// The agent, on loopback TCP with its key.
	dir, err := os.MkdirTemp("", "kauth-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := agentsim.Config(simSrv.URL)
	for i := range cfg.Accounts {
		cfg.Accounts[i].RateLimit, cfg.Accounts[i].Burst = agent.MaxRateLimit, agent.MaxBurst // measure the agent, not its queue
	}
	a, err := benchagent.Serve(ctx, cfg, dir, agent.Options{Logger: quiet, Getenv: func(string) string { return "" }, Unpaced: true})
	if err != nil {
		return err
	}
	defer a.Close()
	agentURL, agentKey := a.URL, a.Key

	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: 4 * conc, MaxIdleConnsPerHost: 4 * conc, IdleConnTimeout: time.Minute,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
	defer client.CloseIdleConnections()

	// The token the agent serves, and the bodies the bare handlers answer.
	tokenBody, err := get(client, agentRequest(agentURL, agentKey, "/v1/accounts/kis-real/token"))
	if err != nil {
		return fmt.Errorf("agent token endpoint: %w", err)
	}
	var tr agent.TokenResponse
	if err := json.Unmarshal(tokenBody, &tr); err != nil || tr.AccessToken == "" {
		return fmt.Errorf("agent token endpoint answered %q", tokenBody)
	}
	app := brokersim.DemoKISReal
	direct := func() *http.Request {
		r, _ := http.NewRequest("GET", brokersim.BaseURL(simSrv.URL, kauth.KIS, kauth.Real)+inquirePrice, nil)
		r.Header.Set("authorization", "Bearer "+tr.AccessToken)
		r.Header.Set("appkey", app.AppKey)
		r.Header.Set("appsecret", app.Secret)
		r.Header.Set("tr_id", "FHKST01010100")
		r.Header.Set("custtype", "P")
		return r
	}
	priceBody, err := get(client, direct())
	if err != nil {
		return fmt.Errorf("direct call: %w", err)
	}
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := tokenBody
		if strings.HasPrefix(r.URL.Path, "/uapi/") {
			body = priceBody
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(body)
	}))
	defer bare.Close()

	kiwoom := brokersim.DemoKiwoomReal
	kiwoomIssue := func() *http.Request {
		body := fmt.Sprintf(`{"grant_type":"client_credentials","appkey":%q,"secretkey":%q}`, kiwoom.AppKey, kiwoom.Secret)
		r, _ := http.NewRequest("POST", brokersim.BaseURL(simSrv.URL, kauth.Kiwoom, kauth.Real)+"/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json;charset=UTF-8")
		return r
	}
	proxied := func() *http.Request {
		r := agentRequest(agentURL, agentKey, "/proxy/kis-real"+inquirePrice)
		r.Header.Set("tr_id", "FHKST01010100")
		r.Header.Set("custtype", "P")
		return r
	}

	fmt.Printf("kauth agent on loopback: %d-request throughput runs with %d clients, %d-request latency runs with 1 client; GOMAXPROCS %d\n\n",
		n, conc, serial, gomaxprocs())
	groups := []struct {
		title   string
		targets []target
	}{
		{"token endpoint", []target{
			{"bare handler (same body)", func() *http.Request {
				r, _ := http.NewRequest("GET", bare.URL+"/v1/accounts/kis-real/token", nil)
				return r
			}},
			{"agent GET /v1/accounts/kis-real/token", func() *http.Request {
				return agentRequest(agentURL, agentKey, "/v1/accounts/kis-real/token")
			}},
			{"simulator Kiwoom au10001 (same-token re-issue)", kiwoomIssue},
		}},
		{"proxy", []target{
			{"bare handler (same body)", func() *http.Request { r, _ := http.NewRequest("GET", bare.URL+inquirePrice, nil); return r }},
			{"direct call to the simulator", direct},
			{"agent /proxy/kis-real/… to the simulator", proxied},
		}},
	}
	for _, g := range groups {
		fmt.Printf("## %s\n\n| target | req/s (%d clients) | p50 | p90 | p99 |\n|---|---:|---:|---:|---:|\n", g.title, conc)
		res := make([]result, len(g.targets))
		for i, t := range g.targets {
			if _, err := drive(client, t, 500, conc, maxTime); err != nil { // warm-up
				return fmt.Errorf("%s: %w", t.name, err)
			}
			thr, err := drive(client, t, n, conc, maxTime)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			lat, err := drive(client, t, serial, 1, maxTime)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			res[i] = result{rps: thr.rps, p50: lat.pct(50), p90: lat.pct(90), p99: lat.pct(99)}
			fmt.Printf("| %s | %.0f | %s | %s | %s |\n", t.name, res[i].rps, us(res[i].p50), us(res[i].p90), us(res[i].p99))
		}
		switch g.title {
		case "token endpoint":
			ratio := res[1].rps / res[0].rps
			fmt.Printf("\nagent token endpoint: %.0f%% of the bare handler's req/s (target >= 80%%: %s)\n\n", 100*ratio, verdict(ratio >= 0.8))
		case "proxy":
			added := res[2].p50 - res[1].p50
			fmt.Printf("\nproxy adds %s at p50 over the direct call (target <= 100 µs: %s)\n\n", us(added), verdict(added <= 100*time.Microsecond))
		}
	}
	// The proxy against a direct call at 1 and at conc clients: throughput,
	// added latency at p50 under that load, and the upstream connections
	// the agent opened to carry it.
	fmt.Printf("## proxy under load\n\n| clients | direct req/s | proxy req/s | ratio | direct p50 | proxy p50 | added p50 | upstream connections opened |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range []int{1, conc} {
		d, err := drive(client, target{"direct", direct}, n, c, maxTime)
		if err != nil {
			return err
		}
		before := simConns.Load()
		pr, err := drive(client, target{"proxy", proxied}, n, c, maxTime)
		if err != nil {
			return err
		}
		opened := simConns.Load() - before
		ratio := pr.rps / d.rps
		added := pr.pct(50) - d.pct(50)
		fmt.Printf("| %d | %.0f | %.0f | %.2f× | %s | %s | %s | %d |\n", c, d.rps, pr.rps, ratio, us(d.pct(50)), us(pr.pct(50)), us(added), opened)
		fmt.Printf("\n%d clients: added p50 %s (target <= 100 µs: %s), %.2f× direct throughput (target >= 0.8×: %s), %d upstream connections (target <= %d: %s)\n\n",
			c, us(added), verdict(added <= 100*time.Microsecond), ratio, verdict(ratio >= 0.8), opened, c, verdict(opened <= int64(c)))
	}
	cancel()
	if err := a.Wait(); err != nil {
		return err
	}
	return nil
}

const inquirePrice = "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930"

func agentRequest(base, key, path string) *http.Request {
	r, _ := http.NewRequest("GET", base+path, nil)
	r.Header.Set("Authorization", "Bearer "+key)
	return r
}

type result struct {
	rps           float64
	p50, p90, p99 time.Duration
}

type sample struct {
	rps  float64
	lats []time.Duration
}

func (r sample) pct(p int) time.Duration {
	if len(r.lats) == 0 {
		return 0
	}
	return r.lats[min(len(r.lats)-1, len(r.lats)*p/100)]
}

// drive sends up to n requests of t from conc clients, stopping early after
// maxTime, and fails on the first answer that is not 200.
func drive(client *http.Client, t target, n, conc int, maxTime time.Duration) (sample, error) {
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	lats := make([][]time.Duration, conc)
	deadline := time.Now().Add(maxTime)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && time.Now().Before(deadline) {
				t0 := time.Now()
				_, err := get(client, t.req())
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if firstErr != nil {
		return sample{}, firstErr
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	return sample{rps: float64(len(all)) / took.Seconds(), lats: all}, nil
}

// get sends r and returns the body of a 200 answer.
func get(client *http.Client, r *http.Request) ([]byte, error) {
	resp, err := client.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status + ": " + string(body[:min(len(body), 200)]))
	}
	return body, nil
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }
