package agent_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
)

// These tests speak to the facade as the official clients speak to the
// brokers. What the clients send and expect was read from their code:
//
//   - KIS's sample, koreainvestment/open-trading-api examples_user/
//     kis_auth.py: every URL is f"{my_url}{api_url}"; the token call posts
//     json.dumps({"grant_type","appkey","appsecret"}) with headers
//     Content-Type: application/json, Accept: text/plain, charset: UTF-8,
//     User-Agent, and reads access_token and access_token_token_expired
//     (strptime "%Y-%m-%d %H:%M:%S"); calls send authorization, appkey,
//     appsecret, tr_id, custtype and tr_cont; APIResp keeps the response
//     header names for which str.islower() holds as namedtuple fields (so
//     each must be an identifier) and reads the body's msg_cd and msg1;
//     paging reads getHeader().tr_cont (F/M: more) and sends tr_cont "N"
//     with CTX_AREA_FK100/NK100; hashkey posts the order body to
//     /uapi/hashkey and reads HASH; auth_ws posts {"grant_type","appkey",
//     "secretkey"} to /oauth2/Approval and reads approval_key.
//   - Kiwoom's SDK, Kiwoom-Securities/Kiwoom-REST-API kiwoom/core/auth.py
//     and client.py: f"{base_url}{path}"; the token call posts
//     {"grant_type","appkey","secretkey"} with Content-Type
//     application/json;charset=UTF-8 and reads token, token_type,
//     expires_dt ("%Y%m%d%H%M%S", KST) and a return_code that must be 0 or
//     absent; calls send Content-Type, api-id and authorization, page with
//     request headers cont-yn/next-key and read the answer's cont-yn and
//     next-key; the revoke posts {"appkey","secretkey","token"} and needs
//     return_code present and 0; 401, or return_code 8005/8031/8103, makes
//     it re-issue.

// pyAnswer is an answer as Python's requests sees it: header names as on
// the wire (requests keeps their case in keys()).
type pyAnswer struct {
	status int
	names  []string // header names in wire order and spelling
	header http.Header
	body   []byte
}

// pyDo sends one request the way requests does, over a new connection,
// and reads the answer off the wire.
func pyDo(t *testing.T, addr, method, rawURL string, hdr [][2]string, body string) pyAnswer {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	var req bytes.Buffer
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n", method, u.RequestURI(), u.Host)
	for _, h := range hdr {
		fmt.Fprintf(&req, "%s: %s\r\n", h[0], h[1])
	}
	fmt.Fprintf(&req, "Content-Length: %d\r\n\r\n%s", len(body), body)
	if _, err := conn.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for {
		var block bytes.Buffer
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("%s %s: reading the answer: %v", method, u.Path, err)
			}
			block.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		if bytes.HasPrefix(block.Bytes(), []byte("HTTP/1.1 1")) {
			continue
		}
		var names []string
		for _, l := range strings.Split(block.String(), "\r\n")[1:] {
			if n, _, ok := strings.Cut(l, ":"); ok {
				names = append(names, n)
			}
		}
		resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(&block, br)), nil)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return pyAnswer{resp.StatusCode, names, resp.Header, data}
	}
}

// raw returns the value of the header spelt exactly name, as Python's
// namedtuple of kis_auth.py would hold it, and whether there is one.
func (a pyAnswer) raw(name string) (string, bool) {
	for _, n := range a.names {
		if n == name {
			return a.header.Get(n), true
		}
	}
	return "", false
}

func (a pyAnswer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(a.body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v: %s", a.status, err, a.body)
	}
	return m
}

var pyIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// kisSampleHeader is what kis_auth.py's APIResp._setHeader does: keep the
// lowercase names, which must be identifiers for its namedtuple.
func kisSampleHeader(t *testing.T, a pyAnswer) map[string]string {
	t.Helper()
	fields := map[string]string{}
	for _, n := range a.names {
		if strings.ToLower(n) == n && strings.ToUpper(n) != n { // str.islower()
			if !pyIdentifier.MatchString(n) {
				t.Fatalf("kis_auth.py's namedtuple would fail on the header %q (names %v)", n, a.names)
			}
			fields[n] = a.header.Get(n)
		}
	}
	return fields
}

