package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/ls"
)

// These tests speak to a facade port as python-kis (Soju06/python-kis at
// 6fcde3fa080108edbca562b6fef136bb580f777e) speaks to KIS, with only its
// domain constants changed:
//
//   - pykis/__env__.py: REAL_DOMAIN, VIRTUAL_DOMAIN and the WebSocket
//     domains WEBSOCKET_REAL_DOMAIN, WEBSOCKET_VIRTUAL_DOMAIN; KisKey
//     (pykis/client/appkey.py) wants an appkey of 36 characters and a
//     secretkey of 180 (APPKEY_LENGTH, SECRETKEY_LENGTH).
//   - pykis/kis.py PyKis.request: url=urljoin(DOMAIN, path), so a path
//     prefix in the domain is dropped; the session's User-Agent is
//     PyKis/<version>; requests sends json=body (json.dumps, ", " and
//     ": " separators); appkey.build puts appkey and appsecret in the
//     headers, or in the body for tokenP; an authenticated call adds
//     Authorization: "<type> <token>" (pykis/api/auth/token.py); fetch
//     adds tr_id, and tr_cont: N for a page after the first.
//   - pykis/api/auth/token.py token_issue: POST /oauth2/tokenP, body
//     {"grant_type", "appkey", "appsecret"}, no Authorization.
//   - pykis/api/stock/quote.py: GET
//     /uapi/domestic-stock/v1/quotations/inquire-price, tr_id
//     FHKST01010100, FID_COND_MRKT_DIV_CODE and FID_INPUT_ISCD, on the
//     real domain even for a paper account.
//   - pykis/api/account/balance.py domestic_balance: GET
//     /uapi/domestic-stock/v1/trading/inquire-balance, tr_id VTTC8434R on
//     the paper domain, the params then CANO, ACNT_PRDT_CD
//     (pykis/client/account.py) and ctx_area_fk100, ctx_area_nk100
//     (pykis/client/page.py KisPage.build); the answer's tr_cont header
//     F or M means more (to_page_status), the next page's cursor is the
//     body's ctx_area_fk100 and ctx_area_nk100.
//   - pykis/api/auth/websocket.py: POST /oauth2/Approval, body
//     {"grant_type", "appkey", "secretkey"}, no appkey header.
//   - pykis/client/websocket.py: WebSocketApp(f"{WEBSOCKET_DOMAIN}/tryitout");
//     pykis/client/messaging.py: each subscribe is {"header":
//     {"approval_key", "custtype": "P", "tr_type", "content-type":
//     "utf-8"}, "body": {"input": {"tr_id", "tr_key"}}}, with an approval
//     key fetched for it.

// pykisAgent is python-kis's User-Agent.
const pykisAgent = "PyKis/24+dev"

// urljoin is Python's urllib.parse.urljoin for an absolute path: the
// domain's scheme and host, the path as it is.
func urljoin(t *testing.T, domain, path string) string {
	t.Helper()
	base, err := url.Parse(domain)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := url.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	return base.ResolveReference(ref).String()
}

// pyJSON is json.dumps of ordered pairs, as requests sends json=.
func pyJSON(kv ...string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteString(", ")
		}
		k, _ := json.Marshal(kv[i])
		v, _ := json.Marshal(kv[i+1])
		b.Write(k)
		b.WriteString(": ")
		b.Write(v)
	}
	b.WriteString("}")
	return b.String()
}

// pykis is python-kis's wire behaviour against a domain.
type pykis struct {
	t      *testing.T
	appkey string
	secret string
}

func (p pykis) do(method, domain, path string, hdr [][2]string, body string) pyAnswer {
	p.t.Helper()
	u := urljoin(p.t, domain, path)
	hdr = append([][2]string{{"User-Agent", pykisAgent}, {"Accept", "*/*"}}, hdr...)
	if body != "" {
		hdr = append(hdr, [2]string{"Content-Type", "application/json"})
	}
	host := strings.TrimPrefix(domain, "http://")
	return pyDo(p.t, host, method, u, hdr, body)
}

// token is token_issue.
func (p pykis) token(domain string) pyAnswer {
	return p.do("POST", domain, "/oauth2/tokenP", nil,
		pyJSON("grant_type", "client_credentials", "appkey", p.appkey, "appsecret", p.secret))
}

