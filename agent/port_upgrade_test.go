package agent_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestPortUpgradeHeaderOpensNothing: an "Upgrade: websocket" header on a
// request that is not a WebSocket handshake (a POST to the token or
// approval endpoint, a GET of an API path) is no credential: the request
// is refused as any other without the account's key, and nothing reaches
// the broker.
func TestPortUpgradeHeaderOpensNothing(t *testing.T) {
	h, bot, _, _ := portHarness(t)
	addr := h.ep.Ports["kis-mock"]
	kis := "http://" + addr
	managed := h.token("kis-mock").AccessToken
	before := h.sim.Stats()
	upgrade := [][2]string{{"Connection", "Upgrade"}, {"Upgrade", "websocket"}, {"Content-Type", "application/json"}}
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/oauth2/tokenP", pyJSON("grant_type", "client_credentials", "appkey", placeholderKey, "appsecret", placeholderSecret)},
		{"POST", "/oauth2/Approval", pyJSON("grant_type", "client_credentials", "appkey", placeholderKey, "secretkey", placeholderSecret)},
		{"POST", "/oauth2/revokeP", pyJSON("appkey", placeholderKey, "appsecret", placeholderSecret, "token", "x")},
		// KIS orders are POSTs under /uapi/ (order-cash).
		{"POST", "/uapi/domestic-stock/v1/trading/order-cash", `{"CANO":"50000000","ACNT_PRDT_CD":"01","PDNO":"005930","ORD_DVSN":"00","ORD_QTY":"1","ORD_UNPR":"70000"}`},
		{"PUT", "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", ""},
	} {
		a := pyDo(t, addr, tc.method, kis+tc.path, append([][2]string{{"tr_id", "FHKST01010100"}}, upgrade...), tc.body)
		if a.status != http.StatusUnauthorized {
			t.Errorf("%s %s with Upgrade: websocket = %d; want 401", tc.method, tc.path, a.status)
		}
		if strings.Contains(string(a.body), managed) || strings.Contains(string(a.body), bot) || strings.Contains(string(a.body), "approval_key") {
			t.Errorf("%s %s answer holds a credential", tc.method, tc.path)
		}
	}
	after := h.sim.Stats()
	if after.Calls != before.Calls || after.Approvals != before.Approvals || after.Issued != before.Issued {
		t.Errorf("the simulator saw calls %d→%d, approvals %d→%d, issues %d→%d; want none",
			before.Calls, after.Calls, before.Approvals, after.Approvals, before.Issued, after.Issued)
	}
}
