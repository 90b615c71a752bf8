package kis

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/brokertest"
)

// TestProvider runs the conformance suite every broker passes, with KIS's
// facts: /oauth2/tokenP and /oauth2/revokeP as JSON, the printed
// access_token_token_expired in KST, EGW codes.
func TestProvider(t *testing.T) {
	brokertest.Run(t, facts)
}

var facts = brokertest.Facts{
	Broker: broker,
	New: func(base string, c *http.Client, now func() time.Time) kauth.Provider {
		return &Provider{BaseURL: base, HTTPClient: c, Now: now}
	},
	AppKey: fakeAppKey, AppSecret: fakeAppSecret, Token: fakeToken,
	Other:   kauth.Kiwoom,
	RealURL: RealURL, MockURL: MockURL, BaseURLEnv: BaseURLEnv,
	TokenPath: "/oauth2/tokenP", RevokePath: "/oauth2/revokeP",
	CheckIssue: func(t *testing.T, r *http.Request) {
		broker.CheckJSONRequest(t, r, nil, map[string]string{
			"grant_type": "client_credentials",
			"appkey":     fakeAppKey,
			"appsecret":  fakeAppSecret,
		})
	},
	CheckRevoke: func(t *testing.T, r *http.Request, token string) {
		broker.CheckJSONRequest(t, r, nil, map[string]string{
			"appkey":    fakeAppKey,
			"appsecret": fakeAppSecret,
			"token":     token,
		})
	},
	Received: received,
	Tokens: []brokertest.TokenCase{
		{Name: "seed answer", Body: seedToken, Expires: time.Date(2023, 12, 22, 8, 16, 59, 0, kauth.KST)},
		// A re-issue within 6 h returns the old token: expires_in still
		// says a full day, the printed expiry says 5 h.
		{Name: "reissued token keeps the printed expiry",
			Body:    `{"access_token":"` + fakeToken + `","access_token_token_expired":"2023-12-21 13:16:59","token_type":"Bearer","expires_in":86400}`,
			Expires: received.Add(5 * time.Hour)},
		{Name: "expires_in earlier than the printed expiry",
			Body:    `{"access_token":"` + fakeToken + `","access_token_token_expired":"2023-12-22 08:16:59","token_type":"Bearer","expires_in":3600}`,
			Expires: received.Add(time.Hour)},
		{Name: "expires_in as a string",
			Body:    `{"access_token":"` + fakeToken + `","access_token_token_expired":"2023-12-22 08:16:59","token_type":"Bearer","expires_in":"7200"}`,
			Expires: received.Add(2 * time.Hour)},
		{Name: "no printed expiry",
			Body:    `{"access_token":"` + fakeToken + `","token_type":"Bearer","expires_in":86400}`,
			Expires: received.Add(24 * time.Hour)},
		{Name: "no expires_in",
			Body:    `{"access_token":"` + fakeToken + `","access_token_token_expired":"2023-12-21 20:00:00","token_type":"Bearer"}`,
			Expires: time.Date(2023, 12, 21, 20, 0, 0, 0, kauth.KST)},
		{Name: "lower-case token type",
			Body:    `{"access_token":"` + fakeToken + `","access_token_token_expired":"2023-12-22 08:16:59","token_type":"bearer","expires_in":86400}`,
			Expires: time.Date(2023, 12, 22, 8, 16, 59, 0, kauth.KST)},
		{Name: "unknown fields are ignored",
			Body:    `{"access_token":"` + fakeToken + `","access_token_token_expired":"2023-12-22 08:16:59","token_type":"Bearer","expires_in":86400,"rt_cd":"0","msg_cd":"","extra":{"a":[1,2]}}`,
			Expires: time.Date(2023, 12, 22, 8, 16, 59, 0, kauth.KST)},
	},
	IssueErrors: []brokertest.ErrorCase{
		{"EGW00133 issuance limit", 403,
			`{"error_code":"EGW00133","error_description":"접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"}`, nil,
			&errWant{Kind: kauth.ErrRateLimited, Code: "EGW00133", Status: 403, RetryAfter: time.Minute, Contains: "EGW00133 rate limited: 접근토큰 발급"}},
		{"EGW00133 with Retry-After", 403,
			`{"error_code":"EGW00133","error_description":"접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"}`, []string{"Retry-After", "42"},
			&errWant{Kind: kauth.ErrRateLimited, Code: "EGW00133", Status: 403, RetryAfter: 42 * time.Second}},
		{"EGW00102 appkey missing", 403, `{"error_code":"EGW00102","error_description":"AppKey는 필수입니다."}`, nil,
			&errWant{Kind: kauth.ErrCredentials, Code: "EGW00102", Status: 403}},
		{"EGW00103 appkey invalid", 403, `{"error_code":"EGW00103","error_description":"유효하지 않은 AppKey입니다."}`, nil,
			&errWant{Kind: kauth.ErrCredentials, Code: "EGW00103", Status: 403, Contains: "유효하지 않은 AppKey입니다."}},
		{"EGW00104 appsecret missing", 403, `{"error_code":"EGW00104","error_description":"AppSecret는 필수입니다."}`, nil,
			&errWant{Kind: kauth.ErrCredentials, Code: "EGW00104", Status: 403}},
		{"EGW00105 appsecret invalid", 403, `{"error_code":"EGW00105","error_description":"유효하지 않은 AppSecret입니다."}`, nil,
			&errWant{Kind: kauth.ErrCredentials, Code: "EGW00105", Status: 403}},
		{"EGW00115 grant_type missing", 403, `{"error_code":"EGW00115","error_description":"grant_type은 필수입니다."}`, nil,
			&errWant{Kind: kauth.ErrBadRequest, Code: "EGW00115", Status: 403}},
		{"EGW00116 grant_type invalid", 403, `{"error_code":"EGW00116","error_description":"grant_type이 유효하지 않습니다."}`, nil,
			&errWant{Kind: kauth.ErrBadRequest, Code: "EGW00116", Status: 403}},
		{"unknown token-endpoint code", 403, `{"error_code":"EGW09999","error_description":"새로운 오류"}`, nil,
			&errWant{Kind: kauth.ErrBadRequest, Code: "EGW09999", Status: 403}},
		{"unknown code under 500", 500, `{"error_code":"EGW09999","error_description":"새로운 오류"}`, nil,
			&errWant{Kind: kauth.ErrUnavailable, Code: "EGW09999", Status: 500}},
		{"description echoes the credentials", 403,
			`{"error_code":"EGW00103","error_description":"유효하지 않은 AppKey입니다: ` + fakeAppKey + ` / ` + fakeAppSecret + `"}`, nil,
			&errWant{Kind: kauth.ErrCredentials, Code: "EGW00103", Status: 403, Contains: "<redacted>"}},
		{"code field holds a secret", 403, `{"error_code":"` + fakeAppSecret + `","error_description":"x"}`, nil,
			&errWant{Kind: kauth.ErrBadRequest, Status: 403}},
		{"call-style rate limit", 500, `{"rt_cd":"1","msg_cd":"EGW00201","msg1":"초당 거래건수를 초과하였습니다."}`, nil,
			&errWant{Kind: kauth.ErrRateLimited, Code: "EGW00201", Status: 500, RetryAfter: time.Second}},
		{"wrong JSON types", 200, `{"access_token":42,"expires_in":86400}`, nil,
			&errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "unexpected JSON"}},
		{"success without a token", 200, `{"token_type":"Bearer","expires_in":86400}`, nil,
			&errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "no access_token"}},
		{"success without any expiry", 200, `{"access_token":"` + fakeToken + `","token_type":"Bearer","access_token_token_expired":"soon"}`, nil,
			&errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "no usable"}},
	},
	Revokes: []brokertest.ErrorCase{
		{"code as a number", 200, `{"code":200,"message":"접근토큰 폐기에 성공하였습니다"}`, nil, nil},
		{"code as a string", 200, `{"code":"200","message":"접근토큰 폐기에 성공하였습니다"}`, nil, nil},
		{"no code", 200, `{"message":"접근토큰 폐기에 성공하였습니다"}`, nil, nil},
		{"expired token", 200, `{"rt_cd":"1","msg_cd":"EGW00123","msg1":"기간이 만료된 token 입니다."}`, nil,
			&errWant{Kind: kauth.ErrTokenRejected, Code: "EGW00123", Status: 200}},
		{"bad appsecret", 403, `{"error_code":"EGW00105","error_description":"유효하지 않은 AppSecret입니다."}`, nil,
			&errWant{Kind: kauth.ErrCredentials, Code: "EGW00105", Status: 403}},
		{"failure code in the body", 200, `{"code":"400","message":"폐기 실패: ` + fakeToken + `"}`, nil,
			&errWant{Kind: kauth.ErrBadRequest, Code: "400", Status: 200, Contains: "<redacted>"}},
		{"message echoes the token", 500, `{"rt_cd":"1","msg_cd":"EGW00121","msg1":"유효하지 않은 token 입니다: ` + fakeToken + `"}`, nil,
			&errWant{Kind: kauth.ErrTokenRejected, Code: "EGW00121", Status: 500, Contains: "<redacted>"}},
	},
	CallPath: "/uapi/domestic-stock/v1/trading/inquire-balance",
	CallOK:   `{"rt_cd":"0","msg_cd":"MCA00000","output":"`,
	Rejections: []brokertest.RejectCase{
		{"expired under 200", 200, `{"rt_cd":"1","msg_cd":"EGW00123","msg1":"기간이 만료된 token 입니다."}`, true},
		{"expired under 500", 500, `{"rt_cd":"1","msg_cd":"EGW00123","msg1":"기간이 만료된 token 입니다."}`, true},
		{"invalid under 500", 500, `{"rt_cd":"1","msg_cd":"EGW00121","msg1":"유효하지 않은 token 입니다."}`, true},
		{"not found under 200", 200, `{"msg_cd":"EGW00122","rt_cd":"1","msg1":"token을 찾을 수 없습니다."}`, true},
		{"code after a large field", 500, `{"output":"` + string(bytes.Repeat([]byte("x"), 100)) + `","rt_cd":"1","msg_cd":"EGW00123"}`, true},
		{"success", 200, `{"rt_cd":"0","msg_cd":"MCA00000","msg1":"정상처리 되었습니다.","output":{}}`, false},
		{"rate limit", 500, `{"rt_cd":"1","msg_cd":"EGW00201","msg1":"초당 거래건수를 초과하였습니다."}`, false},
		{"bad appkey", 403, `{"error_code":"EGW00103","error_description":"유효하지 않은 AppKey입니다."}`, false},
		{"401 with another code", 401, `{"error_code":"EGW00103","error_description":"유효하지 않은 AppKey입니다."}`, false},
		{"HTML page", 500, `<html>error EGW00123</html>`, false},
		{"empty", 500, ``, false},
		{"message mentions the code", 200, `{"rt_cd":"1","msg_cd":"APBK0001","msg1":"EGW00123"}`, false},
	},
	// KIS wants the app key and secret on every call beside the token.
	Authorization: map[string]string{
		"authorization": "Bearer " + fakeToken,
		"appkey":        fakeAppKey,
		"appsecret":     fakeAppSecret,
	},
	ParseExpiry: ParseExpiry,
	Expiries: []brokertest.ExpiryCase{
		{"2023-12-22 08:16:59", time.Date(2023, 12, 21, 23, 16, 59, 0, time.UTC)},
		{"2024-03-10 02:30:00", time.Date(2024, 3, 9, 17, 30, 0, 0, time.UTC)},
		{"2024-11-03 01:30:00", time.Date(2024, 11, 2, 16, 30, 0, 0, time.UTC)},
	},
	Reissue: brokersim.DemoKISReal,
}