// approval is websocket_approval_key.
func (p pykis) approval(domain string) pyAnswer {
	return p.do("POST", domain, "/oauth2/Approval", nil,
		pyJSON("grant_type", "client_credentials", "appkey", p.appkey, "secretkey", p.secret))
}

// get is fetch of a GET call with tr_id api.
func (p pykis) get(domain, pathAndQuery, api, trCont, tok string) pyAnswer {
	hdr := [][2]string{{"tr_id", api}}
	if trCont != "" {
		hdr = append(hdr, [2]string{"tr_cont", trCont})
	}
	hdr = append(hdr, [2]string{"appkey", p.appkey}, [2]string{"appsecret", p.secret})
	if tok != "" {
		hdr = append(hdr, [2]string{"Authorization", "Bearer " + tok})
	}
	return p.do("GET", domain, pathAndQuery, hdr, "")
}

func accessToken(t *testing.T, a pyAnswer) string {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("tokenP = %d %s", a.status, a.body)
	}
	tok, _ := a.json(t)["access_token"].(string)
	if tok == "" {
		t.Fatalf("tokenP answer without access_token: %s", a.body)
	}
	return tok
}

// portHarness serves kis-real and kis-mock (and kiwoom-mock) each on a
// facade port, with a client key "bot" for the KIS accounts, "other" for
// kiwoom-mock and "mock-only" for kis-mock.
func portHarness(t *testing.T) (h *harness, bot, other, mockOnly string) {
	t.Helper()
	return portHarnessWith(t, nil)
}

