package agent_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
)

func TestProxyKIS(t *testing.T) {
	h := newHarness(t, setup{})
	// The bot sends no credentials of its own, or bogus ones that the
	// agent must strip.
	kisOK(t, h.kisPrice("kis-mock", nil))
	kisOK(t, h.kisPrice("kis-mock", http.Header{
		"Authorization": {"Bearer bogus"},
		"Appkey":        {"bogus-key"},
		"Appsecret":     {"bogus-secret"},
	}))
	kisOK(t, h.kisPrice("kis-real", nil))

	// Over TCP, the agent key in Authorization must not reach the broker.
	hdr := http.Header{"Tr_id": {"FHKST01010100"}}
	r := h.viaTCP("GET", "/proxy/kis-mock/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil, hdr)
	kisOK(t, r)

	// The broker's own errors come back unchanged.
	r = h.viaUnix("GET", "/proxy/kis-mock/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=999999", nil, http.Header{"Tr_id": {"FHKST01010100"}})
	if r.status != http.StatusOK || jsonField(t, r.body, "msg_cd") != "OPSQ2002" {
		t.Errorf("unknown stock = %d %s; want the broker's OPSQ2002", r.status, r.body)
	}
	st := h.sim.Stats().Apps[kauth.Credentials{Broker: kauth.KIS, Env: kauth.Mock, AppKey: kisMock.AppKey}.Key().String()]
	if st.OK != 3 || st.TokenRejected != 0 || st.Issued != 1 {
		t.Errorf("simulator saw %+v; want 3 OK calls, no rejected token, 1 issuance", st.Counts)
	}

	// KIS hashkey authenticates with appkey and appsecret headers only,
	// which the agent adds.
	r = h.viaUnix("POST", "/proxy/kis-mock/uapi/hashkey", strings.NewReader(`{"CANO":"50000000","ORD_QTY":"1"}`),
		http.Header{"Content-Type": {"application/json; charset=UTF-8"}})
	if r.status != http.StatusOK || jsonField(t, r.body, "HASH") == "" {
		t.Errorf("hashkey through the proxy = %d %s; want 200 with a HASH", r.status, r.body)
	}

	// A caller asking for gzip still gets the broker's answer.
	r = h.kisPrice("kis-mock", http.Header{"Accept-Encoding": {"gzip"}})
	if r.header.Get("Content-Encoding") == "" {
		kisOK(t, r)
	}
}

func TestProxyKiwoomHeadersPassThrough(t *testing.T) {
	h := newHarness(t, setup{})
	r := h.kiwoomInfo("kiwoom-mock", http.Header{"Cont-Yn": {"Y"}, "Next-Key": {"20240101-42"}})
	kiwoomOK(t, r)
	if jsonField(t, r.body, "stk_cd") == "" && !strings.Contains(string(r.body), "005930") {
		t.Errorf("answer lacks the stock: %s", r.body)
	}
	for k, want := range map[string]string{"api-id": "ka10001", "cont-yn": "Y", "next-key": "20240101-42"} {
		if got := r.header.Get(k); got != want {
			t.Errorf("response header %s = %q; want %q", k, got, want)
		}
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q; want the broker's", ct)
	}
}

func TestProxyHealsRevokedToken(t *testing.T) {
	clock := newFakeClock(time.Now())
	h := newHarness(t, setup{clock: clock})
	for _, tc := range []struct {
		name string
		app  brokersim.App
		call func(string, http.Header) response
		ok   func(*testing.T, response)
	}{
		{"kis-mock", kisMock, h.kisPrice, kisOK},
		// A POST: the retry must replay the body.
		{"kiwoom-mock", kiwoomMock, h.kiwoomInfo, kiwoomOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := h.token(tc.name)
			h.sim.InvalidateToken(old.AccessToken) // behind the agent's back

			// The token was issued moments ago: the new one waits for the
			// broker's issuance interval, which the virtual clock skips.
			done := make(chan response, 1)
			go func() { done <- tc.call(tc.name, nil) }()
			tc.ok(t, awaitOnVirtualClock(h, clock, done))

			st := h.sim.Stats().Apps[kauth.Credentials{Broker: tc.app.Broker, Env: tc.app.Env, AppKey: tc.app.AppKey}.Key().String()]
			if st.TokenRejected != 1 || st.Issued != 2 || st.OK != 1 {
				t.Errorf("simulator saw %+v; want 1 rejected call, 2 issuances, 1 OK call", st.Counts)
			}
			if fresh := h.token(tc.name); fresh.AccessToken == old.AccessToken {
				t.Error("the agent still serves the revoked token")
			}
		})
	}
}

