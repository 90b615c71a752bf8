package kiwoom

import (
	"net/http"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/brokertest"
)

// TestProvider runs the conformance suite every broker passes, with
// Kiwoom's facts: au10001 and au10002 as JSON with api-id, expires_dt in
// KST, errors as HTTP 200 with return_code and the code in brackets.
func TestProvider(t *testing.T) {
	brokertest.Run(t, facts)
}

var facts = brokertest.Facts{
	Broker: broker,
	New: func(base string, c *http.Client, now func() time.Time) kauth.Provider {
		return &Provider{BaseURL: base, HTTPClient: c, Now: now}
	},
	AppKey: fakeAppKey, AppSecret: fakeAppSecret, Token: fakeToken,
	Other:   kauth.KIS,
	RealURL: RealURL, MockURL: MockURL, BaseURLEnv: BaseURLEnv,
	TokenPath: "/oauth2/token", RevokePath: "/oauth2/revoke",
	CheckIssue: func(t *testing.T, r *http.Request) {
		// The spec marks api-id required on au10001 too.
		broker.CheckJSONRequest(t, r, map[string]string{"api-id": APIIDIssue}, map[string]string{
			"grant_type": "client_credentials",
			"appkey":     fakeAppKey,
			"secretkey":  fakeAppSecret,
		})
	},
	CheckRevoke: func(t *testing.T, r *http.Request, token string) {
		broker.CheckJSONRequest(t, r, map[string]string{"api-id": APIIDRevoke}, map[string]string{
			"appkey":    fakeAppKey,
			"secretkey": fakeAppSecret,
			"token":     token,
		})
	},
	Received: received,
	Tokens: []brokertest.TokenCase{
		{Name: "seed answer", Body: seedToken, Expires: time.Date(2024, 11, 7, 8, 37, 13, 0, kauth.KST)},
		// Lifetimes vary: trust expires_dt, never "now + 24 h".
		{Name: "18 hour token",
			Body:    `{"expires_dt":"20241107023713","return_msg":"정상적으로 처리되었습니다","token_type":"bearer","return_code":0,"token":"` + fakeToken + `"}`,
			Expires: received.Add(18 * time.Hour)},
		{Name: "return_code as a string",
			Body:    `{"expires_dt":"20241107083713","return_msg":"정상적으로 처리되었습니다","token_type":"Bearer","return_code":"0","token":"` + fakeToken + `"}`,
			Expires: time.Date(2024, 11, 7, 8, 37, 13, 0, kauth.KST)},
		{Name: "no return_code",
			Body:    `{"expires_dt":"20241107083713","token_type":"BEARER","token":"` + fakeToken + `"}`,
			Expires: time.Date(2024, 11, 7, 8, 37, 13, 0, kauth.KST)},
	},
	IssueErrors: []brokertest.ErrorCase{
		{"8001 bad appkey", 200, authFail("8001", "App Key와 Secret Key 검증에 실패했습니다"), nil,
			&errWant{Kind: kauth.ErrCredentials, Code: "8001", Status: 200, Contains: "8001 credentials rejected: 인증에 실패했습니다[8001:"}},
		{"8002 bad secretkey, return_code as a string", 200,
			`{"return_code":"3","return_msg":"인증에 실패했습니다[8002:App Key와 Secret Key 검증에 실패했습니다. 실패사유=secretkey 불일치]"}`, nil,
			&errWant{Kind: kauth.ErrCredentials, Code: "8002", Status: 200}},
		{"8020 key missing", 200, authFail("8020", "입력파라미터로 appkey 또는 secretkey가 들어오지 않았습니다."), nil,
			&errWant{Kind: kauth.ErrCredentials, Code: "8020", Status: 200}},
		{"8030 app key of the other env", 200, authFail("8030", "투자구분(실전/모의)이 달라서 Appkey를 사용할수가 없습니다"), nil,
			&errWant{Kind: kauth.ErrCredentials, Code: "8030", Status: 200}},
		{"8040 device", 200, authFail("8040", "단말기 인증에 실패했습니다"), nil,
			&errWant{Kind: kauth.ErrCredentials, Code: "8040", Status: 200}},
		{"8050 designated device", 200, authFail("8050", "지정단말기 인증에 실패했습니다"), nil,
			&errWant{Kind: kauth.ErrCredentials, Code: "8050", Status: 200}},
		{"8012 grant_type", 200, authFail("8012", "Access Token을 발급하는데 실패했습니다. grant_type의 값이 맞지 않습니다"), nil,
			&errWant{Kind: kauth.ErrBadRequest, Code: "8012", Status: 200}},
		{"1700 request limit", 200,
			`{"return_code":5,"return_msg":"허용된 요청 개수를 초과하였습니다[1700:허용된 요청 개수를 초과하였습니다. API ID=au10001]"}`, nil,
			&errWant{Kind: kauth.ErrRateLimited, Code: "1700", Status: 200, RetryAfter: time.Second}},
		{"1700 with Retry-After", 200,
			`{"return_code":"5","return_msg":"허용된 요청 개수를 초과하였습니다[1700:허용된 요청 개수를 초과하였습니다. API ID=au10001]"}`, []string{"Retry-After", "3"},
			&errWant{Kind: kauth.ErrRateLimited, Code: "1700", Status: 200, RetryAfter: 3 * time.Second}},
		{"1634 shares return_code 5 but is an input error", 200,
			`{"return_code":5,"return_msg":"허용된 요청 개수를 초과하였습니다[1634]"}`, nil,
			&errWant{Kind: kauth.ErrBadRequest, Code: "1634", Status: 200}},
		{"return_code 5 without a code is no rate limit", 200,
			`{"return_code":5,"return_msg":"허용된 요청 개수를 초과하였습니다"}`, nil,
			&errWant{Kind: kauth.ErrBadRequest, Code: "return_code=5", Status: 200}},
		{"unknown code under 500", 500, authFail("8999", "새로운 오류"), nil,
			&errWant{Kind: kauth.ErrUnavailable, Code: "8999", Status: 500}},
		{"message echoes the credentials", 200, authFail("8001", "검증 실패 appkey="+fakeAppKey+" secretkey="+fakeAppSecret), nil,
			&errWant{Kind: kauth.ErrCredentials, Code: "8001", Status: 200, Contains: "<redacted>"}},
		{"malformed JSON after token", 200, `{"token":"` + fakeToken, nil,
			&errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "malformed JSON"}},
		{"wrong JSON types", 200, `{"return_code":true}`, nil,
			&errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "unexpected JSON"}},
		{"success without a token", 200, `{"expires_dt":"20241107083713","token_type":"bearer","return_code":0,"return_msg":"정상적으로 처리되었습니다"}`, nil,
			&errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "no token"}},
		{"success without expires_dt", 200, `{"token_type":"bearer","return_code":0,"token":"` + fakeToken + `"}`, nil,
			&errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "no usable expires_dt"}},
		{"expires_dt in another layout", 200, `{"expires_dt":"2024-11-07 08:37:13","token_type":"bearer","return_code":0,"token":"` + fakeToken + `"}`, nil,
			&errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "no usable expires_dt"}},
	},
	Revokes: []brokertest.ErrorCase{
		{"ok", 200, `{"return_code":0,"return_msg":"정상적으로 처리되었습니다"}`, nil, nil},
		{"ok, return_code as a string", 200, `{"return_code":"0","return_msg":"정상적으로 처리되었습니다"}`, nil, nil},
		{"unknown token", 200, authFail("8005", "Token이 유효하지 않습니다"), nil,
			&errWant{Kind: kauth.ErrTokenRejected, Code: "8005", Status: 200}},
		{"bad secretkey", 200, authFail("8002", "App Key와 Secret Key 검증에 실패했습니다"), nil,
			&errWant{Kind: kauth.ErrCredentials, Code: "8002", Status: 200}},
		{"message echoes the token", 200, authFail("8005", "Token이 유효하지 않습니다 token="+fakeToken), nil,
			&errWant{Kind: kauth.ErrTokenRejected, Code: "8005", Status: 200, Contains: "<redacted>"}},
	},
	CallPath: "/api/dostk/stkinfo",
	CallOK:   `{"return_code":0,"return_msg":"정상적으로 처리되었습니다","stk_list":"`,
	Rejections: []brokertest.RejectCase{
		{"8005", 200, authFail("8005", "Token이 유효하지 않습니다"), true},
		{"8005, return_code as a string", 200, `{"return_code":"3","return_msg":"인증에 실패했습니다[8005:Token이 유효하지 않습니다]"}`, true},
		{"8003", 200, authFail("8003", "Access Token을 조회하는데 실패했습니다"), true},
		{"8010: a new token does not fix the IP", 200, authFail("8010", "Token을 발급받은 IP와 서비스를 요청한 IP가 동일하지 않습니다"), false},
		{"8031", 200, authFail("8031", "투자구분(실전/모의)이 달라서 Token를 사용할수가 없습니다"), true},
		{"8103", 200, authFail("8103", "토큰 인증 또는 단말기인증에 실패했습니다"), true},
		{"fields in the other order", 200, `{"return_msg":"인증에 실패했습니다[8005:Token이 유효하지 않습니다]","return_code":3}`, true},
		{"401 with a body", 401, `{"return_code":3,"return_msg":"인증에 실패했습니다"}`, true},
		{"success", 200, `{"stk_cd":"005930","return_code":0,"return_msg":"정상적으로 처리되었습니다"}`, false},
		{"bad appkey", 200, authFail("8001", "App Key와 Secret Key 검증에 실패했습니다"), false},
		{"rate limit", 200, `{"return_code":5,"return_msg":"허용된 요청 개수를 초과하였습니다[1700:허용된 요청 개수를 초과하였습니다. API ID=ka10001]"}`, false},
		{"code with return_code 0", 200, `{"return_code":0,"return_msg":"[8005:이상한 응답]"}`, false},
		{"HTML", 500, `<html>[8005:Token]</html>`, false},
		{"empty", 200, ``, false},
	},
	// Kiwoom's calls carry the token only, never the app key or secret.
	Authorization:  map[string]string{"authorization": "Bearer " + fakeToken},
	AuthorizeOmits: []string{"appkey", "secretkey", "appsecret"},
	ParseExpiry:    ParseExpiry,
	Expiries: []brokertest.ExpiryCase{
		{"20241107083713", time.Date(2024, 11, 6, 23, 37, 13, 0, time.UTC)},
		{"20240310023000", time.Date(2024, 3, 9, 17, 30, 0, 0, time.UTC)},
		{"20241103013000", time.Date(2024, 11, 2, 16, 30, 0, 0, time.UTC)},
	},
	Reissue: brokersim.DemoKiwoomReal,
}
