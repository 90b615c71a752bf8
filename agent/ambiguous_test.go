package agent_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/ls"
)

// TestFacadeRefusesAmbiguousCredentials: a facade request that names a
// credential twice — two appkey, appsecret, secretkey or authorization
// headers in any spelling, or a JSON body with a credential field twice in
// any letter case — cannot be checked against the other accounts (which
// copy would the broker read?), so it is refused with 400 in the broker's
// error shape, naming no secret. The same requests with each credential
// once are served.
func TestFacadeRefusesAmbiguousCredentials(t *testing.T) {
	h := newHarness(t, setup{})
	h.secrets = append(h.secrets, h.key)
	kisBaseURL := h.facadeURL("kis-mock")
	kiwoomBaseURL := h.facadeURL("kiwoom-mock")
	price := kisBaseURL + "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930"
	otherTok := h.token("kis-mock").AccessToken
	ownKiwoom := h.token("kiwoom-mock").AccessToken

	kisCall := func(extra ...[2]string) [][2]string {
		return append(kisBase(), append([][2]string{{"tr_id", "FHKST01010100"}, {"custtype", "P"}}, extra...)...)
	}
	kiwoomHdr := func(extra ...[2]string) [][2]string {
		return append([][2]string{{"Content-Type", "application/json;charset=UTF-8"}, {"api-id", "ka10001"}}, extra...)
	}
	// Bodies are written by hand: a Go map cannot hold a key twice.
	tokenBody := func(fields string) string { return `{"grant_type":"client_credentials",` + fields + `}` }

	for _, tc := range []struct {
		name     string
		method   string
		url      string
		hdr      [][2]string
		body     string
		kiwoom   bool
		refused  bool // the ambiguous request
		okStatus int  // the answer to a plain request
	}{
		{name: "tokenP appkey twice", method: "POST", url: kisBaseURL + "/oauth2/tokenP", hdr: kisBase(),
			body: tokenBody(`"appkey":"` + kisReal.AppKey + `","appkey":"` + placeholderKey + `","appsecret":"x"`), refused: true},
		{name: "tokenP appkey in two spellings", method: "POST", url: kisBaseURL + "/oauth2/tokenP", hdr: kisBase(),
			body: tokenBody(`"APPKEY":"` + kisReal.AppKey + `","appkey":"` + placeholderKey + `","appsecret":"x"`), refused: true},
		{name: "tokenP appsecret twice", method: "POST", url: kisBaseURL + "/oauth2/tokenP", hdr: kisBase(),
			body: tokenBody(`"appkey":"` + placeholderKey + `","appsecret":"x","AppSecret":"y"`), refused: true},
		{name: "tokenP once each", method: "POST", url: kisBaseURL + "/oauth2/tokenP", hdr: kisBase(),
			body: tokenBody(`"appkey":"` + placeholderKey + `","appsecret":"x","extra":{"appkey":"nested is not read"}`), okStatus: 200},
		{name: "Approval secretkey twice", method: "POST", url: kisBaseURL + "/oauth2/Approval", hdr: kisBase(),
			body: tokenBody(`"appkey":"` + placeholderKey + `","secretkey":"x","secretkey":"y"`), refused: true},
		{name: "revokeP token twice", method: "POST", url: kisBaseURL + "/oauth2/revokeP", hdr: kisBase(),
			body: `{"appkey":"` + placeholderKey + `","appsecret":"x","token":"a","token":"b"}`, refused: true},
		{name: "appkey header twice", method: "GET", url: price,
			hdr: kisCall([2]string{"authorization", "Bearer x"}, [2]string{"appkey", placeholderKey}, [2]string{"APPKEY", kisReal.AppKey}, [2]string{"appsecret", "x"}), refused: true},
		{name: "appsecret header twice", method: "GET", url: price,
			hdr: kisCall([2]string{"authorization", "Bearer x"}, [2]string{"appkey", placeholderKey}, [2]string{"appsecret", "x"}, [2]string{"AppSecret", "y"}), refused: true},
		{name: "secretkey header twice", method: "GET", url: price,
			hdr: kisCall([2]string{"authorization", "Bearer x"}, [2]string{"appkey", placeholderKey}, [2]string{"secretkey", "x"}, [2]string{"secretkey", "y"}), refused: true},
		{name: "kis headers once each", method: "GET", url: price,
			hdr: kisCall([2]string{"authorization", "Bearer x"}, [2]string{"appkey", placeholderKey}, [2]string{"appsecret", "x"}), okStatus: 200},
		{name: "kiwoom authorization twice", method: "POST", url: kiwoomBaseURL + "/api/dostk/stkinfo", kiwoom: true,
			hdr:  kiwoomHdr([2]string{"authorization", "Bearer " + ownKiwoom}, [2]string{"Authorization", "Bearer " + otherTok}),
			body: `{"stk_cd":"005930"}`, refused: true},
		{name: "kiwoom token secretkey twice", method: "POST", url: kiwoomBaseURL + "/oauth2/token", kiwoom: true,
			hdr:  kiwoomHdr(),
			body: tokenBody(`"appkey":"` + placeholderKey + `","secretkey":"x","SecretKey":"y"`), refused: true},
		{name: "kiwoom authorization once", method: "POST", url: kiwoomBaseURL + "/api/dostk/stkinfo", kiwoom: true,
			hdr: kiwoomHdr([2]string{"authorization", "Bearer " + ownKiwoom}), body: `{"stk_cd":"005930"}`, okStatus: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := pyDo(t, h.ep.TCP, tc.method, tc.url, tc.hdr, tc.body)
			if !tc.refused {
				if a.status != tc.okStatus {
					t.Fatalf("status = %d; want %d", a.status, tc.okStatus)
				}
				return
			}
			if a.status != http.StatusBadRequest {
				// The body is not shown: a served request's answer holds a token.
				t.Fatalf("status = %d; want 400", a.status)
			}
			m := a.json(t)
			if tc.kiwoom {
				msg, _ := m["return_msg"].(string)
				if m["return_code"] == json.Number("0") || m["return_code"] == nil || !strings.Contains(msg, "[ambiguous_credentials]") {
					t.Errorf("answer = %s; want a non-zero return_code and [ambiguous_credentials]", a.body)
				}
			} else {
				kisSampleBody(t, a)
				if m["msg_cd"] != "ambiguous_credentials" || m["error_code"] != "ambiguous_credentials" {
					t.Errorf("answer = %s; want msg_cd and error_code ambiguous_credentials", a.body)
				}
			}
			for _, s := range append(h.secrets, otherTok, ownKiwoom, placeholderKey) {
				if bytes.Contains(a.body, []byte(s)) {
					t.Errorf("the answer holds a credential: %s", a.body)
				}
			}
		})
	}
}

