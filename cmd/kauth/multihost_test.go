package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testredis"
)

// agentProc is one `kauth serve` process of the multi-host topology.
type agentProc struct {
	*daemon
	url, key string
}

// startAgents starts n agents serving one KIS real app key (the
// environment-only mode: account kis-real), each with its own runtime
// directory; env says which store they share.
func startAgents(t *testing.T, n int, env map[string]string) []agentProc {
	t.Helper()
	var out []agentProc
	for range n {
		runtime := t.TempDir()
		os.Chmod(runtime, 0o700)
		d := startDaemon(t, with(env, "XDG_RUNTIME_DIR", runtime, "KIS_ENV", "real"),
			"serve", "--addr", "127.0.0.1:0")
		tcp := d.waitLine(t, regexp.MustCompile(`^\s+tcp\s+(http://\S+) \(send Authorization: Bearer <the key in (\S+)>\)`))
		d.waitLine(t, regexp.MustCompile(`^\s+accounts\s+.*kis-real`))
		key, err := os.ReadFile(tcp[2])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, agentProc{d, tcp[1], strings.TrimSpace(string(key))})
	}
	return out
}

// drive runs four bots per agent, each calling KIS inquire-price through
// its agent's proxy as fast as answers come, for d, and returns how many
// calls each agent's bots got answered 200.
func drive(t *testing.T, agents []agentProc, d time.Duration) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	ok := make([]atomic.Int64, len(agents))
	var wg sync.WaitGroup
	for i, a := range agents {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, "GET", a.url+"/proxy/kis-real/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
					req.Header.Set("Authorization", "Bearer "+a.key)
					req.Header.Set("tr_id", "FHKST01010100")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 {
						ok[i].Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	n := make([]int64, len(agents))
	for i := range ok {
		n[i] = ok[i].Load()
	}
	return n
}

// TestMultiHost is the topology of examples/multihost with real processes
// on loopback: two agents, as on two hosts, share one KIS app key through
// one Redis, and a bot per agent calls as fast as it can. Together they
// issue once and stay under the broker's per-second limit (0 EGW00201),
// because every agent draws from the app key's one budget in Redis. Two
// agents that share nothing trip the limit: the same load, the same
// limits, only the budget differs.
func TestMultiHost(t *testing.T) {
	u := testredis.URL(t)
	sim := newTestSim(t)
	appKey := freshApp(t, sim, kauth.KIS, kauth.Real, "MULTIHOST")
	env := with(sim.env(t, kauth.Real), "KIS_APPKEY", appKey,
		"KAUTH_STORE", u, "KAUTH_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")

	agents := startAgents(t, 2, env)
	got := drive(t, agents, 2*time.Second)
	c := sim.Stats().App(kauth.KIS, kauth.Real, appKey)
	t.Logf("shared budget: %d calls answered (agents %v), %d EGW00201, %d issued", c.OK, got, c.RateLimited, c.Issued)
	if c.Issued != 1 {
		t.Errorf("two agents on one Redis issued %d tokens; want 1", c.Issued)
	}
	if c.RateLimited != 0 {
		t.Errorf("two agents on one shared budget: %d EGW00201; want 0", c.RateLimited)
	}
	for i, n := range got {
		if n < 5 {
			t.Errorf("agent %d's bots got %d calls answered in 2 s of an 18/s budget: starved", i, n)
		}
	}
	for _, a := range agents {
		a.stop(t, os.Interrupt)
	}

	// The same two agents sharing their token through one file store (one
	// host), which has no shared budget: each paces only itself.
	other := freshApp(t, sim, kauth.KIS, kauth.Real, "MULTIHOST")
	alone := startAgents(t, 2, with(sim.env(t, kauth.Real), "KIS_APPKEY", other))
	drive(t, alone, 2*time.Second)
	c2 := sim.Stats().App(kauth.KIS, kauth.Real, other)
	t.Logf("separate budgets: %d calls answered, %d EGW00201", c2.OK, c2.RateLimited)
	if c2.RateLimited == 0 {
		t.Errorf("two agents pacing only themselves got no EGW00201 (%d answered): the shared case proves nothing", c2.OK)
	}
}
