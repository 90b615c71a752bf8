package brokersim_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// pyDumps writes a flat object as Python's json.dumps does by default
// (", " and ": " separators), which is what requests sends for json= and
// what kis_auth.py sends with data=json.dumps(p).
func pyDumps(kv ...string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteString(", ")
		}
		k, _ := json.Marshal(kv[i])
		v, _ := json.Marshal(kv[i+1])
		fmt.Fprintf(&b, "%s: %s", k, v)
	}
	b.WriteString("}")
	return b.String()
}

// postAs sends a POST with the header names exactly as given (the client
// writes a map key as it is).
func postAs(t *testing.T, url string, header map[string]string, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = []string{v}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("POST %s: not JSON: %.200s", url, raw)
	}
	return resp.StatusCode, m
}

// TestOfficialClientRequestForms replays the token, approval, hashkey and
// revoke requests as the brokers' own samples send them, at a root port,
// and the refusals a wrong secret meets in the same form.
func TestOfficialClientRequestForms(t *testing.T) {
	sim := brokersim.New()
	sim.KISIssueInterval = -1 // three forms of tokenP in a row
	kis := httptest.NewServer(sim.Handler(kauth.KIS, kauth.Mock))
	t.Cleanup(kis.Close)
	kw := httptest.NewServer(sim.Handler(kauth.Kiwoom, kauth.Mock))
	t.Cleanup(kw.Close)
	ka, kk := brokersim.DemoKISMock, brokersim.DemoKiwoomMock

	// koreainvestment/open-trading-api, examples_user/kis_auth.py:
	// _base_headers {"Content-Type": "application/json", "Accept":
	// "text/plain", "charset": "UTF-8", "User-Agent": …} and
	// requests.post(url, data=json.dumps(p), headers=…).
	kisAuthPy := map[string]string{"Content-Type": "application/json", "Accept": "text/plain", "charset": "UTF-8", "User-Agent": "Mozilla/5.0"}
	// The portal's layout: content-type application/json; charset=UTF-8
	// (and utf-8 in the /uapi pages), lowercase name.
	portal := map[string]string{"content-type": "application/json; charset=UTF-8"}
	portalLower := map[string]string{"content-type": "application/json; charset=utf-8"}

	var tok string
	for name, h := range map[string]map[string]string{"kis_auth.py": kisAuthPy, "portal": portal, "portal utf-8": portalLower} {
		status, m := postAs(t, kis.URL+"/oauth2/tokenP", h, pyDumps("grant_type", "client_credentials", "appkey", ka.AppKey, "appsecret", ka.Secret))
		got, _ := m["access_token"].(string)
		if status != 200 || got == "" || m["token_type"] != "Bearer" {
			t.Fatalf("tokenP as %s = %d %v", name, status, m)
		}
		if tok != "" && got != tok {
			t.Errorf("tokenP as %s handed out another token within 6 h", name)
		}
		tok = got
		status, m = postAs(t, kis.URL+"/oauth2/Approval", h, pyDumps("grant_type", "client_credentials", "appkey", ka.AppKey, "secretkey", ka.Secret))
		if k, _ := m["approval_key"].(string); status != 200 || k == "" {
			t.Errorf("Approval as %s = %d %v", name, status, m)
		}
	}
	// The official Postman collection (legacy/postman): content-type
	// application/json and a pretty-printed body with CRLF line ends.
	postman := "{\r\n    \"grant_type\": \"client_credentials\",\r\n    \"appkey\": \"" + ka.AppKey + "\",\r\n    \"appsecret\": \"" + ka.Secret + "\"\r\n}"
	if status, m := postAs(t, kis.URL+"/oauth2/tokenP", map[string]string{"content-type": "application/json"}, postman); status != 200 || m["access_token"] != tok {
		t.Errorf("tokenP as the Postman collection = %d %v", status, m)
	}
	// A wrong secret in the same form: EGW00105 (403, flat).
	if status, m := postAs(t, kis.URL+"/oauth2/tokenP", kisAuthPy, pyDumps("grant_type", "client_credentials", "appkey", ka.AppKey, "appsecret", "wrong")); status != 403 || m["error_code"] != "EGW00105" {
		t.Errorf("tokenP with a wrong secret = %d %v; want 403 EGW00105", status, m)
	}
	// set_order_hash_key(h, p): the call's headers (base headers with
	// authorization, appkey, appsecret, then tr_id, custtype, tr_cont) and
	// the order as json.dumps.
	hh := map[string]string{"authorization": "Bearer " + tok, "appkey": ka.AppKey, "appsecret": ka.Secret, "tr_id": "VTTC0802U", "custtype": "P", "tr_cont": ""}
	for k, v := range kisAuthPy {
		hh[k] = v
	}
	order := pyDumps("CANO", "00000000", "ACNT_PRDT_CD", "01", "PDNO", "005930", "ORD_DVSN", "00", "ORD_QTY", "1", "ORD_UNPR", "71000")
	if status, m := postAs(t, kis.URL+"/uapi/hashkey", hh, order); status != 200 || m["HASH"] == nil || m["HASH"] == "" {
		t.Errorf("hashkey as kis_auth.py = %d %v", status, m)
	}
	hh["appsecret"] = "wrong"
	if status, m := postAs(t, kis.URL+"/uapi/hashkey", hh, order); status == 200 && m["HASH"] != nil {
		t.Errorf("hashkey with a wrong secret = %d %v; want a refusal", status, m)
	}
	// python-kis token_revoke: json= {"token", "appkey", "appsecret"}.
	if status, m := postAs(t, kis.URL+"/oauth2/revokeP", map[string]string{"Content-Type": "application/json"},
		pyDumps("token", tok, "appkey", ka.AppKey, "appsecret", ka.Secret)); status != 200 || fmt.Sprint(m["code"]) != "200" {
		t.Errorf("revokeP as python-kis = %d %v", status, m)
	}

	// Kiwoom-Securities/Kiwoom-REST-API, kiwoom/core/auth.py:
	// requests.post(…, json=payload, headers={"Content-Type":
	// "application/json;charset=UTF-8"}), no api-id header.
	sdk := map[string]string{"Content-Type": "application/json;charset=UTF-8"}
	status, m := postAs(t, kw.URL+"/oauth2/token", sdk, pyDumps("grant_type", "client_credentials", "appkey", kk.AppKey, "secretkey", kk.Secret))
	ktok, _ := m["token"].(string)
	if status != 200 || ktok == "" || fmt.Sprint(m["return_code"]) != "0" {
		t.Fatalf("au10001 as the SDK = %d %v", status, m)
	}
	if status, m := postAs(t, kw.URL+"/oauth2/token", sdk, pyDumps("grant_type", "client_credentials", "appkey", kk.AppKey, "secretkey", "wrong")); m["token"] != nil || fmt.Sprint(m["return_code"]) == "0" {
		t.Errorf("au10001 with a wrong secret = %d %v; want a non-zero return_code", status, m)
	}
	if status, m := postAs(t, kw.URL+"/oauth2/revoke", sdk, pyDumps("appkey", kk.AppKey, "secretkey", kk.Secret, "token", ktok)); status != 200 || fmt.Sprint(m["return_code"]) != "0" {
		t.Errorf("au10002 as the SDK = %d %v", status, m)
	}
}

