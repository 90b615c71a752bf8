package brokersim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// tossDo sends one request to the Toss family and decodes the answer.
func tossDo(t *testing.T, method, u, tok string, header map[string]string, form url.Values) (int, http.Header, map[string]any) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: answer %q is not JSON: %v", method, u, raw, err)
	}
	return resp.StatusCode, resp.Header, m
}

func tossForm(a App) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {a.AppKey}, "client_secret": {a.Secret}}
}

// tossIssue issues a token for the demo Toss app.
func tossIssue(t *testing.T, base string) string {
	t.Helper()
	status, _, body := tossDo(t, "POST", base+"/oauth2/token", "", nil, tossForm(DemoTossReal))
	if status != 200 {
		t.Fatalf("token: %d %v", status, body)
	}
	if body["token_type"] != "Bearer" || body["expires_in"] != float64(86400) {
		t.Fatalf("token answer = %v; want token_type Bearer, expires_in 86400", body)
	}
	return body["access_token"].(string)
}

func apiCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// TestTossReissueKillsOldToken: a new token invalidates the one before it
// (one valid token per client), and a call with the old one gets 401
// invalid-token.
func TestTossReissueKillsOldToken(t *testing.T) {
	sim, ts := newSim(t)
	base := BaseURL(ts.URL, tossBroker, kauth.Real)
	old := tossIssue(t, base)
	if status, _, body := tossDo(t, "GET", base+"/api/v1/prices?symbols=005930", old, nil, nil); status != 200 || body["result"] == nil {
		t.Fatalf("prices with the first token: %d %v", status, body)
	}
	sim.Advance(time.Second)
	cur := tossIssue(t, base)
	if cur == old {
		t.Fatal("the re-issue handed back the same token")
	}
	status, h, body := tossDo(t, "GET", base+"/api/v1/prices?symbols=005930", old, nil, nil)
	if status != 401 || apiCode(body) != "invalid-token" || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("prices with the killed token: %d %v %v; want 401 invalid-token", status, h, body)
	}
	if status, _, body := tossDo(t, "GET", base+"/api/v1/prices?symbols=005930", cur, nil, nil); status != 200 {
		t.Fatalf("prices with the new token: %d %v", status, body)
	}
	st := sim.Stats().App(tossBroker, kauth.Real, DemoTossReal.AppKey)
	if st.Issued != 2 || st.Superseded != 1 || st.TokenRejected != 1 {
		t.Errorf("stats = %+v; want 2 issued, 1 superseded, 1 token rejected", st)
	}
	sim.Advance(tossTokenLifetime)
	if status, _, body := tossDo(t, "GET", base+"/api/v1/prices?symbols=005930", cur, nil, nil); status != 401 || apiCode(body) != "expired-token" {
		t.Fatalf("prices after a day: %d %v; want 401 expired-token", status, body)
	}
}

func TestTossTokenErrors(t *testing.T) {
	_, ts := newSim(t)
	base := BaseURL(ts.URL, tossBroker, kauth.Real)
	wrong := tossForm(DemoTossReal)
	wrong.Set("client_secret", "s_wrong")
	grant := tossForm(DemoTossReal)
	grant.Set("grant_type", "password")
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"wrong secret", wrong, 401, "invalid_client"},
		{"grant type", grant, 400, "unsupported_grant_type"},
		{"no client", url.Values{"grant_type": {"client_credentials"}}, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := tossDo(t, "POST", base+"/oauth2/token", "", nil, tc.form)
			if status != tc.status || body["error"] != tc.code {
				t.Fatalf("= %d %v; want %d %s", status, body, tc.status, tc.code)
			}
			if tc.status == 401 && h.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	// Toss has no mock environment: the demo client is unknown there.
	if status, _, body := tossDo(t, "POST", BaseURL(ts.URL, tossBroker, kauth.Mock)+"/oauth2/token", "", nil, tossForm(DemoTossReal)); status != 401 {
		t.Fatalf("token at mock = %d %v; want 401", status, body)
	}
}