// kisSampleBody checks what APIResp reads of every body: msg_cd and msg1
// (and, for an answer it takes as OK, rt_cd "0").
func kisSampleBody(t *testing.T, a pyAnswer) map[string]any {
	t.Helper()
	m := a.json(t)
	for _, k := range []string{"rt_cd", "msg_cd", "msg1"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("KIS body without %s: %s", k, a.body)
		}
	}
	return m
}

func (h *harness) facadeURL(account string) string {
	return "http://" + h.ep.TCP + "/broker/" + h.key + "/" + account
}

// kisBase are kis_auth.py's _base_headers.
func kisBase() [][2]string {
	return [][2]string{{"Content-Type", "application/json"}, {"Accept", "text/plain"}, {"charset", "UTF-8"},
		{"User-Agent", "Mozilla/5.0"}}
}

func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Placeholders a bot may hold instead of the real credentials.
const (
	placeholderKey    = "PSplaceholderAppKeyForKauthFacade000"
	placeholderSecret = "placeholder-secret"
)

// kisSampleToken does what kis_auth.py auth() does.
func kisSampleToken(t *testing.T, h *harness, base string) (string, time.Time) {
	t.Helper()
	a := pyDo(t, h.ep.TCP, "POST", base+"/oauth2/tokenP", kisBase(),
		jsonBody(t, map[string]string{"grant_type": "client_credentials", "appkey": placeholderKey, "appsecret": placeholderSecret}))
	if a.status != 200 {
		t.Fatalf("tokenP = %d %s", a.status, a.body)
	}
	m := a.json(t)
	tok, _ := m["access_token"].(string)
	exp, _ := m["access_token_token_expired"].(string)
	expires, err := time.ParseInLocation("2006-01-02 15:04:05", exp, kauth.KST)
	if tok == "" || err != nil {
		t.Fatalf("tokenP answer unusable by kis_auth.py: %s", a.body)
	}
	if m["token_type"] != "Bearer" {
		t.Errorf("token_type = %v", m["token_type"])
	}
	if n, err := m["expires_in"].(json.Number).Int64(); err != nil || n <= 0 || n > 86400 {
		t.Errorf("expires_in = %v", m["expires_in"])
	}
	h.sawToken(tok)
	return tok, expires
}

// kisSampleCall is kis_auth.py's _url_fetch.
func kisSampleCall(t *testing.T, h *harness, method, u, tok, trID, trCont, body string) pyAnswer {
	t.Helper()
	hdr := append(kisBase(), [2]string{"authorization", "Bearer " + tok}, [2]string{"appkey", placeholderKey},
		[2]string{"appsecret", placeholderSecret}, [2]string{"tr_id", trID}, [2]string{"custtype", "P"}, [2]string{"tr_cont", trCont})
	return pyDo(t, h.ep.TCP, method, u, hdr, body)
}