// portHarnessWith is portHarness with the config changed by tune too.
func portHarnessWith(t *testing.T, tune func(*agent.Config)) (h *harness, bot, other, mockOnly string) {
	t.Helper()
	dir := shortTempDir(t)
	botFile, otherFile, mockFile := filepath.Join(dir, "bot.key"), filepath.Join(dir, "other.key"), filepath.Join(dir, "mock.key")
	s := wsSetup(nil)
	s.cfg = func(c *agent.Config) {
		for i := range c.Accounts {
			c.Accounts[i].FacadeAddr = "127.0.0.1:0"
		}
		c.ClientKeys = []agent.ClientKey{
			{Name: "bot", File: botFile, Accounts: []string{"kis-real", "kis-mock"}},
			{Name: "other", File: otherFile, Accounts: []string{"kiwoom-mock"}},
			{Name: "mock-only", File: mockFile, Accounts: []string{"kis-mock"}},
		}
		if tune != nil {
			tune(c)
		}
	}
	h = newHarness(t, s)
	read := func(f string) string {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	bot, other, mockOnly = read(botFile), read(otherFile), read(mockFile)
	h.secrets = append(h.secrets, h.key, bot, other, mockOnly)
	for _, name := range []string{"kis-real", "kis-mock", "kiwoom-mock"} {
		if h.ep.Ports[name] == "" {
			t.Fatalf("Endpoints().Ports = %v; want a port for %s", h.ep.Ports, name)
		}
	}
	return h, bot, other, mockOnly
}

// padded is a client key padded with '=' to python-kis's secretkey length.
func padded(key string) string { return key + strings.Repeat("=", 180-len(key)) }

func TestPortSpeaksAsPyKis(t *testing.T) {
	h, bot, _, _ := portHarness(t)
	// The bot's KisAuth: a placeholder app key, its client key as the
	// secret. Its domain constants name the ports.
	py := pykis{t: t, appkey: placeholderKey, secret: padded(bot)}
	real := "http://" + h.ep.Ports["kis-real"]
	virtual := "http://" + h.ep.Ports["kis-mock"]
	wsVirtual := "ws://" + h.ep.Ports["kis-mock"]

	realTok := accessToken(t, py.token(real))
	virtualTok := accessToken(t, py.token(virtual))
	h.sawToken(realTok)
	h.sawToken(virtualTok)
	if realTok != h.token("kis-real").AccessToken || virtualTok != h.token("kis-mock").AccessToken {
		t.Fatal("the ports' tokens are not the managed ones")
	}

	// Quote, on the real domain.
	a := py.get(real, "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", "FHKST01010100", "", realTok)
	if m := kisSampleBody(t, a); a.status != 200 || m["rt_cd"] != "0" {
		t.Fatalf("inquire-price = %d %s", a.status, a.body)
	}

	// The balance, page by page, on the paper domain.
	var fk, nk string
	rows, pages := 0, 0
	for {
		q := "AFHR_FLPR_YN=N&OFL_YN=&INQR_DVSN=02&UNPR_DVSN=01&FUND_STTL_ICLD_YN=Y&FNCG_AMT_AUTO_RDPT_YN=N&PRCS_DVSN=00&CANO=50000000&ACNT_PRDT_CD=01" +
			"&ctx_area_fk100=" + url.QueryEscape(fk) + "&ctx_area_nk100=" + url.QueryEscape(nk)
		trCont := ""
		if fk != "" || nk != "" {
			trCont = "N"
		}
		a := py.get(virtual, "/uapi/domestic-stock/v1/trading/inquire-balance?"+q, "VTTC8434R", trCont, virtualTok)
		m := kisSampleBody(t, a)
		if a.status != 200 || m["rt_cd"] != "0" {
			t.Fatalf("inquire-balance page %d = %d %s", pages+1, a.status, a.body)
		}
		pages++
		out, _ := m["output1"].([]any)
		rows += len(out)
		status := a.header.Get("tr_cont")
		if status == "D" || status == "E" {
			break
		}
		if status != "F" && status != "M" {
			t.Fatalf("tr_cont = %q: to_page_status raises", status)
		}
		if pages > 20 {
			t.Fatal("paging does not end")
		}
		fk, _ = m["ctx_area_fk100"].(string)
		nk, _ = m["ctx_area_nk100"].(string)
	}
	if pages < 2 || rows != brokersim.PortfolioSize {
		t.Errorf("paged %d rows in %d pages; want %d in several", rows, pages, brokersim.PortfolioSize)
	}

	// Real-time prices: an approval key for each subscribe, then the
	// WebSocket of the paper domain.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsVirtual+"/tryitout", &websocket.DialOptions{
		// websocket-client sends Origin: http://<host> unless told not to.
		HTTPHeader: http.Header{"Origin": {"http://" + h.ep.Ports["kis-mock"]}, "User-Agent": {pykisAgent}},
	})
	if err != nil {
		t.Fatalf("dial %s/tryitout: %v", wsVirtual, err)
	}
	defer c.CloseNow()
	w := &wsConn{t: t, c: c}
	for _, code := range []string{"005930", "000660"} {
		a := py.approval(virtual)
		key, _ := a.json(t)["approval_key"].(string)
		if a.status != 200 || key == "" {
			t.Fatalf("Approval = %d %s", a.status, a.body)
		}
		h.sawToken(key)
		w.send(map[string]any{
			"header": map[string]string{"approval_key": key, "custtype": "P", "tr_type": "1", "content-type": "utf-8"},
			"body":   map[string]any{"input": map[string]string{"tr_id": "H0STCNT0", "tr_key": code}},
		})
		w.wantControl("OPSP0000", code)
	}
	h.sim.Tick()
	got := map[string]bool{}
	for range 2 {
		code, seq := w.frame()
		if seq != 1 {
			t.Errorf("%s frame #%d; want #1", code, seq)
		}
		got[code] = true
	}
	if !got["005930"] || !got["000660"] {
		t.Errorf("frames for %v; want both codes", got)
	}
	if n := h.sim.Stats().Approvals; n != 1 {
		t.Errorf("approvals at the simulator = %d; want 1 (the managed key)", n)
	}
}

