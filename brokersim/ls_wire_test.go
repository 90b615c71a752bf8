package brokersim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// lsPost posts to the LS root: the query string and the body as given.
func lsPost(t *testing.T, ts *httptest.Server, path string, query url.Values, contentType, body string, header map[string]string) (int, map[string]any) {
	t.Helper()
	u := ts.URL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
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
		t.Fatalf("%s: not JSON: %s", path, raw)
	}
	return resp.StatusCode, m
}

// TestLSCredentialsInTheQueryString: LS's gateway takes the token and
// revoke parameters from the query string as well as from the form body,
// as clients that call requests.post(url, params=…) send them.
func TestLSCredentialsInTheQueryString(t *testing.T) {
	sim := brokersim.New()
	ts := httptest.NewServer(sim.Handler("ls", kauth.Real))
	t.Cleanup(ts.Close)
	app := brokersim.Demo("ls", kauth.Real)
	const form = "application/x-www-form-urlencoded"
	q := url.Values{"grant_type": {"client_credentials"}, "appkey": {app.AppKey}, "appsecretkey": {app.Secret}, "scope": {"oob"}}

	status, m := lsPost(t, ts, "/oauth2/token", q, form, "", nil)
	tok, _ := m["access_token"].(string)
	if status != 200 || tok == "" {
		t.Fatalf("token with the query string = %d %v; want 200 with an access_token", status, m)
	}
	// The same refusals as in the body: a wrong secret is IGW00105.
	bad := url.Values{"grant_type": {"client_credentials"}, "appkey": {app.AppKey}, "appsecretkey": {"wrong-secret"}, "scope": {"oob"}}
	if status, m := lsPost(t, ts, "/oauth2/token", bad, form, "", nil); status != 403 || m["error_code"] != "IGW00105" {
		t.Errorf("wrong secret in the query = %d %v; want 403 IGW00105", status, m)
	}
	// Still form-encoded only: a JSON content type is refused.
	if status, _ := lsPost(t, ts, "/oauth2/token", q, "application/json", "{}", nil); status != 400 {
		t.Errorf("JSON content type = %d; want 400", status)
	}
	// Body and query may be mixed, as the gateway reads both.
	body := url.Values{"appkey": {app.AppKey}, "appsecretkey": {app.Secret}}.Encode()
	// (LS's re-issue hands out a new token and ends the old one.)
	status, m = lsPost(t, ts, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"oob"}}, form, body, nil)
	if tok, _ = m["access_token"].(string); status != 200 || tok == "" {
		t.Fatalf("mixed = %d %v; want a token", status, m)
	}

	rq := url.Values{"appkey": {app.AppKey}, "appsecretkey": {app.Secret}, "token_type_hint": {"access_token"}, "token": {tok}}
	if status, m := lsPost(t, ts, "/oauth2/revoke", rq, form, "", nil); status != 200 || m["code"] != float64(200) {
		t.Fatalf("revoke with the query string = %d %v; want 200 code 200", status, m)
	}
	if got := sim.Stats().Revoked; got != 1 {
		t.Errorf("revoked = %d; want 1", got)
	}
}

// TestLST1102Blocks: t1102 answers with the blocks LS documents,
// t1102OutBlock (REST[주식] 시세, 주식현재가(시세)조회 t1102).
func TestLST1102Blocks(t *testing.T) {
	sim := brokersim.New()
	ts := httptest.NewServer(sim.Handler("ls", kauth.Real))
	t.Cleanup(ts.Close)
	app := brokersim.Demo("ls", kauth.Real)
	q := url.Values{"grant_type": {"client_credentials"}, "appkey": {app.AppKey}, "appsecretkey": {app.Secret}, "scope": {"oob"}}
	_, m := lsPost(t, ts, "/oauth2/token", nil, "application/x-www-form-urlencoded", q.Encode(), nil)
	tok, _ := m["access_token"].(string)
	status, m := lsPost(t, ts, "/stock/market-data", nil, "application/json; charset=utf-8", `{"t1102InBlock":{"shcode":"005930","exchgubun":"K"}}`,
		map[string]string{"authorization": "Bearer " + tok, "tr_cd": "t1102", "tr_cont": "N", "tr_cont_key": ""})
	if status != 200 || m["rsp_cd"] != "00000" {
		t.Fatalf("t1102 = %d %v", status, m)
	}
	if _, ok := m["OutBlock"]; ok {
		t.Errorf("answer has an undocumented OutBlock: %v", m)
	}
	out, ok := m["t1102OutBlock"].(map[string]any)
	if !ok {
		t.Fatalf("answer = %v; want a t1102OutBlock object", m)
	}
	for _, k := range []string{"hname", "price", "sign", "change", "diff", "volume", "recprice", "open", "high", "low", "uplmtprice", "dnlmtprice", "shcode"} {
		if _, ok := out[k]; !ok {
			t.Errorf("t1102OutBlock lacks %s: %v", k, out)
		}
	}
	if out["shcode"] != "005930" || out["hname"] != "삼성전자" {
		t.Errorf("t1102OutBlock = %v; want 005930 삼성전자", out)
	}
	// Another code is answered for that code.
	_, m = lsPost(t, ts, "/stock/market-data", nil, "application/json; charset=utf-8", `{"t1102InBlock":{"shcode":"000660","exchgubun":"K"}}`,
		map[string]string{"authorization": "Bearer " + tok, "tr_cd": "t1102", "tr_cont": "N", "tr_cont_key": ""})
	if out, _ := m["t1102OutBlock"].(map[string]any); out == nil || out["shcode"] != "000660" {
		t.Errorf("000660 answered %v", m)
	}
}
