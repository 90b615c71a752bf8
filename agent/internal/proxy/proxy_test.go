package proxy

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// TestProxyRelaysWithManagedCredentials: a proxied call reaches the broker
// with the account's managed token and app key in place of whatever the
// bot sent, and the broker's answer, its errors included, comes back.
func TestProxyRelaysWithManagedCredentials(t *testing.T) {
	e := newEnv(t, nil)
	hdr := http.Header{"Tr_id": {"FHKST01010100"}}
	if r := e.proxy("GET", "/proxy/kis-mock"+kisPrice, "", hdr); r.status != http.StatusOK || r.field(t, "rt_cd") != "0" {
		t.Fatalf("price through the proxy = %d %s; want the broker's success", r.status, r.body)
	}
	bogus := http.Header{"Tr_id": {"FHKST01010100"}, "Authorization": {"Bearer bogus"}, "Appkey": {"bogus-key"}, "Appsecret": {"bogus-secret"}}
	if r := e.proxy("GET", "/proxy/kis-mock"+kisPrice, "", bogus); r.status != http.StatusOK || r.field(t, "rt_cd") != "0" {
		t.Fatalf("price with the bot's own credentials = %d %s; want them replaced by the managed ones", r.status, r.body)
	}
	unknown := strings.Replace(kisPrice, "005930", "999999", 1)
	if r := e.proxy("GET", "/proxy/kis-mock"+unknown, "", hdr); r.status != http.StatusOK || r.field(t, "msg_cd") != "OPSQ2002" {
		t.Errorf("unknown stock = %d %s; want the broker's OPSQ2002", r.status, r.body)
	}
	st := e.sim.Stats().App(kauth.KIS, kauth.Mock, brokersim.DemoKISMock.AppKey)
	if st.OK != 2 || st.TokenRejected != 0 || st.Issued != 1 {
		t.Errorf("simulator saw %+v; want 2 OK calls, no rejected token, 1 issuance", st)
	}
	if len(e.metrics.proxied) != 3 || e.metrics.sent != 3 {
		t.Errorf("metrics recorded %v statuses, %d sent; want 3 proxied calls, all sent", e.metrics.proxied, e.metrics.sent)
	}
}

// TestProxyHealsRevokedToken: a token the broker no longer takes is
// replaced and the call retried once, its body replayed (a Kiwoom POST;
// Kiwoom issues again after a second, KIS after a minute).
func TestProxyHealsRevokedToken(t *testing.T) {
	e := newEnv(t, nil)
	hdr := http.Header{"Api-Id": {"ka10001"}, "Content-Type": {"application/json;charset=UTF-8"}}
	call := func() answer {
		return e.proxy("POST", "/proxy/kiwoom-mock/api/dostk/stkinfo", `{"stk_cd":"005930"}`, hdr)
	}
	if r := call(); r.status != http.StatusOK || !strings.Contains(string(r.body), "005930") {
		t.Fatalf("first call = %d %s", r.status, r.body)
	}
	tok, _ := e.accts["kiwoom-mock"].mgr.Cached()
	e.sim.InvalidateToken(tok.AccessToken) // behind the Manager's back
	if r := call(); r.status != http.StatusOK || !strings.Contains(string(r.body), "005930") {
		t.Fatalf("call with a revoked token = %d %s; want it healed", r.status, r.body)
	}
	st := e.sim.Stats().App(kauth.Kiwoom, kauth.Mock, brokersim.DemoKiwoomMock.AppKey)
	if st.Issued != 2 || st.TokenRejected != 1 || st.OK != 2 {
		t.Errorf("simulator saw %+v; want 1 rejected call, a second issuance, 2 OK calls", st)
	}
	if fresh, _ := e.accts["kiwoom-mock"].mgr.Cached(); fresh.AccessToken == tok.AccessToken {
		t.Error("the Manager still holds the revoked token")
	}
}

