// Package toss implements kauth.Provider and kauth.Authorizer for the
// 토스증권 (Toss Securities) Open API.
//
// A Provider issues access tokens (POST /oauth2/token, form-encoded
// client_credentials with client_id and client_secret). It knows the wire
// facts that matter to a token cache, each from Toss's OpenAPI document
// (openapi.tossinvest.com/openapi-docs/latest/openapi.json, REST 1.2.14,
// mirrored in kenshin579/toss-go, docs/api/openapi.json) and its overview
// (openapi-docs/overview.md, mirrored there as docs/api/overview.md):
//
//   - Only one access token is valid per client: issuing a new one
//     invalidates the previous one at once ("client 당 유효한 access token
//     은 1 개입니다. 재발급 시 이전에 발급된 token 은 즉시 무효화됩니다.",
//     paths./oauth2/token.post.description). Two programs that each issue
//     kill each other's token; sharing one token is what kauth is for.
//   - No refresh token and no revoke endpoint: the token endpoint is the
//     only auth operation ("refresh token 은 제공되지 않습니다. 만료 시 동일
//     엔드포인트로 재발급합니다."). Revoke reports ErrRevokeUnsupported.
//   - No paper-trading environment: the document lists one server,
//     https://openapi.tossinvest.com, and no mock domain. Credentials for
//     kauth.Mock are refused before anything is sent.
//   - Two error shapes: the token endpoint answers OAuth 2.0 errors
//     ({"error":"invalid_client","error_description":…}); every other API
//     answers {"error":{"code":"invalid-token","message":…,"requestId":…}}.
//   - An IP allow-list: a call from an IP not registered in the Open API
//     settings is refused with 403 ("등록된 허용 IP 목록에 없는 IP 에서의
//     호출은 403 으로 차단됩니다.", overview, 시작하기 2). That refusal is an
//     *IPNotAllowedError; no new token helps, so kauth never re-issues on it.
//
// Realtime is Toss's real-time protocol for a shared realtime.Session and
// the kauth agent's WebSocket gateway: the token in the handshake, one
// declaration that replaces the whole subscription set, the client's text
// PING (see realtime.go for the AsyncAPI facts).
//
// Every failure is a *kauth.Error whose Kind is one of the kauth.Err*
// kinds, built by CheckResponse. Errors never hold the client id, the
// client secret or a token.
package toss

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/tossapi"
	"github.com/kauth/kauth/internal/wire"
)

// Broker is Toss's name in kauth.
const Broker kauth.Broker = "toss"

// URL is the Toss Open API domain (the OpenAPI document's only server).
// Toss has no paper-trading domain.
const URL = "https://openapi.tossinvest.com"

// WebSocketURL is the real-time endpoint (AsyncAPI 1.2.2,
// servers.production, mirrored in kenshin579/toss-go,
// docs/api/asyncapi.json).
const WebSocketURL = "wss://openapi-ws.tossinvest.com/ws/v1"

// BaseURLEnv is the environment variable that overrides the domain when
// Provider.BaseURL is empty.
const BaseURLEnv = "TOSS_BASE_URL"

// AccountHeader carries the account of account, asset and order calls:
// the accountSeq of GET /api/v1/accounts, not the account number
// (components.parameters.AccountSeq in the OpenAPI document).
const AccountHeader = "X-Tossinvest-Account"

// Lifetime is the lifetime Toss documents for a token (expires_in 86400 in
// the OpenAPI document's example). Issue reads expires_in as sent: one
// client records 86399 (choigod1023/toss-dashboard, worker/toss/token.py).
const Lifetime = 86400 * time.Second

// Provider implements kauth.Provider and kauth.Authorizer for Toss. Its
// zero value is ready to use, and it is safe for concurrent use.
type Provider struct {
	// BaseURL overrides the domain (a proxy, the simulator, a test
	// server). If empty, $TOSS_BASE_URL is used, then URL.
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
	_ kauth.Locator    = (*Provider)(nil)
)

// URL returns the domain that requests for env go to: BaseURL,
// $TOSS_BASE_URL, or URL for kauth.Real. Toss has no mock domain: without
// an override, URL(kauth.Mock) is "".
func (p *Provider) URL(env kauth.Env) string {
	return wire.EnvURL(p.BaseURL, BaseURLEnv, env, URL, "")
}

func (p *Provider) now() time.Time { return wire.Now(p.Now) }

// Authorize sets "Authorization: Bearer <token>" (overview, 시작하기 4).
// X-Tossinvest-Account, which account calls need too, is the caller's.
func (p *Provider) Authorize(req *http.Request, _ kauth.Credentials, t kauth.Token) {
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	req.Header.Set("Authorization", "Bearer "+t.AccessToken)
}

// Rejected reports whether resp says that the access token was rejected:
// HTTP 401 with code invalid-token (invalid, or killed by a later
// issuance) or expired-token (components.responses.Unauthorized), or a 401
// whose body names no code. The other 401 codes are not healed by a new
// token: edge-blocked means no Authorization header was sent, and
// login-user-not-found that the client has no login behind it. A 403 (the
// IP allow-list) never is.
//
// Rejected reads at most a few KiB of the body and leaves resp.Body
// readable from its beginning.
func (p *Provider) Rejected(resp *http.Response) bool {
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		return false
	}
	prefix := wire.Peek(resp, wire.PeekSize)
	code := apiCode(prefix)
	return code == "" || rejectCodes[code]
}

// rejectCodes are the 401 codes after which a fresh token may succeed
// (overview, 에러 응답).
var rejectCodes = map[string]bool{
	"invalid-token": true, // 토큰이 유효하지 않거나 형식이 잘못되었습니다.
	"expired-token": true, // 액세스 토큰이 만료되었습니다.
}

// apiCode returns error.code of a common-envelope answer, or "".
func apiCode(body []byte) string {
	if !bytes.Contains(body, []byte(`"code"`)) {
		return ""
	}
	var env apiEnvelope
	if err := unmarshal(body, &env); err != nil || env.Error == nil {
		return ""
	}
	return tossCode(env.Error.Code)
}

// RateGroup returns the rate-limit group of a call (method, path) and the
// calls per second Toss documents for it at now — ORDER_INFO allows 3
// instead of 6 from 09:00 to 09:10 KST — or "" and 0 for a path whose
// group Toss does not document. Toss limits calls per client and per
// group, and tells the limit in force in X-RateLimit-Limit (overview,
// Rate Limits); see internal/tossapi for the table and its source.
func (p *Provider) RateGroup(method, path string, now time.Time) (group string, perSecond float64) {
	g := tossapi.Group(method, path)
	if g == "" {
		return "", 0
	}
	return g, float64(tossapi.PerSecond(g, now))
}

// Probe builds a harmless call that every client may make, to check a
// token: the current price of Samsung Electronics, GET
// /api/v1/prices?symbols=005930 (MARKET_DATA, token only; see ProbePath).
func (p *Provider) Probe(ctx context.Context, base *url.URL) (*http.Request, error) {
	return probe(ctx, base)
}

// ProbeOK reports whether the probe's answer, status 2xx, is a success:
// {"result":[…]} with at least one price and no error.
func (p *Provider) ProbeOK(body []byte) bool { return probeOK(body) }
