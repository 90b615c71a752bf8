package agent_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth/agent"
)

// browserGet sends a GET to the agent's TCP port as a browser would: no
// key, with the given cookie and headers.
func (h *harness) browserGet(path string, cookie *http.Cookie, hdr http.Header) response {
	h.t.Helper()
	if hdr == nil {
		hdr = http.Header{}
	}
	if cookie != nil {
		hdr.Set("Cookie", cookie.Name+"="+cookie.Value)
	}
	return h.do(h.tcp, "http://"+h.ep.TCP, "GET", path, nil, hdr)
}

// statusSession logs in with a fresh code and returns the session cookie.
func (h *harness) statusSession(query string) *http.Cookie {
	h.t.Helper()
	lr := h.statusLogin(query)
	r := h.browserGet(strings.TrimPrefix(lr.URL, "http://"+h.ep.TCP), nil, http.Header{"Sec-Fetch-Site": {"none"}})
	if r.status != http.StatusOK {
		h.t.Fatalf("GET login link = %d %s", r.status, r.body)
	}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == agent.StatusCookie {
			return c
		}
	}
	h.t.Fatalf("the login link set no %s cookie: %v", agent.StatusCookie, r.header)
	return nil
}

// TestStatusLoginOnce: a login link is redeemed once, for a cookie that
// is HttpOnly, SameSite=Strict, limited to /status and to 12 hours; the
// page and its data need that cookie, and the cookie opens nothing else.
func TestStatusLoginOnce(t *testing.T) {
	h := newHarness(t, setup{})
	lr := h.statusLogin("")
	if !strings.HasPrefix(lr.URL, "http://"+h.ep.TCP+"/status/login?code=") {
		t.Fatalf("login URL = %s; want http://%s/status/login?code=…", lr.URL, h.ep.TCP)
	}
	path := strings.TrimPrefix(lr.URL, "http://"+h.ep.TCP)
	if r := h.browserGet(path, nil, http.Header{}); r.status != http.StatusOK {
		t.Fatalf("first GET of the login link = %d %s", r.status, r.body)
	} else {
		c := r.header.Get("Set-Cookie")
		for _, want := range []string{agent.StatusCookie + "=", "Path=/status", "Max-Age=43200", "HttpOnly", "SameSite=Strict"} {
			if !strings.Contains(c, want) {
				t.Errorf("Set-Cookie %q lacks %q", c, want)
			}
		}
		if !strings.Contains(string(r.body), `url=/status/`) {
			t.Errorf("the login answer does not move on to /status/: %s", r.body)
		}
	}
	if r := h.browserGet(path, nil, nil); r.status != http.StatusForbidden || r.header.Get("Set-Cookie") != "" {
		t.Errorf("second GET of the login link = %d (cookie %q); want 403 and no cookie", r.status, r.header.Get("Set-Cookie"))
	}
	for _, p := range []string{"/status/login?code=", "/status/login", "/status/login?code=" + strings.Repeat("A", 43)} {
		if r := h.browserGet(p, nil, nil); r.status != http.StatusForbidden {
			t.Errorf("GET %s = %d; want 403", p, r.status)
		}
	}
	// A HEAD (a link checker) does not use a code up.
	lr2 := h.statusLogin("")
	p2 := strings.TrimPrefix(lr2.URL, "http://"+h.ep.TCP)
	if r := h.do(h.tcp, "http://"+h.ep.TCP, "HEAD", p2, nil, nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("HEAD of a login link = %d; want 405", r.status)
	}
	if r := h.browserGet(p2, nil, nil); r.status != http.StatusOK {
		t.Errorf("GET of a login link after a HEAD = %d; want 200", r.status)
	}

	cookie := h.statusSession("")
	page := h.browserGet("/status/", cookie, http.Header{"Sec-Fetch-Site": {"same-origin"}})
	if page.status != http.StatusOK || !strings.Contains(string(page.body), "/status/app.js") {
		t.Fatalf("GET /status/ with the cookie = %d %s", page.status, page.body)
	}
	for k, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
		"X-Frame-Options":         "DENY",
		"Cache-Control":           "no-store",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := page.header.Get(k); !strings.Contains(got, want) {
			t.Errorf("%s: %q; want %q", k, got, want)
		}
	}
	data := h.browserGet("/status/data.json", cookie, http.Header{"Sec-Fetch-Site": {"same-origin"}})
	if data.status != http.StatusOK {
		t.Fatalf("GET /status/data.json with the cookie = %d %s", data.status, data.body)
	}
	var d struct {
		Accounts []struct{ Name string }
	}
	data.json(t, &d)
	if len(d.Accounts) != 3 {
		t.Errorf("data.json has %d accounts; want 3: %s", len(d.Accounts), data.body)
	}

	// No cookie, a wrong one: refused.
	wrong := &http.Cookie{Name: agent.StatusCookie, Value: strings.Repeat("x", 43)}
	for _, c := range []*http.Cookie{nil, wrong, {Name: "other", Value: cookie.Value}} {
		for _, p := range []string{"/status/", "/status/data.json"} {
			if r := h.browserGet(p, c, nil); r.status != http.StatusUnauthorized {
				t.Errorf("GET %s with cookie %v = %d; want 401", p, c, r.status)
			}
		}
	}
	// The cookie opens nothing but the page: every other route still
	// wants the key.
	for _, p := range []string{"/v1/accounts", "/v1/accounts/kis-mock", "/v1/accounts/kis-mock/token", "/v1/accounts/kis-mock/approval",
		"/metrics", "/proxy/kis-mock/uapi/domestic-stock/v1/quotations/inquire-price", "/broker/x/kis-mock/oauth2/tokenP",
		"/ws/kis-mock", "/status/other", "/status/../v1/accounts/kis-mock/token"} {
		if r := h.browserGet(p, cookie, nil); r.status < 300 || r.status == http.StatusOK {
			t.Errorf("GET %s with only the status cookie = %d %s; want a refusal", p, r.status, r.body)
		} else if r.status >= 300 && r.status < 400 {
			// The mux cleans a path by a redirect; the clean path then
			// wants the key.
			loc := r.header.Get("Location")
			if r2 := h.browserGet(loc, cookie, nil); r2.status != http.StatusUnauthorized {
				t.Errorf("GET %s (from %s) with only the status cookie = %d; want 401", loc, p, r2.status)
			}
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		hdr := http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}
		if r := h.do(h.tcp, "http://"+h.ep.TCP, m, "/status/data.json", nil, hdr); r.status != http.StatusMethodNotAllowed {
			t.Errorf("%s /status/data.json = %d; want 405", m, r.status)
		}
		if r := h.do(h.tcp, "http://"+h.ep.TCP, m, "/v1/status/login", nil, hdr); r.status != http.StatusUnauthorized {
			t.Errorf("%s /v1/status/login with only the cookie = %d; want 401", m, r.status)
		}
	}
	// The key over TCP asks for a link as the socket does.
	if r := h.viaTCP("POST", "/v1/status/login", nil, nil); r.status != http.StatusOK {
		t.Errorf("POST /v1/status/login with the key = %d %s", r.status, r.body)
	}
}

