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

func TestTokenEndpoint(t *testing.T) {
	h := newHarness(t, setup{})
	for _, tc := range []struct {
		name   string
		app    brokersim.App
		broker kauth.Broker
		env    kauth.Env
	}{
		{"kis-mock", kisMock, kauth.KIS, kauth.Mock},
		{"kiwoom-mock", kiwoomMock, kauth.Kiwoom, kauth.Mock},
		{"kis-real", kisReal, kauth.KIS, kauth.Real},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for via, get := range map[string]func(string, string) response{
				"unix": func(m, p string) response { return h.viaUnix(m, p, nil, nil) },
				"tcp":  func(m, p string) response { return h.viaTCP(m, p, nil, nil) },
			} {
				r := get("GET", "/v1/accounts/"+tc.name+"/token")
				if r.status != http.StatusOK {
					t.Fatalf("%s: GET token = %d %s", via, r.status, r.body)
				}
				if cc := r.header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("%s: Cache-Control = %q; want no-store", via, cc)
				}
				var got agent.TokenResponse
				r.json(t, &got)
				h.sawToken(got.AccessToken)
				want, exp, ok := h.sim.CurrentToken(tc.app.Broker, tc.app.Env, tc.app.AppKey)
				if !ok || got.AccessToken != want {
					t.Errorf("%s: token fingerprint %s; want the simulator's %s", via, kauth.Fingerprint(got.AccessToken), kauth.Fingerprint(want))
				}
				if got.TokenType != "Bearer" || got.Broker != tc.broker || got.Env != tc.env {
					t.Errorf("%s: token_type, broker, env = %q, %q, %q; want Bearer, %s, %s", via, got.TokenType, got.Broker, got.Env, tc.broker, tc.env)
				}
				if !strings.HasSuffix(got.ExpiresAt, "+09:00") {
					t.Errorf("%s: expires_at = %q; want RFC 3339 in +09:00", via, got.ExpiresAt)
				}
				at, err := time.Parse(time.RFC3339, got.ExpiresAt)
				if err != nil || at.Sub(exp).Abs() > time.Second {
					t.Errorf("%s: expires_at = %q; want %v", via, got.ExpiresAt, exp)
				}
			}
			if n := h.sim.Issued(tc.app.Broker, tc.app.Env, tc.app.AppKey); n != 1 {
				t.Errorf("issued %d tokens; want 1", n)
			}
		})
	}
}

