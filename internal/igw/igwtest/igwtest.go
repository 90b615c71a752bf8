// Package igwtest holds the conformance facts that the brokers behind the
// IGW gateway (LS증권, DB증권) share: the same token calls, codes and
// answers, so each broker's test gives only its name, domain and call.
package igwtest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/brokertest"
)

// Broker is what a gateway broker's test says of it.
type Broker struct {
	Name kauth.Broker
	// URL is the domain for real and mock; BaseURLEnv overrides it.
	URL, BaseURLEnv string
	// CallPath is a REST call of the broker (its probe, say).
	CallPath string
	// Other is another broker, whose credentials must be refused.
	Other kauth.Broker
	// New builds the provider under test.
	New brokertest.NewProvider
}

// Obviously fake credentials.
const (
	fakeKey    = "FAKE-IGW-APPKEY-000000000000000000000"
	fakeSecret = "FAKE-IGW-SECRET-not-a-real-one-00000"
	opaque     = "FAKE-IGW-OPAQUE-TOKEN-0000000000000000"
)

// received is the fixed time of the token tests: 21:00 KST.
var received = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// JWT builds a token shaped like the example of LS's token page: a JWT
// whose payload has iss "unogw", iat and exp.
func JWT(iat, exp time.Time) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"typ":"JWT","alg":"HS512"}`)) + "." +
		enc.EncodeToString([]byte(fmt.Sprintf(`{"sub":"token","iss":"unogw","grant_type":"Client","iat":%d,"exp":%d}`, iat.Unix(), exp.Unix()))) +
		".c2lnbmF0dXJl"
}

// Facts are the conformance facts of broker b behind the gateway.
func Facts(b Broker) brokertest.Facts {
	token := JWT(received, received.Add(9*time.Hour))
	fb := brokertest.Broker{Name: b.Name, ContentType: "application/x-www-form-urlencoded", Secrets: []string{fakeKey, fakeSecret, token, opaque}}
	want := func(w brokertest.ErrWant) *brokertest.ErrWant { return &w }
	tokenErr := func(code, desc string) string {
		return `{"error_code":"` + code + `","error_description":"` + desc + `"}`
	}
	return brokertest.Facts{
		Broker: fb,
		New:    b.New,
		AppKey: fakeKey, AppSecret: fakeSecret, Token: token,
		Other:   b.Other,
		RealURL: b.URL, MockURL: b.URL, BaseURLEnv: b.BaseURLEnv,
		// LS증권 OPEN API, REST 접근토큰 발급 and 폐기: form-encoded.
		TokenPath: "/oauth2/token", RevokePath: "/oauth2/revoke",
		CheckIssue: func(t *testing.T, r *http.Request) {
			fb.CheckFormRequest(t, r, map[string]string{"grant_type": "client_credentials", "appkey": fakeKey, "appsecretkey": fakeSecret, "scope": "oob"})
		},
		CheckRevoke: func(t *testing.T, r *http.Request, tok string) {
			fb.CheckFormRequest(t, r, map[string]string{"appkey": fakeKey, "appsecretkey": fakeSecret, "token_type_hint": "access_token", "token": tok})
		},
		Received: received,
		Tokens: []brokertest.TokenCase{
			// The page's example: expires_in says 24 h, the JWT's exp 9 h
			// (LS's tokens end at 07:00 KST): the earliest wins.
			{Name: "documented answer", Body: `{"access_token":"` + token + `","scope":"oob","token_type":"Bearer","expires_in":86400}`, Expires: received.Add(9 * time.Hour)},
			// The page's table: expire_in, a string.
			{Name: "expire_in string", Body: `{"access_token":"` + token + `","scope":"oob","token_type":"Bearer","expire_in":"3600"}`, Expires: received.Add(time.Hour)},
			{Name: "expires_in number", Body: `{"access_token":"` + token + `","scope":"oob","token_type":"Bearer","expires_in":7200}`, Expires: received.Add(2 * time.Hour)},
			{Name: "both, earliest", Body: `{"access_token":"` + token + `","expire_in":"600","expires_in":7200}`, Expires: received.Add(10 * time.Minute)},
			{Name: "exp only", Body: `{"access_token":"` + token + `"}`, Expires: received.Add(9 * time.Hour)},
			// DB's clients add expires_in to now; its token need not be a JWT.
			{Name: "opaque token", Body: `{"access_token":"` + opaque + `","scope":"oob","token_type":"Bearer","expires_in":86400}`, Token: opaque, Expires: received.Add(24 * time.Hour)},
			{Name: "lower-case token type", Body: `{"access_token":"` + token + `","token_type":"bearer","expires_in":7200}`, Expires: received.Add(2 * time.Hour)},
		},
		IssueErrors: []brokertest.ErrorCase{
			// As LS users measured: a wrong secret is HTTP 403 with
			// error_code and error_description.
			{"IGW00105 bad secret", 403, tokenErr("IGW00105", "유효하지 않은 AppSecret입니다."), nil,
				want(brokertest.ErrWant{Kind: kauth.ErrCredentials, Code: "IGW00105", Status: 403, Contains: "유효하지 않은 AppSecret입니다."})},
			{"IGW00103 bad key", 403, tokenErr("IGW00103", "유효하지 않은 AppKey입니다."), nil,
				want(brokertest.ErrWant{Kind: kauth.ErrCredentials, Code: "IGW00103", Status: 403})},
			// DB: one issuance a minute; past it IGW00201 under 403.
			{"IGW00201 rate limit", 403, tokenErr("IGW00201", "호출 거래건수를 초과하였습니다."), nil,
				want(brokertest.ErrWant{Kind: kauth.ErrRateLimited, Code: "IGW00201", Status: 403, RetryAfter: time.Second})},
			{"IGW00201 with Retry-After", 403, tokenErr("IGW00201", "호출 거래건수를 초과하였습니다."), []string{"Retry-After", "61"},
				want(brokertest.ErrWant{Kind: kauth.ErrRateLimited, Code: "IGW00201", Status: 403, RetryAfter: 61 * time.Second})},
			// The token call carries no token: a token code there is a
			// refusal of the app.
			{"token code on the token call", 403, tokenErr("IGW00121", "유효하지 않은 토큰입니다."), nil,
				want(brokertest.ErrWant{Kind: kauth.ErrCredentials, Code: "IGW00121", Status: 403})},
			{"description echoes the credentials", 403, tokenErr("IGW00105", "유효하지 않은 AppSecret: "+fakeKey+" / "+fakeSecret), nil,
				want(brokertest.ErrWant{Kind: kauth.ErrCredentials, Code: "IGW00105", Status: 403, Contains: "<redacted>"})},
			{"unknown code under 500", 500, tokenErr("IGW09999", "새로운 오류"), nil,
				want(brokertest.ErrWant{Kind: kauth.ErrUnavailable, Code: "IGW09999", Status: 500})},
			{"unauthorized with an empty object", 401, `{}`, nil,
				want(brokertest.ErrWant{Kind: kauth.ErrCredentials, Code: "HTTP 401", Status: 401})},
			{"wrong JSON types", 200, `{"access_token":42,"expires_in":86400}`, nil,
				want(brokertest.ErrWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "unexpected JSON"})},
			{"success without a token", 200, `{"expires_in":86400}`, nil,
				want(brokertest.ErrWant{Kind: kauth.ErrUnavailable, Code: "HTTP 200", Status: 200, Contains: "no access_token"})},
			{"success without a lifetime", 200, `{"access_token":"` + opaque + `","token_type":"Bearer"}`, nil,
				want(brokertest.ErrWant{Kind: kauth.ErrUnavailable, Code: "HTTP 200", Status: 200, Contains: "no usable lifetime"})},
		},
		Revokes: []brokertest.ErrorCase{
			{"documented answer", 200, `{"code":200,"message":"접근토큰 폐기에 성공하였습니다."}`, nil, nil},
			{"code as a string", 200, `{"code":"200","message":"ok"}`, nil, nil},
			{"bad secret", 403, tokenErr("IGW00105", "유효하지 않은 AppSecret입니다."), nil,
				want(brokertest.ErrWant{Kind: kauth.ErrCredentials, Code: "IGW00105", Status: 403})},
			{"failure code in the body", 200, `{"code":400,"message":"폐기 실패: ` + token + `"}`, nil,
				want(brokertest.ErrWant{Kind: kauth.ErrBadRequest, Code: "400", Status: 200, Contains: "<redacted>"})},
		},
		CallPath: b.CallPath,
		CallOK:   `{"rsp_cd":"00000","rsp_msg":"조회완료","OutBlock":"`,
		Rejections: []brokertest.RejectCase{
			{"ok", 200, `{"rsp_cd":"00000","rsp_msg":"조회완료","t1102OutBlock":{}}`, false},
			// The gateway sends the token codes under 500 and under 200.
			{"token under 500", 500, `{"rsp_cd":"IGW00121","rsp_msg":"유효하지 않은 토큰입니다."}`, true},
			{"token under 200", 200, `{"rsp_cd":"IGW00123","rsp_msg":"토큰 만료"}`, true},
			{"IGW00126", 500, `{"rsp_cd":"IGW00126","rsp_msg":"x"}`, true},
			{"token code as error_code", 403, `{"error_code":"IGW00122","error_description":"x"}`, true},
			{"rate limit", 200, `{"rsp_cd":"IGW00201","rsp_msg":"호출 거래건수를 초과하였습니다."}`, false},
			{"401 with a body", 401, `{}`, true},
			{"business error", 200, `{"rsp_cd":"01234","rsp_msg":"장 운영시간이 아닙니다"}`, false},
			{"unknown refusal", 200, `{"rsp_cd":"IGW00999","rsp_msg":"x"}`, false},
			{"message mentions a token code", 200, `{"rsp_cd":"00000","rsp_msg":"IGW00121"}`, false},
		},
		// The gateway's calls carry the token only; tr_cd and the like
		// are the caller's.
		Authorization:  map[string]string{"authorization": "Bearer " + token},
		AuthorizeOmits: []string{"appkey", "appsecretkey", "appsecret"},
		// A re-issue invalidates the previous token ("KR/US 가 같은 appkey 를
		// 공유하면 한쪽 재발급이 다른 쪽을 무효화한다", an LS client's notes);
		// DB publishes nothing and shares the gateway. kauth must also be
		// right should the old token stay valid.
		Reissue:      brokersim.Demo(b.Name, kauth.Real),
		ReissueModes: []brokersim.ReissueMode{brokersim.ReissueNewRevokeOld, brokersim.ReissueNewKeepOld},
	}
}
