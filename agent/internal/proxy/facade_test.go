package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

const fkis = "/broker/" + testAgentKey + "/kis-mock"

// TestFacadeTokenIsTheManagedToken: the token endpoint answers, in KIS's
// shape, with the Manager's token, whatever the bot sends and however
// often it asks: one issuance.
func TestFacadeTokenIsTheManagedToken(t *testing.T) {
	e := newEnv(t, nil)
	body := `{"grant_type":"client_credentials","appkey":"placeholder","appsecret":"placeholder"}`
	var got string
	for range 5 {
		r := e.facade("POST", fkis+"/oauth2/tokenP", body, http.Header{"Content-Type": {"application/json"}})
		if r.status != http.StatusOK {
			t.Fatalf("tokenP = %d %s", r.status, r.body)
		}
		got = r.field(t, "access_token")
	}
	cur, _ := e.accts["kis-mock"].mgr.Cached()
	if got == "" || got != cur.AccessToken {
		t.Errorf("tokenP answered a token that is not the managed one")
	}
	if n := e.sim.Stats().App(kauth.KIS, kauth.Mock, brokersim.DemoKISMock.AppKey).Issued; n != 1 {
		t.Errorf("%d issuances for 5 token calls; want 1", n)
	}
	if r := e.facade("GET", fkis+"/oauth2/tokenP", "", nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("GET tokenP = %d %v; want 405 with Allow: POST", r.status, r.header)
	}
}

// TestFacadeRefusesBadKeysAndCredentials: the key in the path decides what
// opens; another account's app key or token, or a credential sent twice,
// is refused in the broker's error shape before anything reaches it.
func TestFacadeRefusesBadKeysAndCredentials(t *testing.T) {
	e := newEnv(t, nil)
	realTok, err := e.accts["kis-real"].mgr.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	before := e.sim.Stats().Calls
	cases := []struct {
		name, method, target, body string
		hdr                        http.Header
		status                     int
		code                       string // in the API's or KIS's shape
	}{
		{"wrong key", "GET", "/broker/wrong/kis-mock" + kisPrice, "", nil, http.StatusUnauthorized, "unauthenticated"},
		{"no key", "GET", "/broker//kis-mock" + kisPrice, "", nil, http.StatusUnauthorized, "unauthenticated"},
		{"client key, other account", "GET", "/broker/clientkey-kis-only/kis-real" + kisPrice, "", nil, http.StatusForbidden, "forbidden_account"},
		{"foreign app key header", "GET", fkis + kisPrice, "", http.Header{"Appkey": {brokersim.DemoKISReal.AppKey}}, http.StatusForbidden, "foreign_credentials"},
		{"foreign token", "GET", fkis + kisPrice, "", http.Header{"Authorization": {"Bearer " + realTok.AccessToken}}, http.StatusForbidden, "foreign_credentials"},
		{"foreign app key body", "POST", fkis + "/oauth2/tokenP", `{"appkey":"` + brokersim.DemoKISReal.AppKey + `"}`, nil, http.StatusForbidden, "foreign_credentials"},
		{"app key twice in body", "POST", fkis + "/oauth2/tokenP", `{"appkey":"a","AppKey":"b"}`, nil, http.StatusBadRequest, "ambiguous_credentials"},
		{"app key twice in form", "POST", fkis + "/oauth2/tokenP", `appkey=a&APPKEY=b`, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, http.StatusBadRequest, "ambiguous_credentials"},
		{"header twice", "GET", fkis + kisPrice, "", http.Header{"Appkey": {"a", "b"}}, http.StatusBadRequest, "ambiguous_credentials"},
		{"not served", "GET", fkis + "/elsewhere", "", nil, http.StatusNotFound, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.facade(c.method, c.target, c.body, c.hdr)
			code := r.field(t, "code")
			if code == "" {
				code = r.field(t, "msg_cd") // KIS's shape
			}
			if r.status != c.status || code != c.code {
				t.Errorf("= %d %s; want %d %s", r.status, r.body, c.status, c.code)
			}
			for _, secret := range []string{brokersim.DemoKISReal.AppKey, realTok.AccessToken, testAgentKey} {
				if strings.Contains(string(r.body), secret) {
					t.Errorf("the answer shows a credential: %s", r.body)
				}
			}
		})
	}
	if n := e.sim.Stats().Calls - before; n != 0 {
		t.Errorf("%d refused calls reached the broker", n)
	}
	if r := e.facade("GET", "/broker/clientkey-kis-only/kis-mock"+kisPrice, "", http.Header{"Tr_id": {"FHKST01010100"}}); r.status != http.StatusOK {
		t.Errorf("client key on its own account = %d %s; want the broker's answer", r.status, r.body)
	}
}

// TestFacadeRevoke: a bot's revoke is answered without revoking the token
// every holder shares, unless the account says revoke: pass.
func TestFacadeRevoke(t *testing.T) {
	e := newEnv(t, nil)
	acct := e.accts["kis-mock"]
	tok, err := acct.mgr.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	body := `{"appkey":"x","appsecret":"y","token":"` + tok.AccessToken + `"}`
	if r := e.facade("POST", fkis+"/oauth2/revokeP", body, nil); r.status != http.StatusOK {
		t.Fatalf("revokeP = %d %s", r.status, r.body)
	}
	if _, _, ok := e.sim.CurrentToken(kauth.KIS, kauth.Mock, brokersim.DemoKISMock.AppKey); !ok {
		t.Fatal("a bot's revoke revoked the shared token")
	}
	acct.revokePass = true
	if r := e.facade("POST", fkis+"/oauth2/revokeP", body, nil); r.status != http.StatusOK {
		t.Fatalf("revokeP with revoke: pass = %d %s", r.status, r.body)
	}
	if _, _, ok := e.sim.CurrentToken(kauth.KIS, kauth.Mock, brokersim.DemoKISMock.AppKey); ok {
		t.Error("revoke: pass did not revoke the token")
	}
}

// TestFacadeApprovalAndUpgrade: KIS's approval endpoint answers with the
// gateway's approval key, and a WebSocket upgrade, whatever its path, is
// handed to the gateway for the account.
func TestFacadeApprovalAndUpgrade(t *testing.T) {
	e := newEnv(t, nil)
	r := e.facade("POST", fkis+"/oauth2/Approval", `{"grant_type":"client_credentials","appkey":"x","secretkey":"y"}`, nil)
	if r.status != http.StatusOK || r.field(t, "approval_key") == "" {
		t.Fatalf("Approval = %d %s; want an approval key", r.status, r.body)
	}
	m, _ := e.rt.ApprovalManager(e.accts["kis-mock"])
	if cur, _ := m.Cached(); cur.AccessToken != r.field(t, "approval_key") {
		t.Error("the approval key answered is not the gateway's")
	}
	up := http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}
	if r := e.facade("GET", fkis+"/tryitout", "", up); r.status != http.StatusNoContent || len(e.rt.served) != 1 || e.rt.served[0] != "kis-mock" {
		t.Errorf("upgrade = %d, gateway served %v; want it handed to the gateway", r.status, e.rt.served)
	}
	// Only a GET is an upgrade (RFC 6455 4.1).
	if r := e.facade("POST", fkis+"/tryitout", "", up); r.status != http.StatusNotFound || len(e.rt.served) != 1 {
		t.Errorf("POST with Upgrade = %d, gateway served %v; want 404 and no WebSocket", r.status, e.rt.served)
	}
}