// TestStatusPageBrowserRules: the page's own same-origin fetches pass the
// guard; a request from another origin (even one of the same site,
// 127.0.0.1 on another port, to which a SameSite=Strict cookie goes) is
// refused with the cookie, and the browser rules of every other route
// are unchanged.
func TestStatusPageBrowserRules(t *testing.T) {
	h := newHarness(t, setup{})
	cookie := h.statusSession("")
	self := "http://" + h.ep.TCP
	cases := []struct {
		name string
		path string
		hdr  http.Header
		want int
	}{
		{"the page's fetch", "/status/data.json", http.Header{"Sec-Fetch-Site": {"same-origin"}}, 200},
		{"the page's fetch with its Origin", "/status/data.json", http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {self}}, 200},
		{"typed into the address bar", "/status/", http.Header{"Sec-Fetch-Site": {"none"}}, 200},
		{"same site, another port", "/status/data.json", http.Header{"Sec-Fetch-Site": {"same-site"}, "Origin": {"http://127.0.0.1:1"}}, 403},
		{"same site, no Origin", "/status/data.json", http.Header{"Sec-Fetch-Site": {"same-site"}}, 403},
		{"cross site", "/status/data.json", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}, 403},
		{"cross site page", "/status/", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403},
		{"another origin, no Sec-Fetch-Site", "/status/data.json", http.Header{"Origin": {"http://localhost:" + strings.Split(h.ep.TCP, ":")[1]}}, 403},
		{"null origin", "/status/data.json", http.Header{"Origin": {"null"}}, 403},
		{"rebinding", "/status/data.json", http.Header{"Host": {"evil.example:" + strings.Split(h.ep.TCP, ":")[1]}}, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", self+tc.path, nil)
			for k, v := range tc.hdr {
				req.Header[k] = v
			}
			if host := tc.hdr.Get("Host"); host != "" {
				req.Host = host
			}
			req.AddCookie(cookie)
			resp, err := h.tcp.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("GET %s = %d; want %d", tc.path, resp.StatusCode, tc.want)
			}
		})
	}
	// Everywhere else a page's own-origin request is refused, as before.
	for _, p := range []string{"/v1/accounts", "/v1/accounts/kis-mock/token", "/metrics", "/healthz"} {
		r := h.viaTCP("GET", p, nil, http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {self}})
		if r.status != http.StatusForbidden || r.errorCode(t) != "forbidden_origin" {
			t.Errorf("GET %s from the agent's own origin = %d %s; want 403 forbidden_origin", p, r.status, r.body)
		}
	}
	// The login link arrives from anywhere (a terminal, the file kauth
	// open writes), but not from a script of another origin.
	lr := h.statusLogin("")
	path := strings.TrimPrefix(lr.URL, self)
	if r := h.browserGet(path, nil, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}); r.status != http.StatusForbidden {
		t.Errorf("a login link fetched by another origin = %d; want 403", r.status)
	}
	for _, hdr := range []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"no-cors"}, "Sec-Fetch-Dest": {"empty"}},
		{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"navigate"}, "Sec-Fetch-Dest": {"iframe"}},
		{"Sec-Fetch-Site": {"cross-site"}},
	} {
		if r := h.browserGet(path, nil, hdr); r.status != http.StatusForbidden {
			t.Errorf("a login link loaded from another site with %v = %d; want 403", hdr, r.status)
		}
	}
	nav := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"navigate"}, "Sec-Fetch-Dest": {"document"}}
	if r := h.browserGet(path, nil, nav); r.status != http.StatusOK {
		t.Errorf("a login link navigated to from a local file = %d %s; want 200", r.status, r.body)
	}
}

