package agent_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
)

// benchAgent serves one KIS mock account of a simulator over loopback TCP,
// unpaced, and returns the agent's address and key.
func benchAgent(b *testing.B) (addr, key string) {
	b.Helper()
	sim := brokersim.New()
	sim.KISMockCallsPerSecond = 1e9
	srv := httptest.NewServer(sim)
	b.Cleanup(srv.Close)
	dir, err := os.MkdirTemp("", "kauth-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	env := map[string]string{"K": kisMock.AppKey, "S": kisMock.Secret, "KAUTH_CACHE_DIR": filepath.Join(dir, "cache")}
	cfg := agent.Config{
		Listen: agent.Listen{Socket: "off", TCP: "127.0.0.1:0", KeyFile: filepath.Join(dir, "agent.key")},
		Accounts: []agent.Account{{Name: "kis-mock", Broker: "kis", Env: "mock",
			AppKey: agent.Secret{Env: "K"}, AppSecret: agent.Secret{Env: "S"},
			BaseURL: brokersim.BaseURL(srv.URL, kauth.KIS, kauth.Mock)}},
	}
	a, err := agent.New(cfg, agent.Options{Logger: slog.New(slog.DiscardHandler), Getenv: func(k string) string { return env[k] }, Unpaced: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.ListenAndServe(ctx) }()
	b.Cleanup(func() { cancel(); <-done; a.Close() })
	select {
	case <-a.Ready():
	case err := <-done:
		b.Fatal(err)
	}
	ep := a.Endpoints()
	k, err := os.ReadFile(ep.KeyFile)
	if err != nil {
		b.Fatal(err)
	}
	return ep.TCP, strings.TrimSpace(string(k))
}

func benchCalls(b *testing.B, newReq func() *http.Request) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.Cleanup(c.CloseIdleConnections)
	call := func() {
		resp, err := c.Do(newReq())
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	call() // the issuance
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		call()
	}
}

// BenchmarkFacadeToken: the facade's token endpoint, answered from the
// managed token.
func BenchmarkFacadeToken(b *testing.B) {
	addr, key := benchAgent(b)
	benchCalls(b, func() *http.Request {
		r, _ := http.NewRequest("POST", "http://"+addr+"/broker/"+key+"/kis-mock/oauth2/tokenP",
			strings.NewReader(`{"grant_type":"client_credentials","appkey":"x","appsecret":"y"}`))
		r.Header.Set("Content-Type", "application/json")
		return r
	})
}

// BenchmarkFacadeRelay: a broker call through the facade, to the
// simulator and back.
func BenchmarkFacadeRelay(b *testing.B) {
	addr, key := benchAgent(b)
	benchCalls(b, func() *http.Request {
		r, _ := http.NewRequest("GET", "http://"+addr+"/broker/"+key+"/kis-mock/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
		r.Header.Set("Tr_id", "FHKST01010100")
		return r
	})
}

// BenchmarkProxyRelay: the same call through /proxy.
func BenchmarkProxyRelay(b *testing.B) {
	addr, key := benchAgent(b)
	benchCalls(b, func() *http.Request {
		r, _ := http.NewRequest("GET", "http://"+addr+"/proxy/kis-mock/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
		r.Header.Set("Tr_id", "FHKST01010100")
		r.Header.Set("Authorization", "Bearer "+key)
		return r
	})
}
