package kis

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kauth/kauth"
)

// What the kauth agent asks of a broker: the endpoints and answer shapes of
// its facade, the API it proxies, the call that checks a token, and the
// default pace of proxied calls. The agent finds these methods on the
// Provider by type assertion.

// FacadePaths returns KIS's token and revoke endpoints (접근토큰발급(P)
// POST /oauth2/tokenP, 접근토큰폐기(P) POST /oauth2/revokeP).
func (p *Provider) FacadePaths() (token, revoke string) { return "/oauth2/tokenP", "/oauth2/revokeP" }

// FacadeToken is KIS's answer of /oauth2/tokenP for t at now:
// access_token, token_type "Bearer", expires_in (seconds; KIS counts them
// from the first issuance, so on a re-issue they are the seconds left) and
// access_token_token_expired in KST, "2006-01-02 15:04:05" (read as such
// by kis_auth.py save_token's strptime and pykis KisAccessToken's
// KisDatetime).
func (p *Provider) FacadeToken(t kauth.Token, now time.Time) (http.Header, any) {
	left := int64(t.ExpiresAt.Sub(now) / time.Second)
	return nil, map[string]any{
		"access_token":               t.AccessToken,
		"token_type":                 "Bearer",
		"expires_in":                 max(left, 0),
		"access_token_token_expired": t.ExpiresAt.In(kauth.KST).Format(ExpiryLayout),
	}
}

// FacadeRevoke is KIS's answer of /oauth2/revokeP: code 200 (a number on
// the wire) and message; see Provider.Revoke and brokersim's kisRevoke.
func (p *Provider) FacadeRevoke() (http.Header, any) {
	return nil, map[string]any{"code": 200, "message": "접근토큰 폐기에 성공하였습니다"}
}

// FacadeError is an error in KIS's shape, so that a client's own error
// path runs: {"rt_cd":"1","msg_cd","msg1"} — what kis_auth.py's APIResp
// reads (msg_cd, msg1) and pykis's KisHTTPError reads (msg_cd) — with
// error_code and error_description too, the shape of KIS's /oauth2
// errors.
func (p *Provider) FacadeError(code, msg string) any {
	return map[string]string{
		"rt_cd": "1", "msg_cd": code, "msg1": msg,
		"error_code": code, "error_description": msg,
	}
}

// ApprovalPath is KIS's WebSocket approval-key endpoint (실시간 (웹소켓)
// 접속키 발급 POST /oauth2/Approval).
func (p *Provider) ApprovalPath() string { return "/oauth2/Approval" }

// FacadeApproval is KIS's answer of /oauth2/Approval: {"approval_key": …}
// (kis_auth.py auth_ws reads approval_key).
func (p *Provider) FacadeApproval(key kauth.Token) any {
	return map[string]string{"approval_key": key.AccessToken}
}

// NewApprovalManager returns a Manager of the WebSocket approval key of
// cfg.Credentials, issued through p (see the package function).
func (p *Provider) NewApprovalManager(cfg kauth.Config) (*kauth.Manager, error) {
	return NewApprovalManager(p, cfg)
}

// APIPrefixes are the paths of KIS's API: every REST path in its API
// portal is under /uapi/ (never the /oauth2/ token endpoints).
func (p *Provider) APIPrefixes() []string { return []string{"/uapi/"} }

// DefaultRateLimit is 90% of KIS's published limit for one app key: 20
// calls a second on real, 2 on mock.
func (p *Provider) DefaultRateLimit(env kauth.Env) float64 {
	if env == kauth.Mock {
		return 1.8
	}
	return 18
}

// Probe builds a price quote of Samsung Electronics (005930), a call every
// app key may make.
//
// 주식현재가 시세 [v1_국내주식-008]: GET
// /uapi/domestic-stock/v1/quotations/inquire-price, tr_id FHKST01010100,
// FID_COND_MRKT_DIV_CODE=J, FID_INPUT_ISCD (koreainvestment/open-trading-api,
// examples_llm/domestic_stock/inquire_price). The tr_id is the same on mock.
func (p *Provider) Probe(ctx context.Context, base *url.URL) (*http.Request, error) {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/uapi/domestic-stock/v1/quotations/inquire-price"
	u.RawQuery = url.Values{"FID_COND_MRKT_DIV_CODE": {"J"}, "FID_INPUT_ISCD": {"005930"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header["content-type"] = []string{"application/json; charset=utf-8"}
	req.Header["tr_id"] = []string{"FHKST01010100"}
	req.Header["custtype"] = []string{"P"}
	return req, nil
}

// ProbeOK reports whether a probe's JSON answer is a success: KIS answers
// errors, rate limits included, with HTTP 200 and rt_cd "1"; rt_cd "0" is
// the success.
func (p *Provider) ProbeOK(body []byte) bool {
	var b struct {
		RtCd *string `json:"rt_cd"`
	}
	return json.Unmarshal(body, &b) == nil && b.RtCd != nil && *b.RtCd == "0"
}