// TestProxyRefusesPaths: only the broker's API paths, in canonical form,
// are forwarded; its /oauth2 endpoints never are.
func TestProxyRefusesPaths(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct {
		target string
		status int
		code   string
	}{
		{"/proxy/kis-mock/oauth2/tokenP", http.StatusForbidden, "forbidden_path"},
		{"/proxy/kis-mock/oauth2/revokeP", http.StatusForbidden, "forbidden_path"},
		{"/proxy/kis-mock/uapi/../oauth2/tokenP", http.StatusBadRequest, "bad_path"},
		{"/proxy/kis-mock/uapi/%2e%2e/oauth2/tokenP", http.StatusBadRequest, "bad_path"},
		{"/proxy/kis-mock/elsewhere", http.StatusForbidden, "forbidden_path"},
		{"/proxy/kis-mock/", http.StatusNotFound, "not_found"},
		{"/proxy/nobody/uapi/x", http.StatusNotFound, "not_found"},
	} {
		r := e.proxy("POST", c.target, "", nil)
		if r.status != c.status || r.field(t, "code") != c.code {
			t.Errorf("%s = %d %s; want %d %s", c.target, r.status, r.body, c.status, c.code)
		}
	}
	if st := e.sim.Stats(); st.Requests != 0 {
		t.Errorf("the simulator saw %d requests; want none", st.Requests)
	}
}

// TestProxyPacesAtLimiter: the calls of one app key wait their turn at its
// limiter, and the waits are reported apart from the broker's latency.
func TestProxyPacesAtLimiter(t *testing.T) {
	e := newEnv(t, func(e *env) { e.accts["kis-mock"].pace.Limiter = rate.NewLimiter(10, 1) })
	hdr := http.Header{"Tr_id": {"FHKST01010100"}}
	start := time.Now()
	for range 4 {
		if r := e.proxy("GET", "/proxy/kis-mock"+kisPrice, "", hdr); r.status != http.StatusOK {
			t.Fatalf("call = %d %s", r.status, r.body)
		}
	}
	// 4 calls at 10 a second with a burst of 1 (the issuance is the
	// Manager's, not paced): at least 3 intervals of 100 ms.
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("4 calls took %s; want them paced at 10 a second", took)
	}
	// The first call takes the burst; each later one stands in line.
	if e.metrics.waits != 3 {
		t.Errorf("%d waits reported; want one per call that stood in line (3)", e.metrics.waits)
	}
}

// TestProxyInFlightLimit: a request over max_in_flight is refused with 503
// and Retry-After, never queued, and the count goes back down.
func TestProxyInFlightLimit(t *testing.T) {
	e := newEnv(t, func(e *env) { e.limits.MaxInFlight = 0 })
	r := e.proxy("GET", "/proxy/kis-mock"+kisPrice, "", nil)
	if r.status != http.StatusServiceUnavailable || r.field(t, "code") != "overloaded" || r.header.Get("Retry-After") != "1" {
		t.Errorf("over the limit = %d %v %s; want 503 overloaded with Retry-After", r.status, r.header, r.body)
	}
	if n := e.host.relays["kis-mock"].InFlight(); n != 0 {
		t.Errorf("InFlight = %d after the answer; want 0", n)
	}
}

// TestProxyBrokerUnavailable: a broker that cannot be reached is an
// unavailable error in the API's shape, and a log line names the path.
func TestProxyBrokerUnavailable(t *testing.T) {
	e := newEnv(t, nil)
	acct := e.accts["kis-mock"]
	if _, err := acct.mgr.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	dead, _ := url.Parse("http://127.0.0.1:1/")
	e.host.relays["kis-mock"] = e.p.Relay(acct, dead)
	r := e.proxy("GET", "/proxy/kis-mock"+kisPrice, "", nil)
	if r.status != http.StatusBadGateway || r.field(t, "code") != "unavailable" {
		t.Errorf("unreachable broker = %d %s; want 502 unavailable", r.status, r.body)
	}
	if !strings.Contains(e.logs.String(), "agent: proxied request failed") || !strings.Contains(e.logs.String(), "/uapi/domestic-stock") {
		t.Errorf("no log line names the failed call:\n%s", e.logs)
	}
}