// TestTossIPAllowList: an unregistered caller gets 403 on the token
// endpoint and on every API, and mints nothing.
func TestTossIPAllowList(t *testing.T) {
	sim, ts := newSim(t)
	base := BaseURL(ts.URL, tossBroker, kauth.Real)
	tok := tossIssue(t, base)
	sim.SetTossAllowList("203.0.113.7")
	status, _, body := tossDo(t, "POST", base+"/oauth2/token", "", nil, tossForm(DemoTossReal))
	if status != 403 || body["error"] != "access_denied" || body["error_description"] != "IP address not allowed" {
		t.Fatalf("token from an unregistered IP = %d %v; want 403 access_denied", status, body)
	}
	if status, _, body := tossDo(t, "GET", base+"/api/v1/prices?symbols=005930", tok, nil, nil); status != 403 || apiCode(body) != "edge-blocked" {
		t.Fatalf("prices from an unregistered IP = %d %v; want 403 edge-blocked", status, body)
	}
	if n := sim.Issued(tossBroker, kauth.Real, DemoTossReal.AppKey); n != 1 {
		t.Errorf("issued %d tokens; want 1", n)
	}
	sim.SetTossAllowList("203.0.113.7", "127.0.0.1")
	if status, _, body := tossDo(t, "GET", base+"/api/v1/prices?symbols=005930", tok, nil, nil); status != 200 {
		t.Fatalf("prices once registered = %d %v", status, body)
	}
}

// TestTossRateLimits: each group is a bucket per client, told in
// X-RateLimit-*; a refusal is 429 rate-limit-exceeded with Retry-After.
func TestTossRateLimits(t *testing.T) {
	sim, ts := newSim(t)
	base := BaseURL(ts.URL, tossBroker, kauth.Real)
	tok := tossIssue(t, base)
	// ACCOUNT: 1 a second.
	status, h, body := tossDo(t, "GET", base+"/api/v1/accounts", tok, nil, nil)
	if status != 200 || h.Get("X-RateLimit-Limit") != "1" || h.Get("X-RateLimit-Remaining") != "0" || h.Get("X-RateLimit-Reset") != "1" {
		t.Fatalf("accounts = %d %v %v; want 200, limit 1, remaining 0, reset 1", status, h, body)
	}
	status, h, body = tossDo(t, "GET", base+"/api/v1/accounts", tok, nil, nil)
	if status != 429 || apiCode(body) != "rate-limit-exceeded" || h.Get("Retry-After") != "1" || h.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("second accounts call = %d %v %v; want 429 with Retry-After 1", status, h, body)
	}
	// Another group has its own bucket.
	if status, h, _ := tossDo(t, "GET", base+"/api/v1/prices?symbols=005930", tok, nil, nil); status != 200 || h.Get("X-RateLimit-Limit") != "15" || h.Get("X-RateLimit-Remaining") != "14" {
		t.Fatalf("prices = %d %v; want 200, limit 15, remaining 14", status, h)
	}
	sim.Advance(time.Second)
	if status, _, body := tossDo(t, "GET", base+"/api/v1/accounts", tok, nil, nil); status != 200 {
		t.Fatalf("accounts a second later = %d %v", status, body)
	}
	st := sim.Stats().App(tossBroker, kauth.Real, DemoTossReal.AppKey)
	if st.RateLimited != 1 {
		t.Errorf("rate limited %d; want 1", st.RateLimited)
	}

	// AUTH: 5 issuances a second; the sixth is refused in the common
	// envelope, and mints nothing.
	for i := 0; i < 5; i++ {
		tossIssue(t, base)
	}
	status, h, body = tossDo(t, "POST", base+"/oauth2/token", "", nil, tossForm(DemoTossReal))
	if status != 429 || apiCode(body) != "rate-limit-exceeded" || h.Get("Retry-After") == "" || h.Get("X-RateLimit-Limit") != "5" {
		t.Fatalf("sixth issuance in a second = %d %v %v; want 429", status, h, body)
	}
}