func TestConcurrentBotsShareOneIssuance(t *testing.T) {
	h := newHarness(t, setup{sim: func(s *brokersim.Server) {
		// A slow broker, so that the bots arrive while the issuance (the
		// keeper's, or the first bot's) is in flight.
		s.Inject(brokersim.Fault{Path: "/oauth2/tokenP", Kind: brokersim.Latency, Delay: 300 * time.Millisecond, Count: 5})
	}})
	const bots = 200
	var wg sync.WaitGroup
	toks := make([]string, bots)
	errs := make(chan string, bots)
	for i := range bots {
		wg.Go(func() {
			c := h.unix
			base := "http://localhost"
			if i%2 == 1 {
				c, base = h.tcp, "http://"+h.ep.TCP
			}
			req, _ := http.NewRequest("GET", base+"/v1/accounts/kis-mock/token", nil)
			req.Header.Set("Authorization", "Bearer "+h.key)
			resp, err := c.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			var tr agent.TokenResponse
			r := response{status: resp.StatusCode}
			if err := jsonDecode(resp.Body, &tr); err != nil || r.status != http.StatusOK {
				errs <- resp.Status
				return
			}
			toks[i] = tr.AccessToken
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("bot: %s", e)
	}
	for i, tok := range toks {
		h.sawToken(tok)
		if tok == "" || tok != toks[0] {
			t.Fatalf("bot %d got token %s; bot 0 got %s", i, kauth.Fingerprint(tok), kauth.Fingerprint(toks[0]))
		}
	}
	if n := h.sim.Issued(kauth.KIS, kauth.Mock, kisMock.AppKey); n != 1 {
		t.Errorf("the simulator issued %d tokens for %d bots; want 1", n, bots)
	}
}

func TestAccountsList(t *testing.T) {
	h := newHarness(t, setup{})
	tok := h.token("kis-mock")
	eventually(t, "the keepers hold every token", func() bool {
		var list struct{ Accounts []agent.AccountInfo }
		h.viaUnix("GET", "/v1/accounts", nil, nil).json(t, &list)
		for _, a := range list.Accounts {
			if a.TokenState != "valid" {
				return false
			}
		}
		return len(list.Accounts) == 3
	})
	r := h.viaTCP("GET", "/v1/accounts", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/accounts = %d %s", r.status, r.body)
	}
	for _, s := range append(append([]string{}, h.secrets...), tok.AccessToken) {
		if strings.Contains(string(r.body), s) {
			t.Fatalf("GET /v1/accounts reveals a secret or token: %s", r.body)
		}
	}
	var list struct{ Accounts []agent.AccountInfo }
	r.json(t, &list)
	want := []struct {
		name string
		app  brokersim.App
		rate float64
	}{
		{"kis-mock", kisMock, 8},
		{"kis-real", kisReal, 18},
		{"kiwoom-mock", kiwoomMock, 4.5},
	}
	if len(list.Accounts) != len(want) {
		t.Fatalf("accounts = %+v; want %d", list.Accounts, len(want))
	}
	for i, w := range want {
		got := list.Accounts[i]
		if got.Name != w.name || got.Broker != w.app.Broker || got.Env != w.app.Env || got.App != kauth.Fingerprint(w.app.AppKey) {
			t.Errorf("account %d = %+v; want %s %s %s app %s", i, got, w.name, w.app.Broker, w.app.Env, kauth.Fingerprint(w.app.AppKey))
		}
		if got.RateLimit != w.rate || got.Burst != 1 {
			t.Errorf("%s: rate_limit, burst = %v, %d; want %v, 1", w.name, got.RateLimit, got.Burst, w.rate)
		}
		if got.TokenState != "valid" || !strings.HasSuffix(got.ExpiresAt, "+09:00") || got.ExpiresIn <= 0 {
			t.Errorf("%s: token_state %q, expires_at %q, expires_in %d; want valid, KST, positive", w.name, got.TokenState, got.ExpiresAt, got.ExpiresIn)
		}
	}
	if list.Accounts[0].Token != kauth.Fingerprint(tok.AccessToken) {
		t.Errorf("kis-mock token_fingerprint = %s; want %s", list.Accounts[0].Token, kauth.Fingerprint(tok.AccessToken))
	}

	var one agent.AccountInfo
	h.viaUnix("GET", "/v1/accounts/kiwoom-mock", nil, nil).json(t, &one)
	if one.Name != "kiwoom-mock" {
		t.Errorf("GET /v1/accounts/kiwoom-mock = %+v", one)
	}
}

func TestInvalidate(t *testing.T) {
	clock := newFakeClock(time.Now())
	h := newHarness(t, setup{clock: clock})
	old := h.token("kis-mock")

	// A report about a token that is not the one being served changes
	// nothing.
	r := h.viaUnix("POST", "/v1/accounts/kis-mock/invalidate", strings.NewReader(`{"token":"not-the-current-one"}`), nil)
	var res agent.InvalidateResponse
	r.json(t, &res)
	if r.status != http.StatusOK || res.Invalidated {
		t.Fatalf("invalidating a stale token = %d %s; want 200, invalidated false", r.status, r.body)
	}
	if got := h.token("kis-mock"); got.AccessToken != old.AccessToken {
		t.Fatal("a stale report replaced the token")
	}

	// The broker drops the token; a bot reports it.
	h.sim.InvalidateToken(old.AccessToken)
	r = h.viaTCP("POST", "/v1/accounts/kis-mock/invalidate", strings.NewReader(`{"token":"`+old.AccessToken+`"}`), nil)
	r.json(t, &res)
	if r.status != http.StatusOK || !res.Invalidated {
		t.Fatalf("invalidating the current token = %d %s; want 200, invalidated true", r.status, r.body)
	}
	got := make(chan agent.TokenResponse, 1)
	go func() { got <- h.token("kis-mock") }()
	fresh := awaitOnVirtualClock(h, clock, got)
	if fresh.AccessToken == old.AccessToken {
		t.Fatal("the token endpoint still serves the rejected token")
	}
	if n := h.sim.Issued(kauth.KIS, kauth.Mock, kisMock.AppKey); n != 2 {
		t.Errorf("issued %d; want 2", n)
	}

	for _, tc := range []struct {
		body string
		code string
	}{
		{`{"token":""}`, "bad_request"},
		{`not json`, "bad_request"},
		{`{"token":"x","extra":1}`, "bad_request"},
	} {
		r := h.viaUnix("POST", "/v1/accounts/kis-mock/invalidate", strings.NewReader(tc.body), nil)
		if r.status != http.StatusBadRequest || r.errorCode(t) != tc.code {
			t.Errorf("invalidate %s = %d %s; want 400 %s", tc.body, r.status, r.body, tc.code)
		}
	}
}

func TestRoutingErrors(t *testing.T) {
	h := newHarness(t, setup{})
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v1/accounts/nope/token", 404, "not_found"},
		{"POST", "/v1/accounts/nope/invalidate", 404, "not_found"},
		{"GET", "/v1/accounts/nope", 404, "not_found"},
		{"GET", "/proxy/nope/uapi/x", 404, "not_found"},
		{"GET", "/proxy/kis-mock/", 404, "not_found"},
		{"GET", "/nowhere", 404, "not_found"},
		{"POST", "/v1/accounts/kis-mock/token", 405, "method_not_allowed"},
		{"GET", "/v1/accounts/kis-mock/invalidate", 405, "method_not_allowed"},
		{"POST", "/proxy/kis-mock/oauth2/tokenP", 403, "forbidden_path"},
		{"POST", "/proxy/kiwoom-mock/oauth2/revoke", 403, "forbidden_path"},
	} {
		r := h.viaUnix(tc.method, tc.path, strings.NewReader("{}"), nil)
		if r.status != tc.status || r.errorCode(t) != tc.code {
			t.Errorf("%s %s = %d %s; want %d %s", tc.method, tc.path, r.status, r.body, tc.status, tc.code)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s %s: Content-Type %q; want JSON", tc.method, tc.path, ct)
		}
	}
}

func TestCredentialsRejected(t *testing.T) {
	h := newHarness(t, setup{cfg: func(c *agent.Config) {
		c.Accounts = append(c.Accounts, agent.Account{
			Name: "kis-wrong", Broker: "kis", Env: "mock",
			AppKey:    agent.Secret{Value: "PSUNKNOWNAPPKEY0123456789ABCDEFGHIJK"},
			AppSecret: agent.Secret{Value: "wrong-secret-value"},
			BaseURL:   brokersim.BaseURL(h0(c), kauth.KIS, kauth.Mock),
		})
	}})
	h.secrets = append(h.secrets, "wrong-secret-value", "PSUNKNOWNAPPKEY0123456789ABCDEFGHIJK")
	r := h.viaUnix("GET", "/v1/accounts/kis-wrong/token", nil, nil)
	if r.status != http.StatusBadGateway {
		t.Fatalf("token with a wrong secret = %d %s; want 502", r.status, r.body)
	}
	var e struct {
		Code       string `json:"code"`
		Broker     string `json:"broker"`
		Env        string `json:"env"`
		BrokerCode string `json:"broker_code"`
	}
	r.json(t, &e)
	if e.Code != "credentials" || e.Broker != "kis" || e.Env != "mock" || !strings.HasPrefix(e.BrokerCode, "EGW001") {
		t.Errorf("error = %s; want code credentials, broker kis, env mock, an EGW001xx code", r.body)
	}
	if strings.Contains(string(r.body), "wrong-secret-value") {
		t.Error("the error reveals the secret")
	}
	if m := h.metrics(); !strings.Contains(m, `kauth_token_failures_total{account="kis-wrong",kind="credentials"}`) {
		t.Errorf("metrics lack the credentials failure:\n%s", grep(m, "kauth_token_failures"))
	}
}

// h0 recovers the simulator root from the kis-mock account of c.
func h0(c *agent.Config) string {
	return strings.TrimSuffix(c.Accounts[0].BaseURL, "/kis/mock")
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, setup{})
	h.token("kis-mock")
	kisOK(t, h.kisPrice("kis-mock", nil))
	kiwoomOK(t, h.kiwoomInfo("kiwoom-mock", nil))
	// A burst makes calls wait for the rate limit.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { h.kisPrice("kis-mock", nil) })
	}
	wg.Wait()

	m := h.metrics()
	for _, want := range []string{
		`kauth_token_issuances_total{account="kis-mock"} 1`,
		`kauth_token_events_total{account="kis-mock",event="issued"} 1`,
		`kauth_proxy_requests_total{account="kis-mock",status="200"} 5`,
		`kauth_proxy_requests_total{account="kiwoom-mock",status="200"} 1`,
		`kauth_proxy_request_duration_seconds_count{account="kis-mock"} 5`,
		`kauth_proxy_ratelimit_waits_total{account="kis-mock"}`,
		`kauth_proxy_ratelimit_wait_seconds_total{account="kis-mock"}`,
		`kauth_token_expiry_seconds{account="kis-mock"} 8`, // about 86400
		`kauth_account_info{account="kiwoom-mock",app="` + kauth.Fingerprint(kiwoomMock.AppKey) + `",broker="kiwoom",env="mock"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, s := range h.secrets {
		if strings.Contains(m, s) {
			t.Error("metrics reveal a credential")
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grep(m, "kauth_"))
	}
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