// TestFacadeFormBodies: LS and DB take their token and revoke calls as
// form-encoded bodies (appkey, appsecretkey). Through the facade, such a
// body carrying another account's app key is refused as a JSON body is
// (403 foreign_credentials), and one carrying a credential twice is 400
// ambiguous_credentials, both in the gateway's error shape and naming no
// secret; a body with placeholders is answered with the managed token.
func TestFacadeFormBodies(t *testing.T) {
	const (
		keyA, secretA = "FAKE-TEST-LS-APPKEY-A-0000000000000", "FAKE-TEST-LS-SECRET-A-not-a-real-one"
		keyB, secretB = "FAKE-TEST-LS-APPKEY-B-0000000000000", "FAKE-TEST-LS-SECRET-B-not-a-real-one"
	)
	var simURL string
	h := newHarness(t, setup{
		sim: func(s *brokersim.Server) {
			s.Register(ls.Broker, kauth.Mock, keyA, secretA)
			s.Register(ls.Broker, kauth.Mock, keyB, secretB)
		},
		onSim: func(u string) { simURL = u },
		cfg: func(c *agent.Config) {
			for _, a := range []struct{ name, key, secret string }{{"ls-a", keyA, secretA}, {"ls-b", keyB, secretB}} {
				c.Accounts = append(c.Accounts, agent.Account{Name: a.name, Broker: ls.Broker, Env: kauth.Mock,
					AppKey: agent.Secret{Value: a.key}, AppSecret: agent.Secret{Value: a.secret},
					BaseURL: brokersim.BaseURL(simURL, ls.Broker, kauth.Mock)})
			}
		},
	})
	h.secrets = append(h.secrets, h.key, keyA, secretA, keyB, secretB)
	form := [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}}
	tokenURL := h.facadeURL("ls-a") + "/oauth2/token"
	for _, tc := range []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"another account's appkey", "grant_type=client_credentials&appkey=" + keyB + "&appsecretkey=x&scope=oob", http.StatusForbidden, "foreign_credentials"},
		{"appkey twice", "grant_type=client_credentials&appkey=" + placeholderKey + "&appkey=" + keyB + "&appsecretkey=x&scope=oob", http.StatusBadRequest, "ambiguous_credentials"},
		{"appsecretkey twice", "grant_type=client_credentials&appkey=" + placeholderKey + "&appsecretkey=x&APPSECRETKEY=y&scope=oob", http.StatusBadRequest, "ambiguous_credentials"},
		{"placeholders", "grant_type=client_credentials&appkey=" + placeholderKey + "&appsecretkey=x&scope=oob", http.StatusOK, ""},
		{"its own appkey", "grant_type=client_credentials&appkey=" + keyA + "&appsecretkey=" + secretA + "&scope=oob", http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := pyDo(t, h.ep.TCP, "POST", tokenURL, form, tc.body)
			if a.status != tc.status {
				t.Fatalf("status = %d; want %d", a.status, tc.status)
			}
			m := a.json(t)
			if tc.code == "" {
				if tok, _ := m["access_token"].(string); tok == "" {
					t.Errorf("answer has no access_token")
				}
				return
			}
			if m["error_code"] != tc.code || m["rsp_cd"] != tc.code {
				t.Errorf("answer = %s; want error_code and rsp_cd %s", a.body, tc.code)
			}
			for _, s := range h.secrets {
				if bytes.Contains(a.body, []byte(s)) {
					t.Errorf("the answer holds a credential: %s", a.body)
				}
			}
		})
	}
}
