package toss

import (
	"net/http"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/brokertest"
)

// TestProvider runs the conformance suite with Toss's facts: a
// form-encoded client_credentials token call with client_id and
// client_secret, expires_in from the answer, OAuth errors on the token
// call and the common envelope elsewhere, no revoke call and no mock.
func TestProvider(t *testing.T) {
	brokertest.Run(t, facts)
}

// documented is the OpenAPI document's example answer
// (components.schemas.OAuth2TokenResponse).
var documented = `{"access_token":"` + fakeToken + `","token_type":"Bearer","expires_in":86400}`

var facts = brokertest.Facts{
	Broker: broker,
	New: func(base string, c *http.Client, now func() time.Time) kauth.Provider {
		return &Provider{BaseURL: base, HTTPClient: c, Now: now}
	},
	AppKey: fakeClientID, AppSecret: fakeSecret, Token: fakeToken,
	Other: kauth.Kiwoom,
	Env:   kauth.Real,
	// No paper trading: no mock domain.
	RealURL: URL, MockURL: "", BaseURLEnv: BaseURLEnv,
	TokenPath: TokenPath,
	CheckIssue: func(t *testing.T, r *http.Request) {
		if got := r.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
			t.Errorf("token request Content-Type = %q; want form-encoded", got)
		}
		if err := r.ParseForm(); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"grant_type": "client_credentials", "client_id": fakeClientID, "client_secret": fakeSecret}
		if len(r.PostForm) != len(want) {
			t.Errorf("token form has %d fields; want %d", len(r.PostForm), len(want))
		}
		for k, v := range want {
			if got := r.PostForm.Get(k); got != v {
				t.Errorf("token form %s = %q; want %q", k, got, v)
			}
		}
		if r.Header.Get("Authorization") != "" {
			t.Error("the token call carries an Authorization header")
		}
	},
	Received: received,
	Tokens: []brokertest.TokenCase{
		{Name: "documented answer", Body: documented, Expires: received.Add(86400 * time.Second)},
		// One client records 86399: trust expires_in, never a constant.
		{Name: "86399 seconds", Body: `{"access_token":"` + fakeToken + `","token_type":"Bearer","expires_in":86399}`,
			Expires: received.Add(86399 * time.Second)},
		{Name: "expires_in as a string", Body: `{"access_token":"` + fakeToken + `","token_type":"bearer","expires_in":"3600"}`,
			Expires: received.Add(time.Hour)},
	},
	IssueErrors: []brokertest.ErrorCase{
		{"invalid_client", 401, `{"error":"invalid_client","error_description":"Client authentication failed."}`,
			[]string{"WWW-Authenticate", `Basic realm="openapi"`},
			&errWant{Kind: kauth.ErrCredentials, Code: "invalid_client", Status: 401, Contains: "Client authentication failed."}},
		{"unsupported_grant_type", 400, `{"error":"unsupported_grant_type","error_description":"Only client_credentials grant type is supported."}`, nil,
			&errWant{Kind: kauth.ErrBadRequest, Code: "unsupported_grant_type", Status: 400}},
		{"invalid_request", 400, `{"error":"invalid_request","error_description":"Required parameter is missing."}`, nil,
			&errWant{Kind: kauth.ErrBadRequest, Code: "invalid_request", Status: 400}},
		{"IP not allowed", 403, `{"error":"access_denied","error_description":"IP address not allowed"}`, nil,
			&errWant{Kind: kauth.ErrCredentials, Code: "access_denied", Status: 403, Contains: "register this host's public IP"}},
		{"AUTH group limit", 429, `{"error":{"requestId":"01HX","code":"rate-limit-exceeded","message":"요청 한도를 초과했습니다."}}`,
			[]string{"Retry-After", "1", "X-RateLimit-Limit", "5", "X-RateLimit-Remaining", "0"},
			&errWant{Kind: kauth.ErrRateLimited, Code: "rate-limit-exceeded", Status: 429, RetryAfter: time.Second}},
		{"no expires_in", 200, `{"access_token":"` + fakeToken + `","token_type":"Bearer"}`, nil,
			&errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "expires_in"}},
		{"no access_token", 200, `{"token_type":"Bearer","expires_in":86400}`, nil,
			&errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "access_token"}},
	},
	CallPath: "/api/v1/orders",
	CallOK:   `{"result":{"orderId":"`,
	Rejections: []brokertest.RejectCase{
		{Name: "invalid-token", Status: 401, Body: `{"error":{"requestId":"1","code":"invalid-token","message":"유효하지 않은 토큰입니다."}}`, Rejected: true},
		{Name: "expired-token", Status: 401, Body: `{"error":{"requestId":"1","code":"expired-token","message":"토큰이 만료되었습니다."}}`, Rejected: true},
		{Name: "edge-blocked 401", Status: 401, Body: `{"error":{"requestId":"1","code":"edge-blocked","message":""}}`},
		{Name: "IP allow-list 403", Status: 403, Body: `{"error":{"requestId":"1","code":"edge-blocked","message":"허용되지 않은 요청입니다."}}`},
		{Name: "success", Status: 200, Body: `{"result":[{"symbol":"005930","lastPrice":"72000","currency":"KRW"}]}`},
	},
	Authorization:  map[string]string{"Authorization": "Bearer " + fakeToken},
	AuthorizeOmits: []string{AccountHeader},
	// Toss documents new-revoke-old; kauth must be right under the others
	// too.
	Reissue: brokersim.DemoTossReal,
}