// TestStatusCodeExpires: a login code is worth nothing after 60 s on the
// agent's clock.
func TestStatusCodeExpires(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	h := newHarness(t, setup{clock: clock})
	fresh := h.statusLogin("")
	stale := h.statusLogin("")
	if want := clock.Now().Add(agent.StatusCodeTTL).In(kstZone).Format(time.RFC3339); stale.ExpiresAt != want {
		t.Errorf("expires_at = %s; want %s", stale.ExpiresAt, want)
	}
	clock.Advance(agent.StatusCodeTTL - time.Second)
	if r := h.browserGet(strings.TrimPrefix(fresh.URL, "http://"+h.ep.TCP), nil, nil); r.status != http.StatusOK {
		t.Errorf("a code 59 s old = %d; want 200", r.status)
	}
	clock.Advance(time.Second)
	if r := h.browserGet(strings.TrimPrefix(stale.URL, "http://"+h.ep.TCP), nil, nil); r.status != http.StatusForbidden {
		t.Errorf("a code 60 s old = %d; want 403", r.status)
	}
	if !strings.Contains(h.logs.String(), `msg="agent: status page login refused" reason="expired code"`) {
		t.Error("no log line for the expired code")
	}
}

// TestStatusSessionEnds: a session ends after 12 hours on the agent's
// clock, and at once when the agent's keys change.
func TestStatusSessionEnds(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	h := newHarness(t, setup{clock: clock})
	cookie := h.statusSession("")
	clock.Advance(agent.StatusSessionTTL - time.Second)
	if r := h.browserGet("/status/data.json", cookie, nil); r.status != http.StatusOK {
		t.Errorf("data.json 1 s before the session's end = %d; want 200", r.status)
	}
	clock.Advance(time.Second)
	if r := h.browserGet("/status/data.json", cookie, nil); r.status != http.StatusUnauthorized {
		t.Errorf("data.json at the session's end = %d; want 401", r.status)
	}

	cookie = h.statusSession("")
	if err := os.WriteFile(h.ep.KeyFile, []byte(strings.Repeat("k", 43)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.agent.Reload(h.cfg); err != nil {
		t.Fatal(err)
	}
	if r := h.browserGet("/status/data.json", cookie, nil); r.status != http.StatusUnauthorized {
		t.Errorf("data.json after the agent key changed = %d; want 401", r.status)
	}
}

// TestStatusDataHoldsNoSecret: the page's data names tokens and app keys
// by fingerprints only, and shows the token's life, today's issuances,
// the budget and the token events.
func TestStatusDataHoldsNoSecret(t *testing.T) {
	h := newHarness(t, setup{})
	toks := map[string]string{}
	for _, name := range []string{"kis-mock", "kiwoom-mock", "kis-real"} {
		toks[name] = h.token(name).AccessToken
	}
	cookie := h.statusSession("")
	page := h.browserGet("/status/", cookie, nil)
	r := h.browserGet("/status/data.json", cookie, nil)
	if r.status != http.StatusOK {
		t.Fatalf("data.json = %d %s", r.status, r.body)
	}
	h.checkNoSecrets(string(r.body) + string(page.body))
	var d struct {
		Accounts []struct {
			Name       string
			TokenState string `json:"token_state"`
			Token      string `json:"token_fingerprint"`
			Life       *struct {
				Total, Elapsed, RefreshAt, UsableUntil int64
			}
			Today []struct {
				Outcome string
				Second  int
			}
			Budget struct {
				RateLimit float64 `json:"rate_limit"`
				Burst     int
			}
		}
		Events []struct{ Account, Kind, Token string }
	}
	r.json(t, &d)
	var raw struct {
		Accounts []struct {
			Life map[string]int64
		}
	}
	json.Unmarshal(r.body, &raw)
	for i, a := range d.Accounts {
		if a.TokenState != "valid" || a.Token == "" || a.Token == toks[a.Name] {
			t.Errorf("%s: state %q, token %q; want valid with a fingerprint", a.Name, a.TokenState, a.Token)
		}
		l := raw.Accounts[i].Life
		if l == nil || !(l["elapsed"] <= l["refresh_at"] && l["refresh_at"] < l["usable_until"] && l["usable_until"] < l["total"]) {
			t.Errorf("%s: life %v; want elapsed ≤ refresh_at < usable_until < total", a.Name, l)
		}
		if len(a.Today) != 1 || a.Today[0].Outcome != "issued" {
			t.Errorf("%s: today %+v; want the one issuance", a.Name, a.Today)
		}
		if a.Budget.Burst == 0 || a.Budget.RateLimit == 0 {
			t.Errorf("%s: budget %+v", a.Name, a.Budget)
		}
	}
	seen := map[string]bool{}
	for _, e := range d.Events {
		if e.Kind == "issued" && e.Token != "" {
			seen[e.Account] = true
		}
	}
	if len(seen) != 3 {
		t.Errorf("events %+v; want an issuance of each account", d.Events)
	}
}

// TestStatusScope: a session shows the accounts of the key that opened
// it, narrowed to those asked for; a client key cannot open a page of
// accounts it may not use.
func TestStatusScope(t *testing.T) {
	dir := shortTempDir(t)
	botFile := filepath.Join(dir, "bot.key")
	h := newHarness(t, setup{cfg: func(c *agent.Config) {
		c.ClientKeys = []agent.ClientKey{{Name: "bot", File: botFile, Accounts: []string{"kis-mock"}}}
	}})
	b, _ := os.ReadFile(botFile)
	bot := http.Header{"Authorization": {"Bearer " + strings.TrimSpace(string(b))}}
	names := func(c *http.Cookie) string {
		r := h.browserGet("/status/data.json", c, nil)
		var d struct{ Accounts []struct{ Name string } }
		r.json(t, &d)
		var out []string
		for _, a := range d.Accounts {
			out = append(out, a.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(h.statusSession("?account=kiwoom-mock&account=kis-real")); got != "kis-real,kiwoom-mock" {
		t.Errorf("a session for kiwoom-mock and kis-real shows %s", got)
	}
	r := h.viaTCP("POST", "/v1/status/login", nil, bot.Clone())
	if r.status != http.StatusOK {
		t.Fatalf("client key: POST /v1/status/login = %d %s", r.status, r.body)
	}
	var lr agent.StatusLoginResponse
	r.json(t, &lr)
	login := h.browserGet(strings.TrimPrefix(lr.URL, "http://"+h.ep.TCP), nil, nil)
	var bc *http.Cookie
	for _, c := range (&http.Response{Header: login.header}).Cookies() {
		bc = c
	}
	if got := names(bc); got != "kis-mock" {
		t.Errorf("the bot's session shows %s; want kis-mock only", got)
	}
	for _, q := range []string{"?account=kiwoom-mock", "?account=kis-mock&account=kis-real", "?account=nope"} {
		if r := h.viaTCP("POST", "/v1/status/login"+q, nil, bot.Clone()); r.status != http.StatusForbidden {
			t.Errorf("client key: POST /v1/status/login%s = %d; want 403", q, r.status)
		}
	}
	if r := h.viaUnix("POST", "/v1/status/login?account=nope", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("POST /v1/status/login?account=nope = %d; want 404", r.status)
	}
}

// TestStatusNeedsTCP: with no TCP listener there is nothing a browser can
// open, and the answer says what to set.
func TestStatusNeedsTCP(t *testing.T) {
	h := newHarness(t, setup{noServe: true, cfg: func(c *agent.Config) { c.Listen.TCP = "" }})
	sock := filepath.Join(shortTempDir(t), "a.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.agent.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()
	c := unixClient(sock)
	defer c.CloseIdleConnections()
	r := h.do(c, "http://localhost", "POST", "/v1/status/login", nil, nil)
	if r.status != http.StatusConflict || r.errorCode(t) != "no_tcp" || !strings.Contains(string(r.body), "listen.tcp") {
		t.Errorf("POST /v1/status/login without TCP = %d %s; want 409 no_tcp naming listen.tcp", r.status, r.body)
	}
}

var kstZone = time.FixedZone("KST", 9*3600)

// TestStatusShowsRealtimeAndBudget: the page shows the app key's upstream
// session (connected, subscriptions against the broker's limit, local
// clients) once a bot has joined it, and the call budget spent by
// proxied calls.
func TestStatusShowsRealtimeAndBudget(t *testing.T) {
	s := wsSetup(nil)
	// A bucket that takes 5 s to refill, so that the call's spend is still
	// there when the page looks, however slow the machine.
	s.cfg = func(c *agent.Config) { c.Accounts[0].RateLimit = 0.2 }
	h := newHarness(t, s)
	cookie := h.statusSession("")
	type acct struct {
		Name     string
		Realtime *struct {
			Connected            bool
			Subscriptions, Limit int
			Members              int
		}
		Budget struct {
			InUse float64 `json:"in_use"`
			Burst int
		}
	}
	get := func(name string) acct {
		r := h.browserGet("/status/data.json", cookie, nil)
		var d struct{ Accounts []acct }
		r.json(t, &d)
		for _, a := range d.Accounts {
			if a.Name == name {
				return a
			}
		}
		t.Fatalf("data.json has no %s: %s", name, r.body)
		return acct{}
	}
	if a := get("kis-mock"); a.Realtime != nil {
		t.Errorf("realtime before any bot joined = %+v; want none", *a.Realtime)
	}
	w := h.ws("unix", "kis-mock")
	w.kisSubscribe("1", "H0STCNT0", "005930")
	w.wantControl("OPSP0000", "005930")
	w.kisSubscribe("1", "H0STCNT0", "000660")
	w.wantControl("OPSP0000", "000660")
	a := get("kis-mock")
	if a.Realtime == nil || !a.Realtime.Connected || a.Realtime.Subscriptions != 2 || a.Realtime.Members != 1 || a.Realtime.Limit != 41 {
		t.Errorf("realtime = %+v; want connected, 2 of 41 subscriptions, 1 client", a.Realtime)
	}
	kisOK(t, h.kisPrice("kis-mock", nil))
	if a := get("kis-mock"); a.Budget.InUse <= 0 || a.Budget.InUse > float64(a.Budget.Burst) {
		t.Errorf("budget after a proxied call = %+v; want some of the burst in use", a.Budget)
	}
}

// TestStatusLoginRefusalLogThinned: anyone who reaches the agent's TCP
// port can ask for the status page with a made-up login code; the first
// refusal is logged, then at most one a minute, which counts the refusals
// left out since the first of them.
func TestStatusLoginRefusalLogThinned(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	h := newHarness(t, setup{clock: clock})
	const event = `msg="agent: status page login refused"`
	for range 25 {
		if r := h.browserGet("/status/login?code=made-up", nil, nil); r.status != http.StatusForbidden {
			t.Fatalf("a made-up code = %d; want 403", r.status)
		}
	}
	if n := strings.Count(h.logs.String(), event); n != 1 {
		t.Fatalf("%d warnings for 25 made-up codes; want 1", n)
	}
	clock.Advance(time.Minute)
	h.browserGet("/status/login?code=made-up", nil, nil)
	logs := h.logs.String()
	if n := strings.Count(logs, event); n != 2 {
		t.Fatalf("%d warnings a minute later; want 2", n)
	}
	if last := logs[strings.LastIndex(logs, event):]; !strings.Contains(last, "suppressed.count=24 suppressed.since=2026-12-07T09:00:00.000Z") {
		t.Errorf("the warning a minute later = %q; want suppressed.count=24 since the first left out", last)
	}
}