// TestTossPeakWindow: ORDER_INFO allows 6 calls a second, 3 from 09:00 to
// 09:10 KST by the simulator's clock.
func TestTossPeakWindow(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 12, 7, 8, 59, 59, 0, kauth.KST), "6"},
		{time.Date(2026, 12, 7, 9, 0, 0, 0, kauth.KST), "3"},
		{time.Date(2026, 12, 7, 9, 9, 59, 0, kauth.KST), "3"},
		{time.Date(2026, 12, 7, 9, 10, 0, 0, kauth.KST), "6"},
	} {
		t.Run(tc.at.Format("15:04:05"), func(t *testing.T) {
			sim, ts := newSim(t)
			at := tc.at
			sim.Clock = func() time.Time { return at }
			base := BaseURL(ts.URL, tossBroker, kauth.Real)
			tok := tossIssue(t, base)
			acct := map[string]string{"X-Tossinvest-Account": "1"}
			status, h, body := tossDo(t, "GET", base+"/api/v1/buying-power", tok, acct, nil)
			if status != 200 || h.Get("X-RateLimit-Limit") != tc.want {
				t.Fatalf("buying-power = %d %v %v; want 200 with limit %s", status, h, body, tc.want)
			}
		})
	}
}

func TestTossAccountHeader(t *testing.T) {
	_, ts := newSim(t)
	base := BaseURL(ts.URL, tossBroker, kauth.Real)
	tok := tossIssue(t, base)
	if status, _, body := tossDo(t, "GET", base+"/api/v1/holdings", tok, nil, nil); status != 400 || apiCode(body) != "account-header-required" {
		t.Fatalf("holdings without the account = %d %v; want 400 account-header-required", status, body)
	}
	if status, _, body := tossDo(t, "GET", base+"/api/v1/holdings", tok, map[string]string{"X-Tossinvest-Account": "9"}, nil); status != 404 || apiCode(body) != "account-not-found" {
		t.Fatalf("holdings of another account = %d %v; want 404 account-not-found", status, body)
	}
	if status, _, body := tossDo(t, "GET", base+"/api/v1/holdings", tok, map[string]string{"X-Tossinvest-Account": "1"}, nil); status != 200 {
		t.Fatalf("holdings = %d %v", status, body)
	}
	if status, _, body := tossDo(t, "GET", base+"/api/v1/prices", "", nil, nil); status != 401 || apiCode(body) != "edge-blocked" {
		t.Fatalf("prices without a token = %d %v; want 401 edge-blocked", status, body)
	}
}

func TestTossCallsPerSecond(t *testing.T) {
	sim, ts := newSim(t)
	sim.TossCallsPerSecond = -1
	base := BaseURL(ts.URL, tossBroker, kauth.Real)
	tok := tossIssue(t, base)
	for i := range 5 {
		if status, h, body := tossDo(t, "GET", base+"/api/v1/accounts", tok, nil, nil); status != 200 || h.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("accounts call %d with no limits = %d %v %v", i, status, h, body)
		}
	}
	sim2, ts2 := newSim(t)
	sim2.TossCallsPerSecond = 2
	base = BaseURL(ts2.URL, tossBroker, kauth.Real)
	tok = tossIssue(t, base)
	tossDo(t, "GET", base+"/api/v1/prices", tok, nil, nil)
	if status, h, _ := tossDo(t, "GET", base+"/api/v1/prices", tok, nil, nil); status != 200 || h.Get("X-RateLimit-Limit") != "2" {
		t.Fatalf("prices at 2 a second = %d %v", status, h)
	}
	if status, _, _ := tossDo(t, "GET", base+"/api/v1/prices", tok, nil, nil); status != 429 {
		t.Fatalf("third prices call in a second = %d; want 429", status)
	}
}
