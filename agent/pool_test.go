package agent_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/agentsim"
)

// Sixteen bots calling through the proxy at once, round after round, ride
// on at most sixteen upstream connections: the proxy keeps an idle
// connection per concurrent call instead of the two per host of a clone of
// http.DefaultTransport, which opened a new one (against a broker, a TLS
// handshake) for most calls.
func TestProxyReusesUpstreamConnections(t *testing.T) {
	sim := brokersim.New()
	sim.KISRealCallsPerSecond, sim.KISMockCallsPerSecond, sim.KiwoomCallsPerSecond = -1, -1, -1
	var conns atomic.Int64
	up := httptest.NewUnstartedServer(sim)
	up.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	cfg := agentsim.Config(up.URL)
	cfg.Listen = agent.Listen{Socket: filepath.Join(shortTempDir(t), "a.sock")}
	a, err := agent.New(cfg, agent.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Getenv: func(string) string { return "" }, Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go a.ListenAndServe(ctx)
	<-a.Ready()
	sock := a.Endpoints().Socket
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 32,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	call := func() {
		req, _ := http.NewRequest("GET", "http://localhost/proxy/kis-real/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
		req.Header.Set("tr_id", "FHKST01010100")
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("proxied call = %d", resp.StatusCode)
		}
	}
	call() // the keepers' token calls and the first connection
	base := conns.Load()
	deadline := time.Now().Add(10 * time.Second)
	for round := 0; round < 20 && time.Now().Before(deadline); round++ {
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(call)
		}
		wg.Wait()
	}
	if opened := conns.Load() - base; opened > 16 {
		t.Errorf("20 rounds of 16 concurrent proxied calls opened %d upstream connections; want at most 16", opened)
	}
}