// TestPortGivesNothingWithoutTheKey: a process that knows the port but not
// the account's client key (or the token the port handed out) gets no
// token, no approval key, no quote and no real-time frame, and the broker
// sees no call of it.
func TestPortGivesNothingWithoutTheKey(t *testing.T) {
	h, bot, other, _ := portHarness(t)
	kis := "http://" + h.ep.Ports["kis-mock"]
	wrong := strings.Repeat("A", 43)
	managed := h.token("kis-mock").AccessToken
	h.token("kis-real")
	h.token("kiwoom-mock") // every keeper has issued
	before := h.sim.Stats()

	for _, tc := range []struct{ name, secret string }{
		{"empty secret", ""},
		{"placeholder secret", placeholderSecret},
		{"wrong key", wrong},
		{"wrong key padded", padded(wrong)},
		{"another account's client key", other},
		{"padding only", strings.Repeat("=", 180)},
		{"the client key cut short", bot[:len(bot)-1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			py := pykis{t: t, appkey: placeholderKey, secret: tc.secret}
			for what, a := range map[string]pyAnswer{
				"tokenP":        py.token(kis),
				"Approval":      py.approval(kis),
				"inquire-price": py.get(kis, "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", "FHKST01010100", "", ""),
				"wrong token":   py.get(kis, "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", "FHKST01010100", "", "wrong-token"),
			} {
				if a.status != http.StatusUnauthorized {
					t.Errorf("%s = %d; want 401", what, a.status)
				}
				if strings.Contains(string(a.body), managed) || strings.Contains(string(a.body), bot) {
					t.Errorf("%s answer holds a credential", what)
				}
				// In KIS's error shape, so that python-kis raises
				// KisHTTPError rather than fail to parse it.
				if m := a.json(t); m["rt_cd"] == "0" || m["msg_cd"] == nil {
					t.Errorf("%s answer is not KIS's error shape", what)
				}
			}
		})
	}
	// The client key under another scheme, or another account's client
	// key as the bearer token, is no way in either.
	for _, hdr := range [][2]string{{"Authorization", "Basic " + bot}, {"Authorization", "Bearer " + other}} {
		a := pyDo(t, h.ep.Ports["kis-mock"], "GET", kis+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930",
			[][2]string{{"tr_id", "FHKST01010100"}, hdr}, "")
		if a.status != http.StatusUnauthorized {
			t.Errorf("%s %s… = %d; want 401", hdr[0], strings.Fields(hdr[1])[0], a.status)
		}
	}

	// WebSocket: the upgrade succeeds (it carries no credential), but a
	// subscribe without the account's approval key or client key closes
	// it with nothing received.
	for i, key := range []string{"placeholder", "", wrong, other} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, _, err := websocket.Dial(ctx, "ws://"+h.ep.Ports["kis-mock"]+"/tryitout", nil)
		if err != nil {
			cancel()
			t.Fatalf("dial: %v", err)
		}
		w := &wsConn{t: t, c: c}
		w.kisSubscribeWith(key, "005930")
		_, data, err := c.Read(ctx)
		cancel()
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Errorf("wrong approval_key #%d: read %d bytes, %v; want closed with a policy violation", i, len(data), err)
		}
		c.CloseNow()
	}

	after := h.sim.Stats()
	if after.Calls != before.Calls || after.Approvals != before.Approvals || after.Issued != before.Issued {
		t.Errorf("the simulator saw calls %d→%d, approvals %d→%d, issues %d→%d; want none",
			before.Calls, after.Calls, before.Approvals, after.Approvals, before.Issued, after.Issued)
	}
	if st := h.kisWS(); st.Opened != 0 {
		t.Errorf("upstream sessions opened = %d; want 0", st.Opened)
	}

	// The client key itself works where python-kis puts a secret, and as a
	// bearer token or approval key for a client handed one.
	if a := (pykis{t: t, appkey: placeholderKey, secret: bot}).token(kis); a.status != 200 {
		t.Errorf("tokenP with the unpadded client key = %d %s", a.status, a.body)
	}
	a := pyDo(t, h.ep.Ports["kis-mock"], "GET", kis+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930",
		[][2]string{{"tr_id", "FHKST01010100"}, {"Authorization", "Bearer " + bot}}, "")
	if m := kisSampleBody(t, a); a.status != 200 || m["rt_cd"] != "0" {
		t.Errorf("inquire-price with the client key as the bearer token = %d %s", a.status, a.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+h.ep.Ports["kis-mock"]+"/tryitout", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	w := &wsConn{t: t, c: c}
	w.kisSubscribeWith(bot, "005930")
	w.wantControl("OPSP0000", "005930")
}

func (w *wsConn) kisSubscribeWith(approvalKey, code string) {
	w.send(map[string]any{
		"header": map[string]string{"approval_key": approvalKey, "custtype": "P", "tr_type": "1", "content-type": "utf-8"},
		"body":   map[string]any{"input": map[string]string{"tr_id": "H0STCNT0", "tr_key": code}},
	})
}

// TestPortKiwoom: Kiwoom's calls carry the token alone, so after au10001
// (its secretkey the client key) the token the port handed out is the
// credential; a wrong one gets nothing.
func TestPortKiwoom(t *testing.T) {
	h, bot, other, _ := portHarness(t)
	base := "http://" + h.ep.Ports["kiwoom-mock"]
	hdr := [][2]string{{"Content-Type", "application/json;charset=UTF-8"}}
	issue := func(secret string) pyAnswer {
		return pyDo(t, h.ep.Ports["kiwoom-mock"], "POST", base+"/oauth2/token", hdr,
			jsonBody(t, map[string]string{"grant_type": "client_credentials", "appkey": placeholderKey, "secretkey": secret}))
	}
	info := func(tok string) pyAnswer {
		return pyDo(t, h.ep.Ports["kiwoom-mock"], "POST", base+"/api/dostk/stkinfo",
			append(hdr, [2]string{"api-id", "ka10001"}, [2]string{"authorization", "Bearer " + tok}), `{"stk_cd":"005930"}`)
	}
	for i, s := range []string{"", placeholderSecret, bot} {
		if a := issue(s); a.status != http.StatusUnauthorized {
			t.Errorf("au10001 with wrong secretkey #%d = %d; want 401", i, a.status)
		}
	}
	a := issue(other)
	tok, _ := a.json(t)["token"].(string)
	if a.status != 200 || tok == "" {
		t.Fatalf("au10001 with the client key = %d %s", a.status, a.body)
	}
	h.sawToken(tok)
	if a := info(tok); a.status != 200 || a.json(t)["return_code"] != json.Number("0") {
		t.Errorf("ka10001 with the token handed out = %d %s", a.status, a.body)
	}
	for _, bad := range []string{"wrong-token", h.token("kis-mock").AccessToken} {
		if a := info(bad); a.status != http.StatusUnauthorized {
			t.Errorf("ka10001 with a wrong token = %d; want 401", a.status)
		}
	}

	// The WebSocket's LOGIN carries the token: a wrong one is closed with
	// nothing received, the one handed out logs in.
	login := func(tok string) (*wsConn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws://"+h.ep.Ports["kiwoom-mock"]+"/api/dostk/websocket", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		w := &wsConn{t: t, c: c}
		w.send(map[string]string{"trnm": "LOGIN", "token": tok})
		_, data, err := c.Read(ctx)
		if err == nil && !strings.Contains(string(data), `"return_code":0`) {
			err = errors.New("login refused")
		}
		return w, err
	}
	if _, err := login("placeholder"); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("LOGIN with a wrong token: %v; want closed with a policy violation", err)
	}
	if st := h.sim.WSStats(kauth.Kiwoom, kauth.Mock, kiwoomMock.AppKey); st.Opened != 0 {
		t.Errorf("upstream sessions after a refused LOGIN = %d; want 0", st.Opened)
	}
	if _, err := login(tok); err != nil {
		t.Errorf("LOGIN with the token handed out: %v", err)
	}

	// The broker drops the token: the next call still succeeds (the agent
	// renews and retries), and from then on the old token opens nothing;
	// issuing again with the client key gets the new one.
	h.sim.InvalidateToken(tok)
	if a := info(tok); a.status != 200 {
		t.Fatalf("ka10001 as the broker drops the token = %d %s", a.status, a.body)
	}
	if a := info(tok); a.status != http.StatusUnauthorized {
		t.Errorf("ka10001 with the token the agent has replaced = %d; want 401", a.status)
	}
	a = issue(other)
	fresh, _ := a.json(t)["token"].(string)
	h.sawToken(fresh)
	if fresh == "" || fresh == tok {
		t.Fatal("au10001 after the renewal did not hand out the new token")
	}
	if a := info(fresh); a.status != 200 {
		t.Errorf("ka10001 with the new token = %d %s", a.status, a.body)
	}
}

