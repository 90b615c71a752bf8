package kiwoom

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/wire"
)

// What the kauth agent asks of a broker: the endpoints and answer shapes of
// its facade, the API it proxies, the call that checks a token, and the
// default pace of proxied calls. The agent finds these methods on the
// Provider by type assertion.

// OKMessage is Kiwoom's return_msg of a successful call.
const OKMessage = "정상적으로 처리되었습니다"

// FacadePaths returns Kiwoom's token and revoke endpoints (접근토큰 발급
// au10001 POST /oauth2/token, 접근토큰폐기 au10002 POST /oauth2/revoke).
func (p *Provider) FacadePaths() (token, revoke string) { return "/oauth2/token", "/oauth2/revoke" }

// answerHeaders are the headers Kiwoom lists on every answer, in its
// lowercase (kiwoom/_data/kiwoom_api_spec.json; see brokersim): api-id,
// cont-yn and next-key.
func answerHeaders(apiID string) http.Header {
	return http.Header{"api-id": {apiID}, "cont-yn": {"N"}, "next-key": {""}}
}

// FacadeToken is Kiwoom's answer of au10001 for t: expires_dt in KST
// "20060102150405", token_type "bearer", token, return_code 0 and
// return_msg (the SDK, kiwoom/core/auth.py refresh_access_token, reads
// token, token_type, expires_dt and a zero return_code), with the headers
// of every Kiwoom answer.
func (p *Provider) FacadeToken(t kauth.Token, _ time.Time) (http.Header, any) {
	return answerHeaders(APIIDIssue), map[string]any{
		"expires_dt":  t.ExpiresAt.In(kauth.KST).Format(ExpiryLayout),
		"token_type":  "bearer",
		"token":       t.AccessToken,
		"return_code": 0,
		"return_msg":  OKMessage,
	}
}

// FacadeRevoke is Kiwoom's answer of au10002: return_code 0 and
// return_msg; the SDK (kiwoom/core/auth.py revoke_access_token) requires
// return_code to be present and 0.
func (p *Provider) FacadeRevoke() (http.Header, any) {
	return answerHeaders(APIIDRevoke), map[string]any{"return_code": 0, "return_msg": OKMessage}
}

// FacadeError is an error in Kiwoom's shape, {"return_code": n,
// "return_msg"}, n a number as the SDK's int(data["return_code"]) needs:
// code itself when it is one of Kiwoom's numeric codes, 1700 ("허용된 요청
// 개수를 초과하였습니다") for a rate limit, else 1 with code in the message.
func (p *Provider) FacadeError(code, msg string) any {
	n, err := strconv.Atoi(code)
	if err != nil || n == 0 {
		switch code {
		case "rate_limited":
			n = 1700
		default:
			n = 1 // not one of Kiwoom's codes; msg says what happened
		}
	}
	return map[string]any{"return_code": n, "return_msg": msg + " [" + code + "]"}
}

// APIPrefixes are the paths of Kiwoom's API: the REST API guide's
// /api/dostk/… (never the /oauth2/ token endpoints).
func (p *Provider) APIPrefixes() []string { return []string{"/api/"} }

// DefaultRateLimit is 90% of Kiwoom's 5 calls a second.
func (p *Provider) DefaultRateLimit(kauth.Env) float64 { return 4.5 }

// Probe builds a stock info call for Samsung Electronics (005930), a call
// every app key may make.
//
// 주식기본정보요청 ka10001: POST /api/dostk/stkinfo, header api-id, body
// {"stk_cd":"005930"} (Kiwoom-Securities/Kiwoom-REST-API,
// examples/국내주식/종목정보/get_domestic_stock_info.py).
func (p *Provider) Probe(ctx context.Context, base *url.URL) (*http.Request, error) {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/dostk/stkinfo"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(`{"stk_cd":"005930"}`))
	if err != nil {
		return nil, err
	}
	req.Header["Content-Type"] = []string{"application/json;charset=UTF-8"}
	req.Header["api-id"] = []string{"ka10001"}
	return req, nil
}

// ProbeOK reports whether a probe's JSON answer is a success: Kiwoom
// answers errors, rate limits included, with HTTP 200 and a non-zero
// return_code (a number or a numeric string).
func (p *Provider) ProbeOK(body []byte) bool {
	var b struct {
		ReturnCode *wire.Number `json:"return_code"`
	}
	return json.Unmarshal(body, &b) == nil && b.ReturnCode != nil && b.ReturnCode.IsZero()
}