// TestApprovalAsPykisPaperAsks replays the approval-key request of
// python-kis in paper mode. Its WebSocket client is built with virtual
// false (KisWebsocketClient(self) in pykis/kis.py), so its subscribe
// messages ask websocket_approval_key for domain "real", which takes the
// real app's key and secret (pykis/api/auth/websocket.py); PyKis.fetch, given
// no domain, sends it to the paper domain. KIS keeps real and mock apps
// apart, so with two apps the paper domain refuses the real one (EGW00103);
// an app registered in both environments, as kauth sim does with
// KIS_APPKEY/KIS_APPSECRET, gets its key.
func TestApprovalAsPykisPaperAsks(t *testing.T) {
	sim := brokersim.New()
	paper := httptest.NewServer(sim.Handler(kauth.KIS, kauth.Mock))
	t.Cleanup(paper.Close)
	// requests.post(url, headers=…, json=body): json.dumps with its default
	// separators, in the order websocket_approval_key builds the body.
	pykisHeader := map[string]string{"User-Agent": "PyKis/24+dev", "Content-Type": "application/json"}
	ask := func(a brokersim.App) (int, map[string]any) {
		return postAs(t, paper.URL+"/oauth2/Approval", pykisHeader,
			pyDumps("grant_type", "client_credentials", "appkey", a.AppKey, "secretkey", a.Secret))
	}

	if status, m := ask(brokersim.DemoKISReal); status != 403 || m["error_code"] != "EGW00103" {
		t.Errorf("the real demo app's Approval on the paper domain = %d %v; want 403 EGW00103", status, m)
	}
	if st := sim.Stats().App(kauth.KIS, kauth.Mock, brokersim.DemoKISReal.AppKey); st.Approvals != 0 {
		t.Errorf("a refused Approval counted %d approvals", st.Approvals)
	}
	if status, m := ask(brokersim.DemoKISMock); status != 200 || m["approval_key"] == nil {
		t.Errorf("the paper demo app's Approval = %d %v; want an approval_key", status, m)
	}

	both := brokersim.App{Broker: kauth.KIS, Env: kauth.Real, AppKey: "PSBOTHENVSAPPKEY0123456789abcdefghij", Secret: strings.Repeat("B", 180)}
	for _, e := range []kauth.Env{kauth.Real, kauth.Mock} {
		sim.Register(kauth.KIS, e, both.AppKey, both.Secret)
	}
	if status, m := ask(both); status != 200 || m["approval_key"] == nil {
		t.Errorf("an app of both environments on the paper domain = %d %v; want an approval_key", status, m)
	}
}