func TestPortConfig(t *testing.T) {
	base := func() agent.Config {
		return agent.Config{Listen: agent.Listen{Socket: agent.SocketOff, TCP: "127.0.0.1:8700"}, Accounts: []agent.Account{
			{Name: "a", Broker: "kis", Env: "real", AppKey: agent.Secret{Value: "PSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, AppSecret: agent.Secret{Value: strings.Repeat("s", 180)}},
			{Name: "b", Broker: "kis", Env: "mock", AppKey: agent.Secret{Value: "PSbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}, AppSecret: agent.Secret{Value: strings.Repeat("t", 180)}},
		}}
	}
	for _, tc := range []struct {
		name, a, b, want string
	}{
		{"not loopback", "0.0.0.0:8701", "", `account a: facade_addr "0.0.0.0:8701" is not a loopback address`},
		{"a LAN address", "192.168.0.10:8701", "", "is not a loopback address"},
		{"a host name", "example.com:8701", "", "is not a loopback address"},
		{"no port", "127.0.0.1", "", "want a loopback HOST:PORT"},
		{"bad port", "127.0.0.1:99999", "", "the port must be a number"},
		{"one port, two accounts", "127.0.0.1:8701", "localhost:8701", "account b: facade_addr localhost:8701 is already account a's"},
		{"the agent's own port", "127.0.0.1:8700", "", "is already listen.tcp's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			cfg.Accounts[0].FacadeAddr, cfg.Accounts[1].FacadeAddr = tc.a, tc.b
			_, err := agent.New(cfg, agent.Options{Logger: discard()})
			var ce *agent.ConfigError
			if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v; want a ConfigError with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
	cfg, err := agent.ParseConfig([]byte("accounts:\n  - name: a\n    broker: kis\n    env: real\n    facade_addr: 127.0.0.1:8701\n"))
	if err != nil || cfg.Accounts[0].FacadeAddr != "127.0.0.1:8701" {
		t.Errorf("ParseConfig = %+v, %v; want facade_addr read", cfg.Accounts, err)
	}
}

// TestPortFormBodies: Toss's token call is form-encoded, its secret in
// client_secret (toss/token.go), and its API calls carry the token alone.
func TestPortFormBodies(t *testing.T) {
	botFile := filepath.Join(shortTempDir(t), "bot.key")
	h := newTossHarnessOpts(t, nil, func(c *agent.Config) {
		c.Accounts[0].FacadeAddr = "127.0.0.1:0"
		c.ClientKeys = []agent.ClientKey{{Name: "bot", File: botFile, Accounts: []string{"toss-real"}}}
	})
	b, err := os.ReadFile(botFile)
	if err != nil {
		t.Fatal(err)
	}
	bot := strings.TrimSpace(string(b))
	h.secrets = append(h.secrets, h.key, bot)
	addr := h.ep.Ports["toss-real"]
	form := [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}}
	issue := func(secret string) pyAnswer {
		return pyDo(t, addr, "POST", "http://"+addr+"/oauth2/token", form,
			url.Values{"grant_type": {"client_credentials"}, "client_id": {"placeholder"}, "client_secret": {secret}}.Encode())
	}
	prices := func(tok string) pyAnswer {
		return pyDo(t, addr, "GET", "http://"+addr+"/api/v1/prices?symbols=005930", [][2]string{{"Authorization", "Bearer " + tok}}, "")
	}
	for i, s := range []string{"", "placeholder", strings.Repeat("B", 43)} {
		if a := issue(s); a.status != http.StatusUnauthorized {
			t.Errorf("token with wrong client_secret #%d = %d; want 401", i, a.status)
		}
	}
	a := issue(bot)
	tok, _ := a.json(t)["access_token"].(string)
	if a.status != 200 || tok == "" {
		t.Fatalf("token with the client key = %d", a.status)
	}
	h.sawToken(tok)
	if a := prices(tok); a.status != 200 {
		t.Errorf("prices with the token handed out = %d %s", a.status, a.body)
	}
	if a := prices("wrong-token"); a.status != http.StatusUnauthorized {
		t.Errorf("prices with a wrong token = %d; want 401", a.status)
	}
}

// TestDaemonFacadePort: kauth serve's Daemon opens the ports of its config
// file before it starts any account, refuses a port in use with one line
// and nothing issued, and warns on a reload that changes facade_addr,
// which takes effect at the next start.
func TestDaemonFacadePort(t *testing.T) {
	dir := shortTempDir(t)
	sim := brokersim.New()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	app := brokersim.DemoKISMock
	env := map[string]string{"K": app.AppKey, "S": app.Secret}
	config := func(addr string) string {
		return writeFile(t, dir, "kauth.yaml", "listen:\n  socket: off\n  key_file: "+filepath.Join(dir, "agent.key")+
			"\nclient_keys:\n  - name: bot\n    file: bot.key\n    accounts: [kis-mock]\naccounts:\n  - name: kis-mock\n    broker: kis\n    env: mock\n"+
			"    appkey: {env: K}\n    appsecret: {env: S}\n    base_url: "+brokersim.BaseURL(srv.URL, kauth.KIS, kauth.Mock)+"\n    facade_addr: "+addr+"\n", 0o600)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	d := &agent.Daemon{ConfigFile: config(busy.Addr().String()), Options: agent.Options{Getenv: func(k string) string { return env[k] }, Logger: discard()}}
	err = d.Run(context.Background())
	var ce *agent.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), busy.Addr().String()+" is in use") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Run on a busy facade port = %v; want one line saying it is in use", err)
	}
	if n := sim.Stats().Issued; n != 0 {
		t.Errorf("the refused start issued %d tokens; want 0", n)
	}

	logs := new(testlog.Buffer)
	d = &agent.Daemon{ConfigFile: config("127.0.0.1:0"), Options: agent.Options{Getenv: func(k string) string { return env[k] }, Logger: logs.Logger()}}
	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()
	select {
	case <-d.Ready():
	case err := <-ran:
		t.Fatalf("Run: %v", err)
	}
	defer func() {
		d.Close()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	addr := d.Endpoints().Ports["kis-mock"]
	if addr == "" {
		t.Fatalf("Endpoints = %+v; want the port of kis-mock", d.Endpoints())
	}
	b, err := os.ReadFile(filepath.Join(dir, "bot.key"))
	if err != nil {
		t.Fatal(err)
	}
	bot := strings.TrimSpace(string(b))
	py := pykis{t: t, appkey: placeholderKey, secret: padded(bot)}
	if a := py.token("http://" + addr); a.status != 200 {
		t.Fatalf("tokenP on the daemon's port = %d", a.status)
	}
	if a := (pykis{t: t, appkey: placeholderKey, secret: "x"}).token("http://" + addr); a.status != http.StatusUnauthorized {
		t.Errorf("tokenP without the key = %d; want 401", a.status)
	}

	config("127.0.0.1:1")
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(logs.Warnings(), "\n"); !strings.Contains(w, "facade_addr settings changed") {
		t.Errorf("reload warnings = %q; want one about facade_addr", w)
	}
	if a := py.token("http://" + addr); a.status != 200 {
		t.Errorf("tokenP on the port after the reload = %d; want it served until the restart", a.status)
	}
	if strings.Contains(logs.String(), bot) {
		t.Error("the logs hold the client key")
	}
}

// TestPortPyKisPaperRealtime: python-kis in paper mode fetches its approval
// key from the paper domain but dials the real domain's WebSocket
// (pykis/client/websocket.py: KisWebsocketClient(self) is built with
// virtual False, so it dials WEBSOCKET_REAL_DOMAIN; its subscribe frames
// call websocket_approval_key with domain "real", which fetches with
// domain None, and PyKis.request takes None for "virtual" in paper mode).
// The approval key is one per app key, shared by every holder, so it
// cannot tell who fetched it: the real account's port refuses the paper
// account's key, whoever sends it. A paper bot points
// WEBSOCKET_REAL_DOMAIN at the paper port instead, where its key is
// served (as TestPortSpeaksAsPyKis does).
func TestPortPyKisPaperRealtime(t *testing.T) {
	h, bot, _, mockOnly := portHarness(t)
	virtual := "http://" + h.ep.Ports["kis-mock"]
	subscribe := func(secret, port string) error {
		a := (pykis{t: t, appkey: placeholderKey, secret: secret}).approval(virtual)
		key, _ := a.json(t)["approval_key"].(string)
		if a.status != 200 || key == "" {
			t.Fatalf("Approval on the paper port = %d", a.status)
		}
		h.sawToken(key)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws://"+h.ep.Ports[port]+"/tryitout", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		w := &wsConn{t: t, c: c}
		w.kisSubscribeWith(key, "005930")
		_, data, err := c.Read(ctx)
		if err == nil && !strings.Contains(string(data), "OPSP0000") {
			err = errors.New("subscribe refused")
		}
		return err
	}
	for _, key := range []string{mockOnly, bot} {
		if err := subscribe(padded(key), "kis-real"); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Errorf("the paper approval key on kis-real's port: %v; want closed with a policy violation", err)
		}
	}
	if st := h.sim.WSStats(kauth.KIS, kauth.Real, kisReal.AppKey); st.Opened != 0 {
		t.Errorf("real upstream sessions = %d; want 0", st.Opened)
	}
	if err := subscribe(padded(mockOnly), "kis-mock"); err != nil {
		t.Errorf("the paper approval key on the paper port: %v", err)
	}
}

// TestPortLSForm: LS's token call is form-encoded with appkey and
// appsecretkey (the gateway's published OAuth page; ls/ and the
// simulator's igw.go), and its calls carry the token alone.
func TestPortLSForm(t *testing.T) {
	const key, secret = "FAKE-TEST-LS-APPKEY-P-0000000000000", "FAKE-TEST-LS-SECRET-P-not-a-real-one"
	botFile := filepath.Join(shortTempDir(t), "bot.key")
	var simURL string
	h := newHarness(t, setup{
		sim:   func(s *brokersim.Server) { s.Register(ls.Broker, kauth.Mock, key, secret) },
		onSim: func(u string) { simURL = u },
		cfg: func(c *agent.Config) {
			c.Accounts = append(c.Accounts, agent.Account{Name: "ls-mock", Broker: ls.Broker, Env: kauth.Mock,
				AppKey: agent.Secret{Value: key}, AppSecret: agent.Secret{Value: secret},
				BaseURL: brokersim.BaseURL(simURL, ls.Broker, kauth.Mock), FacadeAddr: "127.0.0.1:0"})
			c.ClientKeys = []agent.ClientKey{{Name: "bot", File: botFile, Accounts: []string{"ls-mock"}}}
		},
	})
	b, err := os.ReadFile(botFile)
	if err != nil {
		t.Fatal(err)
	}
	bot := strings.TrimSpace(string(b))
	h.secrets = append(h.secrets, h.key, bot, key, secret)
	addr := h.ep.Ports["ls-mock"]
	form := [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}}
	issue := func(s string) pyAnswer {
		return pyDo(t, addr, "POST", "http://"+addr+"/oauth2/token", form,
			"grant_type=client_credentials&appkey="+placeholderKey+"&appsecretkey="+url.QueryEscape(s)+"&scope=oob")
	}
	quote := func(tok string) pyAnswer {
		return pyDo(t, addr, "POST", "http://"+addr+"/stock/market-data",
			[][2]string{{"Content-Type", "application/json; charset=utf-8"}, {"authorization", "Bearer " + tok},
				{"tr_cd", "t1102"}, {"tr_cont", "N"}, {"tr_cont_key", ""}}, `{"t1102InBlock":{"shcode":"005930"}}`)
	}
	for i, s := range []string{"", "x", strings.Repeat("D", 43)} {
		if a := issue(s); a.status != http.StatusUnauthorized {
			t.Errorf("token with wrong appsecretkey #%d = %d; want 401", i, a.status)
		}
	}
	a := issue(bot)
	tok, _ := a.json(t)["access_token"].(string)
	if a.status != 200 || tok == "" {
		t.Fatalf("token with the client key = %d", a.status)
	}
	h.sawToken(tok)
	if a := quote(tok); a.status != 200 {
		t.Errorf("t1102 with the token handed out = %d %s", a.status, a.body)
	}
	if a := quote("wrong-token"); a.status != http.StatusUnauthorized {
		t.Errorf("t1102 with a wrong token = %d; want 401", a.status)
	}
}

// TestPortWebSocketDoesNotHoldReload: a WebSocket open on a port lives as
// long as its bot, so it must not hold up a Reload that removes its
// account, which waits for the account's requests to drain.
func TestPortWebSocketDoesNotHoldReload(t *testing.T) {
	h, bot, _, _ := portHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+h.ep.Ports["kis-mock"]+"/tryitout", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	w := &wsConn{t: t, c: c}
	w.kisSubscribeWith(bot, "005930")
	w.wantControl("OPSP0000", "005930")

	cfg := h.cfg
	cfg.ShutdownTimeout = 3 * time.Second
	cfg.Accounts = nil
	for _, a := range h.cfg.Accounts {
		if a.Name != "kis-mock" {
			cfg.Accounts = append(cfg.Accounts, a)
		}
	}
	cfg.ClientKeys = nil
	for _, k := range h.cfg.ClientKeys {
		k.Accounts = slices.DeleteFunc(slices.Clone(k.Accounts), func(n string) bool { return n == "kis-mock" })
		if len(k.Accounts) > 0 {
			cfg.ClientKeys = append(cfg.ClientKeys, k)
		}
	}
	start := time.Now()
	if err := h.agent.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Reload took %v with a port's WebSocket open; want no wait for it", d)
	}
	for _, w := range h.logs.Warnings() {
		if strings.Contains(w, "requests still in flight") {
			t.Errorf("warning %q: the WebSocket held the account", w)
		}
	}
}