func TestFacadeSpeaksAsKISSample(t *testing.T) {
	h := newHarness(t, setup{})
	h.secrets = append(h.secrets, h.key)
	base := h.facadeURL("kis-mock")

	// Issue: the managed token, not a new one.
	tok, expires := kisSampleToken(t, h, base)
	if managed := h.token("kis-mock"); managed.AccessToken != tok {
		t.Errorf("the facade's token is not the managed one")
	}
	if d := time.Until(expires); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("access_token_token_expired %v is not a day away", expires)
	}

	// Quote.
	a := kisSampleCall(t, h, "GET", base+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930",
		tok, "FHKST01010100", "", "")
	hdr := kisSampleHeader(t, a)
	if m := kisSampleBody(t, a); a.status != 200 || m["rt_cd"] != "0" {
		t.Fatalf("inquire-price = %d %s", a.status, a.body)
	}
	if hdr["tr_id"] != "FHKST01010100" || hdr["tr_cont"] == "" || hdr["gt_uid"] == "" {
		t.Errorf("getHeader() = %v; want tr_id, tr_cont and gt_uid (names %v)", hdr, a.names)
	}

	// Paging: the inquire-balance loop of the sample.
	var fk, nk, trCont string
	rows := 0
	pages := 0
	for {
		q := url.Values{"CANO": {"50000000"}, "ACNT_PRDT_CD": {"01"}, "AFHR_FLPR_YN": {"N"}, "OFL_YN": {""},
			"INQR_DVSN": {"02"}, "UNPR_DVSN": {"01"}, "FUND_STTL_ICLD_YN": {"N"}, "FNCG_AMT_AUTO_RDPT_YN": {"N"},
			"PRCS_DVSN": {"00"}, "CTX_AREA_FK100": {fk}, "CTX_AREA_NK100": {nk}}
		a := kisSampleCall(t, h, "GET", base+"/uapi/domestic-stock/v1/trading/inquire-balance?"+q.Encode(), tok, "VTTC8434R", trCont, "")
		m := kisSampleBody(t, a)
		if a.status != 200 || m["rt_cd"] != "0" {
			t.Fatalf("inquire-balance page %d = %d %s", pages+1, a.status, a.body)
		}
		pages++
		out, _ := m["output1"].([]any)
		rows += len(out)
		got := kisSampleHeader(t, a)["tr_cont"]
		if got != "F" && got != "M" {
			break
		}
		if pages > 20 {
			t.Fatal("paging does not end")
		}
		fk, _ = m["ctx_area_fk100"].(string)
		nk, _ = m["ctx_area_nk100"].(string)
		trCont = "N"
	}
	if pages < 2 || rows != brokersim.PortfolioSize {
		t.Errorf("paged %d rows in %d pages; want %d in several", rows, pages, brokersim.PortfolioSize)
	}

	// Hashkey.
	order := `{"CANO":"50000000","ACNT_PRDT_CD":"01","PDNO":"005930","ORD_DVSN":"00","ORD_QTY":"1","ORD_UNPR":"70000"}`
	a = kisSampleCall(t, h, "POST", base+"/uapi/hashkey", tok, "", "", order)
	if m := a.json(t); a.status != 200 || m["HASH"] == nil || m["HASH"] == "" {
		t.Errorf("hashkey = %d %s", a.status, a.body)
	}

	// Approval key (kis_auth.py auth_ws): the managed one, so that three
	// bots asking cost one approval at KIS.
	var approval string
	for i := range 3 {
		a = pyDo(t, h.ep.TCP, "POST", base+"/oauth2/Approval", kisBase(),
			jsonBody(t, map[string]string{"grant_type": "client_credentials", "appkey": placeholderKey, "secretkey": placeholderSecret}))
		m := a.json(t)
		key, _ := m["approval_key"].(string)
		if a.status != 200 || key == "" || (i > 0 && key != approval) {
			t.Fatalf("Approval %d = %d %s", i, a.status, a.body)
		}
		approval = key
		h.sawToken(key)
	}
	if n := h.sim.Stats().Approvals; n != 1 {
		t.Errorf("three approvals cost %d at the broker, want 1", n)
	}
	var managed agent.ApprovalResponse
	h.viaUnix("GET", "/v1/accounts/kis-mock/approval", nil, nil).json(t, &managed)
	if managed.ApprovalKey != approval {
		t.Errorf("the facade's approval key is not the managed one")
	}

	// Revoke: the broker's success shape, and the shared token lives on.
	a = pyDo(t, h.ep.TCP, "POST", base+"/oauth2/revokeP", kisBase(),
		jsonBody(t, map[string]string{"appkey": placeholderKey, "appsecret": placeholderSecret, "token": tok}))
	if m := a.json(t); a.status != 200 || m["code"] != json.Number("200") {
		t.Errorf("revokeP = %d %s", a.status, a.body)
	}
	if n := h.sim.Stats().Revoked; n != 0 {
		t.Errorf("the broker saw %d revokes; the facade must keep the shared token", n)
	}
	a = kisSampleCall(t, h, "GET", base+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930",
		tok, "FHKST01010100", "", "")
	if m := kisSampleBody(t, a); m["rt_cd"] != "0" {
		t.Errorf("after the revoke: %s", a.body)
	}
	if n := h.sim.Issued(kauth.KIS, kauth.Mock, kisMock.AppKey); n != 1 {
		t.Errorf("%d issuances; want the keeper's one", n)
	}
}