func TestProxyRateLimit(t *testing.T) {
	// The simulator allows 10 KIS mock calls a second; the agent's limit
	// for the app is 8. Fired at once, 15 calls would trip EGW00201 without
	// the agent; through it they wait in line.
	h := newHarness(t, setup{})
	h.token("kis-mock")
	const calls = 15
	start := time.Now()
	var wg sync.WaitGroup
	results := make([]response, calls)
	for i := range calls {
		wg.Go(func() { results[i] = h.kisPrice("kis-mock", nil) })
	}
	wg.Wait()
	took := time.Since(start)
	for _, r := range results {
		kisOK(t, r)
	}
	st := h.sim.Stats().Apps[kauth.Credentials{Broker: kauth.KIS, Env: kauth.Mock, AppKey: kisMock.AppKey}.Key().String()]
	if st.RateLimited != 0 || st.OK != calls {
		t.Errorf("simulator saw %+v; want %d OK calls and no EGW00201", st.Counts, calls)
	}
	if min := time.Duration(calls-2) * time.Second / 8; took < min {
		t.Errorf("%d calls took %v; at 8/s they take at least %v", calls, took, min)
	}
	if m := h.metrics(); !strings.Contains(m, `kauth_proxy_ratelimit_waits_total{account="kis-mock"} `) {
		t.Error("metrics lack the rate-limit waits")
	}
}

func TestProxyRateLimitHonorsDeadline(t *testing.T) {
	h := newHarness(t, setup{cfg: func(c *agent.Config) { c.Accounts[0].RateLimit = 0.2 }})
	kisOK(t, h.kisPrice("kis-mock", nil)) // takes the only token of the bucket
	req, _ := http.NewRequest("GET", "http://localhost/proxy/kis-mock/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
	req.Header.Set("tr_id", "FHKST01010100")
	c := *h.unix
	c.Timeout = 300 * time.Millisecond
	start := time.Now()
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a call that cannot get its turn before its deadline got %s", resp.Status)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("the caller waited %v past its deadline", time.Since(start))
	}
}

func TestProxyRateLimitSharedPerAppKey(t *testing.T) {
	// Two accounts for one app key share one budget.
	h := newHarness(t, setup{cfg: func(c *agent.Config) {
		twin := c.Accounts[0]
		twin.Name = "kis-mock-twin"
		twin.RateLimit = 5
		c.Accounts = append(c.Accounts, twin)
	}})
	var list struct{ Accounts []agent.AccountInfo }
	h.viaUnix("GET", "/v1/accounts", nil, nil).json(t, &list)
	for _, a := range list.Accounts {
		if strings.HasPrefix(a.Name, "kis-mock") && a.RateLimit != 5 {
			t.Errorf("%s rate_limit = %v; want the stricter 5 shared by the app key", a.Name, a.RateLimit)
		}
	}
	if a, b := h.token("kis-mock"), h.token("kis-mock-twin"); a.AccessToken != b.AccessToken {
		t.Error("two accounts of one app key hold different tokens")
	}
	if n := h.sim.Issued(kauth.KIS, kauth.Mock, kisMock.AppKey); n != 1 {
		t.Errorf("issued %d; want 1", n)
	}
}

func TestProxyBrokerUnavailable(t *testing.T) {
	h := newHarness(t, setup{})
	h.token("kis-mock")
	// An answer that is not the broker's API is still passed through: the
	// proxy does not second-guess the broker.
	h.sim.Inject(brokersim.Fault{Broker: kauth.KIS, Env: kauth.Mock, Path: "/uapi/domestic-stock/v1/quotations/inquire-price", Kind: brokersim.ServerError, Status: 503})
	r := h.kisPrice("kis-mock", nil)
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("broker 503 = %d %s; want it passed through", r.status, r.body)
	}
	// A broker that cannot be reached is the agent's 502.
	// Several: net/http retries a GET that failed on a reused connection,
	// until it fails on a fresh one.
	h.sim.Inject(brokersim.Fault{Broker: kauth.KIS, Env: kauth.Mock, Path: "/uapi/domestic-stock/v1/quotations/inquire-price", Kind: brokersim.Reset, Count: 10})
	r = h.kisPrice("kis-mock", nil)
	h.sim.ClearFaults()
	if r.status != http.StatusBadGateway || r.errorCode(t) != "unavailable" {
		t.Errorf("connection reset = %d %s; want 502", r.status, r.body)
	}
}
