// Package kiwoom implements kauth.Provider and kauth.Authorizer for the
// 키움증권 (Kiwoom Securities) REST API.
//
// A Provider issues access tokens (au10001, POST /oauth2/token) and revokes
// them (au10002, POST /oauth2/revoke). It knows the wire quirks that matter
// to a token cache:
//
//   - expires_dt is Korea Standard Time with no zone marker, and lifetimes
//     vary (18–24 h): the expiry is expires_dt, never "now + 24 h", computed
//     the same under any TZ.
//   - Errors mostly arrive as HTTP 200 with a non-zero return_code (a number
//     or a numeric string) and the real code in brackets in return_msg:
//     "인증에 실패했습니다[8005:Token이 유효하지 않습니다]". The bracketed
//     code decides; return_code alone does not (1700, a rate limit, and
//     1634, an input error, share return_code 5).
//   - A token is bound to the IP address that issued it (8010): hosts that
//     share a token must share an egress IP.
//
// Every failure is a *kauth.Error whose Kind is one of the kauth.Err*
// kinds, built by CheckResponse. Errors never hold the app key, the secret
// key or a token.
package kiwoom

import (
	"net/http"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/wire"
)

// The Kiwoom REST API domains.
const (
	RealURL = "https://api.kiwoom.com"
	MockURL = "https://mockapi.kiwoom.com"
)

// BaseURLEnv is the environment variable that overrides the domain when
// Provider.BaseURL is empty.
const BaseURLEnv = "KIWOOM_BASE_URL"

// Provider implements kauth.Provider and kauth.Authorizer for Kiwoom. Its
// zero value is ready to use, and it is safe for concurrent use.
type Provider struct {
	// BaseURL overrides the domain for both environments (a proxy, the
	// simulator, a test server). If empty, $KIWOOM_BASE_URL is used; if
	// that is empty too, RealURL or MockURL by the credentials' env.
	BaseURL string

	// HTTPClient sends the requests. If nil, a client with a 30 s timeout
	// is used (never http.DefaultClient, which has none).
	HTTPClient *http.Client

	// Now returns the current time, the IssuedAt of a token. If nil,
	// time.Now is used.
	Now func() time.Time
}

// New returns a Provider with default settings.
func New() *Provider { return new(Provider) }

var (
	_ kauth.Provider   = (*Provider)(nil)
	_ kauth.Authorizer = (*Provider)(nil)
)

// URL returns the domain that requests for env go to: BaseURL,
// $KIWOOM_BASE_URL, or RealURL/MockURL. It returns "" for an unknown env
// when nothing overrides the domain.
func (p *Provider) URL(env kauth.Env) string {
	return wire.EnvURL(p.BaseURL, BaseURLEnv, env, RealURL, MockURL)
}

func (p *Provider) now() time.Time { return wire.Now(p.Now) }

// Authorize sets the authorization header ("Bearer <token>") with which
// Kiwoom authenticates an API call. Other headers (api-id, cont-yn,
// next-key…) are left alone.
func (p *Provider) Authorize(req *http.Request, c kauth.Credentials, t kauth.Token) {
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	req.Header.Set("Authorization", "Bearer "+t.AccessToken)
}

// Rejected reports whether resp says that the access token was rejected:
// an HTTP 401, or a body whose return_msg carries 8003 (token not found),
// 8005 (invalid token), 8031 (token of the other environment) or 8103
// (token or device authentication), whatever the status — Kiwoom sends
// them with HTTP 200. The official SDK re-issues on 8005, 8031 and 8103
// (Kiwoom-Securities/Kiwoom-REST-API, kiwoom/core/client.py). 8010 (token
// used from another IP than the one that issued it) is not a rejection a
// new token heals: see codeKinds.
//
// Rejected reads at most a few KiB of the body and leaves resp.Body readable
// from its beginning, so a large answer still streams to the caller.
func (p *Provider) Rejected(resp *http.Response) bool {
	if resp == nil {
		return false
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return true
	}
	// An error answer is small; don't hold up a large successful one.
	if resp.ContentLength > wire.PeekSize && resp.StatusCode/100 == 2 {
		return false
	}
	prefix := wire.Peek(resp, wire.PeekSize)
	// Every rejection names its code in the body (in return_msg's
	// brackets, or as return_code): without one, skip the parse — this runs
	// on every answer the Transport relays.
	if !wire.MentionsAny(prefix, rejectCodes) {
		return false
	}
	f := wire.TopLevel(prefix, "return_code", "return_msg")
	if wire.Number(f["return_code"]).IsZero() {
		return false
	}
	return rejectCodes[answerCode(wire.Number(f["return_code"]), f["return_msg"])]
}

// rejectCodes are the Kiwoom codes after which a fresh token may succeed.
var rejectCodes = map[string]bool{
	"8003": true, // Access Token을 조회하는데 실패했습니다
	"8005": true, // Token이 유효하지 않습니다
	"8031": true, // 투자구분(실전/모의)이 달라서 Token을 사용할 수 없습니다
	"8103": true, // 토큰 인증 또는 단말기 인증에 실패했습니다
}

// jsonHeader returns the request headers of a Kiwoom call kauth makes:
// the JSON content type and api-id, which the spec marks required on the
// token calls too (au10001, au10002: Kiwoom-Securities/Kiwoom-REST-API,
// kiwoom/_data/kiwoom_api_spec.json, request header "api-id", required Y).
// api-id is set in the map directly, in lowercase as the spec writes it.
func jsonHeader(apiID string) http.Header {
	return http.Header{"Content-Type": {"application/json;charset=UTF-8"}, "api-id": {apiID}}
}