// kiwoomSDKToken does what the SDK's refresh_access_token does.
func kiwoomSDKToken(t *testing.T, h *harness, base string) string {
	t.Helper()
	a := pyDo(t, h.ep.TCP, "POST", base+"/oauth2/token", [][2]string{{"Content-Type", "application/json;charset=UTF-8"}},
		jsonBody(t, map[string]string{"grant_type": "client_credentials", "appkey": placeholderKey, "secretkey": placeholderSecret}))
	m := a.json(t)
	if a.status != 200 || m["return_code"] != json.Number("0") {
		t.Fatalf("token = %d %s", a.status, a.body)
	}
	tok, _ := m["token"].(string)
	exp, _ := m["expires_dt"].(string)
	if _, err := time.ParseInLocation("20060102150405", exp, kauth.KST); err != nil || tok == "" {
		t.Fatalf("token answer unusable by the SDK: %s", a.body)
	}
	if tt, _ := m["token_type"].(string); strings.ToLower(tt) != "bearer" {
		t.Errorf("token_type = %q", tt)
	}
	h.sawToken(tok)
	return tok
}

func kiwoomSDKCall(t *testing.T, h *harness, u, tok, apiID, contYN, nextKey, body string) pyAnswer {
	t.Helper()
	hdr := [][2]string{{"Content-Type", "application/json;charset=UTF-8"}, {"api-id", apiID}, {"authorization", "Bearer " + tok}}
	if contYN != "" {
		hdr = append(hdr, [2]string{"cont-yn", contYN}, [2]string{"next-key", nextKey})
	}
	return pyDo(t, h.ep.TCP, "POST", u, hdr, body)
}

func TestFacadeSpeaksAsKiwoomSDK(t *testing.T) {
	h := newHarness(t, setup{})
	h.secrets = append(h.secrets, h.key)
	base := h.facadeURL("kiwoom-mock")

	tok := kiwoomSDKToken(t, h, base)
	if managed := h.token("kiwoom-mock"); managed.AccessToken != tok {
		t.Errorf("the facade's token is not the managed one")
	}

	a := kiwoomSDKCall(t, h, base+"/api/dostk/stkinfo", tok, "ka10001", "", "", `{"stk_cd":"005930"}`)
	if m := a.json(t); a.status != 200 || m["return_code"] != json.Number("0") {
		t.Fatalf("ka10001 = %d %s", a.status, a.body)
	}
	for _, n := range []string{"api-id", "cont-yn", "next-key"} {
		if _, ok := a.raw(n); !ok {
			t.Errorf("answer lacks %s as Kiwoom spells it (names %v)", n, a.names)
		}
	}

	// Paging as the SDK's kt00018 example: until cont-yn is not Y.
	var contYN, nextKey string
	pages, rows := 0, 0
	for {
		a := kiwoomSDKCall(t, h, base+"/api/dostk/acnt", tok, "kt00018", contYN, nextKey, `{"qry_tp":"1","dmst_stex_tp":"KRX"}`)
		m := a.json(t)
		if a.status != 200 || m["return_code"] != json.Number("0") {
			t.Fatalf("kt00018 page %d = %d %s", pages+1, a.status, a.body)
		}
		pages++
		out, _ := m["acnt_evlt_remn_indv_tot"].([]any)
		rows += len(out)
		contYN, _ = a.raw("cont-yn")
		nextKey, _ = a.raw("next-key")
		if contYN != "Y" {
			break
		}
		if pages > 20 {
			t.Fatal("paging does not end")
		}
	}
	if pages < 2 || rows != brokersim.PortfolioSize {
		t.Errorf("paged %d rows in %d pages; want %d in several", rows, pages, brokersim.PortfolioSize)
	}

	// Revoke on exit, as Kiwoom's guide says: answered, not done.
	a = pyDo(t, h.ep.TCP, "POST", base+"/oauth2/revoke", [][2]string{{"Content-Type", "application/json;charset=UTF-8"}},
		jsonBody(t, map[string]string{"appkey": placeholderKey, "secretkey": placeholderSecret, "token": tok}))
	if m := a.json(t); a.status != 200 || m["return_code"] != json.Number("0") {
		t.Errorf("revoke = %d %s", a.status, a.body)
	}
	if n := h.sim.Stats().Revoked; n != 0 {
		t.Errorf("the broker saw %d revokes", n)
	}
	a = kiwoomSDKCall(t, h, base+"/api/dostk/stkinfo", tok, "ka10001", "", "", `{"stk_cd":"005930"}`)
	if m := a.json(t); m["return_code"] != json.Number("0") {
		t.Errorf("after the revoke: %s", a.body)
	}
}

