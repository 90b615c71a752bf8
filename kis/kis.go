// Package kis implements kauth.Provider and kauth.Authorizer for the
// 한국투자증권 (Korea Investment & Securities, KIS) Open API.
//
// A Provider issues access tokens (POST /oauth2/tokenP), revokes them
// (POST /oauth2/revokeP), issues WebSocket approval keys
// (POST /oauth2/Approval) and computes order hash keys (POST /uapi/hashkey).
// It knows the wire quirks that matter to a token cache:
//
//   - access_token_token_expired is Korea Standard Time with no zone marker,
//     and expires_in has no reference time on a re-issued token (KIS answers
//     a re-issue within 6 h with the previous token). The expiry is the
//     earlier of the two, computed the same under any TZ.
//   - Token-endpoint errors are flat ({"error_code","error_description"}
//     under HTTP 403); other calls answer {"rt_cd","msg_cd","msg1"}, and
//     the token errors EGW00121..EGW00123 come with HTTP 200 or 500. The
//     code in the body decides, whatever the status.
//
// Every failure is a *kauth.Error whose Kind is one of the kauth.Err*
// kinds, built by CheckResponse. Errors never hold the app key, the app
// secret or a token.
package kis

import (
	"net/http"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/wire"
)

// The KIS Open API domains.
const (
	RealURL = "https://openapi.koreainvestment.com:9443"
	MockURL = "https://openapivts.koreainvestment.com:29443"
)

// BaseURLEnv is the environment variable that overrides the domain when
// Provider.BaseURL is empty.
const BaseURLEnv = "KIS_BASE_URL"

// Provider implements kauth.Provider and kauth.Authorizer for KIS. Its zero
// value is ready to use, and it is safe for concurrent use.
type Provider struct {
	// BaseURL overrides the domain for both environments (a proxy, the
	// simulator, a test server). If empty, $KIS_BASE_URL is used; if that
	// is empty too, RealURL or MockURL by the credentials' env.
	BaseURL string

	// HTTPClient sends the requests. If nil, a client with a 30 s timeout
	// is used (never http.DefaultClient, which has none).
	HTTPClient *http.Client

	// Now returns the current time; the receipt time of a token anchors its
	// expires_in. If nil, time.Now is used.
	Now func() time.Time
}

// New returns a Provider with default settings.
func New() *Provider { return new(Provider) }

var (
	_ kauth.Provider   = (*Provider)(nil)
	_ kauth.Authorizer = (*Provider)(nil)
)

// URL returns the domain that requests for env go to: BaseURL,
// $KIS_BASE_URL, or RealURL/MockURL. It returns "" for an unknown env when
// nothing overrides the domain.
func (p *Provider) URL(env kauth.Env) string {
	return wire.EnvURL(p.BaseURL, BaseURLEnv, env, RealURL, MockURL)
}

func (p *Provider) now() time.Time { return wire.Now(p.Now) }

// Authorize sets the headers with which KIS authenticates an API call:
// authorization ("Bearer <token>"), appkey and appsecret. Other headers the
// caller set (tr_id, custtype, tr_cont…) are left alone.
func (p *Provider) Authorize(req *http.Request, c kauth.Credentials, t kauth.Token) {
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	req.Header.Set("Authorization", "Bearer "+t.AccessToken)
	req.Header.Set("Appkey", c.AppKey)
	req.Header.Set("Appsecret", c.AppSecret)
}

// Rejected reports whether resp says that the access token was rejected:
// its body carries EGW00121 (invalid), EGW00122 (not found) or EGW00123
// (expired) under any status — KIS sends them with HTTP 200 and with 500 —
// or it is an HTTP 401 that carries no other KIS code.
//
// Rejected reads at most a few KiB of the body and leaves resp.Body readable
// from its beginning, so a large answer still streams to the caller.
func (p *Provider) Rejected(resp *http.Response) bool {
	if resp == nil {
		return false
	}
	// An error answer is small; don't hold up a large successful one.
	if resp.ContentLength > wire.PeekSize && resp.StatusCode/100 == 2 {
		return false
	}
	prefix := wire.Peek(resp, wire.PeekSize)
	// Every rejection names its code in the body: without one of them (or
	// a 401, whose meaning depends on any other code), skip the parse —
	// this runs on every answer the Transport relays.
	if resp.StatusCode != http.StatusUnauthorized && !wire.MentionsAny(prefix, tokenCodes) {
		return false
	}
	f := wire.TopLevel(prefix, "msg_cd", "error_code")
	code := f["msg_cd"]
	if code == "" {
		code = f["error_code"]
	}
	if code == "" {
		return resp.StatusCode == http.StatusUnauthorized
	}
	return tokenCodes[code]
}

// tokenCodes are the KIS codes that reject the access token itself.
var tokenCodes = map[string]bool{
	"EGW00121": true, // 유효하지 않은 token 입니다
	"EGW00122": true, // token을 찾을 수 없습니다
	"EGW00123": true, // 기간이 만료된 token 입니다
}

// request headers of every KIS call kauth makes.
func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json; charset=UTF-8"}}
}