// TestFacadeTenBotsOneIssuance: ten bots starting at once against an
// expired token cost one issuance, and all hold the same token.
func TestFacadeTenBotsOneIssuance(t *testing.T) {
	clock := newFakeClock(time.Now())
	h := newHarness(t, setup{clock: clock})
	base := h.facadeURL("kis-mock")
	before := h.sim.Issued(kauth.KIS, kauth.Mock, kisMock.AppKey)
	clock.Advance(25 * time.Hour) // every token has expired

	var wg sync.WaitGroup
	toks := make([]string, 10)
	for i := range toks {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", base+"/oauth2/tokenP",
				strings.NewReader(`{"grant_type":"client_credentials","appkey":"x","appsecret":"y"}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := h.tcp.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var m struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
				t.Errorf("bot %d: %d %v", i, resp.StatusCode, err)
			}
			toks[i] = m.AccessToken
		})
	}
	wg.Wait()
	for i, tok := range toks {
		h.sawToken(tok)
		if tok == "" || tok != toks[0] {
			t.Fatalf("bot %d holds another token than bot 0", i)
		}
	}
	if n := h.sim.Issued(kauth.KIS, kauth.Mock, kisMock.AppKey) - before; n != 1 {
		t.Errorf("ten bots cost %d issuances, want 1", n)
	}
}

// TestFacadeRevokePass: with revoke: pass the facade revokes at the
// broker; a reload switches an account between answer and pass.
func TestFacadeRevokePass(t *testing.T) {
	h := newHarness(t, setup{})
	base := h.facadeURL("kiwoom-mock")
	revoke := func(tok string) {
		t.Helper()
		a := pyDo(t, h.ep.TCP, "POST", base+"/oauth2/revoke", [][2]string{{"Content-Type", "application/json;charset=UTF-8"}},
			jsonBody(t, map[string]string{"appkey": placeholderKey, "secretkey": placeholderSecret, "token": tok}))
		if m := a.json(t); a.status != 200 || m["return_code"] != json.Number("0") {
			t.Fatalf("revoke = %d %s", a.status, a.body)
		}
	}
	revoke(kiwoomSDKToken(t, h, base))
	if n := h.sim.Stats().Revoked; n != 0 {
		t.Fatalf("revoke: answer let %d revokes through", n)
	}

	cfg := h.cfg
	cfg.Accounts = append([]agent.Account(nil), cfg.Accounts...)
	for i := range cfg.Accounts {
		cfg.Accounts[i].Revoke = "pass"
	}
	if err := h.agent.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	revoke(kiwoomSDKToken(t, h, base))
	if n := h.sim.Stats().Revoked; n != 1 {
		t.Errorf("the broker saw %d revokes, want 1", n)
	}
	if _, _, ok := h.sim.CurrentToken(kauth.Kiwoom, kauth.Mock, kiwoomMock.AppKey); ok {
		t.Errorf("the broker still holds a valid token")
	}
}

func TestFacadeRevokeConfig(t *testing.T) {
	cfg, err := agent.ParseConfig([]byte("accounts:\n  - name: a\n    broker: kis\n    env: mock\n    revoke: sometimes\n    appkey: {env: K}\n    appsecret: {env: S}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = agent.New(cfg, agent.Options{Getenv: func(k string) string {
		return map[string]string{"K": kisMock.AppKey, "S": kisMock.Secret}[k]
	}, Logger: discard()})
	if err == nil || !strings.Contains(err.Error(), `revoke "sometimes": want answer or pass`) {
		t.Errorf("New = %v", err)
	}
}

// TestFacadeRefusesAnotherAccountsCredentials: a bot holding kis-real's
// real app key but pointed at kis-mock's URL, or a Kiwoom bot sending
// another account's token, is refused in the broker's shape, naming no
// secret.
func TestFacadeRefusesAnotherAccountsCredentials(t *testing.T) {
	h := newHarness(t, setup{})
	h.secrets = append(h.secrets, h.key)
	base := h.facadeURL("kis-mock")
	check := func(what string, a pyAnswer, codeKey string) {
		t.Helper()
		if a.status != http.StatusForbidden {
			t.Errorf("%s = %d %s; want 403", what, a.status, a.body)
		}
		m := a.json(t)
		if c, _ := m[codeKey].(string); codeKey != "return_msg" && c != "foreign_credentials" {
			t.Errorf("%s: %s = %v", what, codeKey, m[codeKey])
		}
		for _, s := range append(h.secrets, h.token("kis-real").AccessToken, h.token("kis-mock").AccessToken) {
			if bytes.Contains(a.body, []byte(s)) {
				t.Errorf("%s: the answer holds a secret", what)
			}
		}
	}
	a := pyDo(t, h.ep.TCP, "POST", base+"/oauth2/tokenP", kisBase(),
		jsonBody(t, map[string]string{"grant_type": "client_credentials", "appkey": kisReal.AppKey, "appsecret": kisReal.Secret}))
	check("tokenP with kis-real's appkey", a, "error_code")

	hdr := append(kisBase(), [2]string{"authorization", "Bearer x"}, [2]string{"appkey", kisReal.AppKey},
		[2]string{"appsecret", kisReal.Secret}, [2]string{"tr_id", "FHKST01010100"}, [2]string{"custtype", "P"})
	a = pyDo(t, h.ep.TCP, "GET", base+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", hdr, "")
	check("inquire-price with kis-real's appkey", a, "msg_cd")
	kisSampleBody(t, a) // the sample's error path reads msg_cd and msg1

	a = kiwoomSDKCall(t, h, h.facadeURL("kiwoom-mock")+"/api/dostk/stkinfo", h.token("kis-mock").AccessToken, "ka10001", "", "", `{"stk_cd":"005930"}`)
	check("ka10001 with kis-mock's token", a, "return_msg")
	if m := a.json(t); m["return_code"] == json.Number("0") || m["return_code"] == nil {
		t.Errorf("return_code = %v", m["return_code"])
	}

	// The account's own real key is fine, and so is a placeholder.
	a = pyDo(t, h.ep.TCP, "POST", base+"/oauth2/tokenP", kisBase(),
		jsonBody(t, map[string]string{"grant_type": "client_credentials", "appkey": kisMock.AppKey, "appsecret": kisMock.Secret}))
	if a.status != 200 {
		t.Errorf("tokenP with the account's own appkey = %d %s", a.status, a.body)
	}
}

func TestFacadeKeyAndRoutes(t *testing.T) {
	h := newHarness(t, setup{})
	h.secrets = append(h.secrets, h.key)
	body := `{"grant_type":"client_credentials","appkey":"x","appsecret":"y"}`
	for _, c := range []struct {
		name, method, url string
		status            int
	}{
		{"wrong key", "POST", "http://" + h.ep.TCP + "/broker/not-the-key/kis-mock/oauth2/tokenP", 401},
		{"no key", "POST", "http://" + h.ep.TCP + "/broker/", 401},
		{"unknown account", "POST", h.facadeURL("nobody") + "/oauth2/tokenP", 404},
		{"outside the API", "GET", h.facadeURL("kis-mock") + "/etc/passwd", 404},
		{"Kiwoom path on KIS", "POST", h.facadeURL("kis-mock") + "/oauth2/token", 404},
		{"GET the token", "GET", h.facadeURL("kis-mock") + "/oauth2/tokenP", 405},
	} {
		a := pyDo(t, h.ep.TCP, c.method, c.url, kisBase(), body)
		if a.status != c.status {
			t.Errorf("%s: %d %s; want %d", c.name, a.status, a.body, c.status)
		}
		if bytes.Contains(a.body, []byte(h.key)) {
			t.Errorf("%s: the answer holds the agent key", c.name)
		}
	}
	// What a normalizing gateway could turn into another endpoint is
	// refused, as on /proxy.
	for _, p := range []string{"/uapi/%2e%2e/oauth2/tokenP", "/uapi/../oauth2/revokeP", "/uapi//x", "/uapi/x;y",
		"/oauth2/tokenP/", "/oauth2/%74okenP", "/uapi/..%2f_sim/stats"} {
		a := pyDo(t, h.ep.TCP, "POST", h.facadeURL("kis-mock")+p, kisBase(), body)
		if a.status != 400 && a.status != 404 {
			t.Errorf("%s: %d %s; want 400 or 404", p, a.status, a.body)
		}
		kisSampleBody(t, a) // in KIS's shape
	}
	if n := h.sim.Stats().Revoked; n != 0 {
		t.Errorf("%d revokes reached the broker", n)
	}
	// Through the socket, too, the facade wants its key.
	r := h.viaUnix("POST", "/broker/wrong/kis-mock/oauth2/tokenP", strings.NewReader(body), nil)
	if r.status != 401 {
		t.Errorf("socket, wrong key: %d %s", r.status, r.body)
	}
	r = h.viaUnix("POST", "/broker/"+h.key+"/kis-mock/oauth2/tokenP", strings.NewReader(body), nil)
	if r.status != 200 {
		t.Errorf("socket: %d %s", r.status, r.body)
	}
	// The failure of a proxied facade call is logged without the key.
	h.sim.Inject(brokersim.Fault{Kind: brokersim.Reset, Path: "/uapi/domestic-stock/v1/quotations/inquire-price", Count: 2})
	a := kisSampleCall(t, h, "GET", h.facadeURL("kis-mock")+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930",
		"x", "FHKST01010100", "", "")
	if a.status/100 != 5 {
		t.Errorf("through a reset: %d %s", a.status, a.body)
	}
	kisSampleBody(t, a)
}

// TestFacadeClientKey: a client key in the facade URL opens its accounts
// only, over TCP and through the socket alike, and a facade URL with it
// never reaches another account.
func TestFacadeClientKey(t *testing.T) {
	dir := shortTempDir(t)
	botFile := filepath.Join(dir, "bot.key")
	h := newHarness(t, setup{cfg: func(c *agent.Config) {
		c.ClientKeys = []agent.ClientKey{{Name: "bot", File: botFile, Accounts: []string{"kis-mock"}}}
	}})
	b, err := os.ReadFile(botFile)
	if err != nil {
		t.Fatal(err)
	}
	bot := strings.TrimSpace(string(b))
	h.secrets = append(h.secrets, h.key, bot)
	body := jsonBody(t, map[string]string{"grant_type": "client_credentials", "appkey": placeholderKey, "appsecret": placeholderSecret})
	facade := func(acct string) string { return "http://" + h.ep.TCP + "/broker/" + bot + "/" + acct }

	if a := pyDo(t, h.ep.TCP, "POST", facade("kis-mock")+"/oauth2/tokenP", kisBase(), body); a.status != 200 {
		t.Errorf("its own account: %d %s", a.status, a.body)
	}
	for _, acct := range []string{"kis-real", "kiwoom-mock", "no-such-account"} {
		a := pyDo(t, h.ep.TCP, "POST", facade(acct)+"/oauth2/tokenP", kisBase(), body)
		if a.status != http.StatusForbidden {
			t.Errorf("%s over TCP: %d %s; want 403", acct, a.status, a.body)
		}
		r := h.viaUnix("POST", "/broker/"+bot+"/"+acct+"/oauth2/tokenP", strings.NewReader(body), nil)
		if r.status != http.StatusForbidden {
			t.Errorf("%s through the socket: %d %s; want 403", acct, r.status, r.body)
		}
	}
}
