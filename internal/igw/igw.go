// Package igw implements the brokers whose Open API sits behind the same
// OAuth2 gateway: LS증권 and DB증권. Both answer with "IGW" codes, take the
// same form-encoded token request and carry the token the same way, so the
// provider is written once here, as Provider, and the ls and db packages
// hold only their facts: a Config (name, domain, variable, probe call,
// issuance rules) behind a Facts type.
//
// Wire facts (LS증권 OPEN API, REST 접근토큰 발급 and 폐기, the pages of
// openapi.ls-sec.co.kr/apiservice as mirrored in changmai/sector_industry_find,
// Lssec_API_Documents/REST접근토큰_발급.md and REST접근토큰_폐기.md; DB증권's
// client teranum/python-packages, dbopenapi/src/dbopenapi/OpenApi.py, sends
// the same form):
//
//   - POST /oauth2/token, application/x-www-form-urlencoded:
//     grant_type=client_credentials, appkey, appsecretkey, scope=oob.
//   - The answer: access_token, token_type (Bearer), scope (oob) and the
//     lifetime in seconds — the table names it expire_in (a string), the
//     example sends expires_in (a number). Both are read.
//   - The token is a JWT whose payload has exp (the example's payload:
//     "iss":"unogw", "exp", "iat"). LS's tokens end at 07:00 KST the next
//     day, earlier than 24 h; the expiry is the earliest of the lifetime
//     and exp.
//   - POST /oauth2/revoke, form: appkey, appsecretkey, token_type_hint
//     (access_token), token; the answer {"code":200,"message":…}.
//   - Token-endpoint errors come as HTTP 403 (or 401) with
//     {"error_code":"IGW00105","error_description":"유효하지 않은
//     AppSecret입니다."}; other calls answer {"rsp_cd","rsp_msg"}, "00000"
//     a success, and a rejected token as IGW00121…IGW00126 under HTTP 200
//     or 500. IGW00201 is the call-rate limit (호출 거래건수를 초과하였습니다):
//     back off, never re-issue.
package igw

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/wire"
)

// The ops of the errors a Provider returns.
const (
	OpIssue  = "issue"
	OpRevoke = "revoke"
	OpCall   = "call"
)

// Config is what one broker behind the gateway is: everything the two
// differ in. The token calls, the codes and the error rules are the
// gateway's and live in this package.
type Config struct {
	// Broker is the broker's name in kauth; errors name it.
	Broker kauth.Broker
	// URL is the REST domain, for real and mock alike: both brokers tell
	// a mock app by its key, not by the domain.
	URL string
	// BaseURLEnv is the environment variable that overrides URL when
	// Provider.BaseURL is empty.
	BaseURLEnv string
	// MinIssueInterval spaces issuances for one app key.
	MinIssueInterval time.Duration
	// MaxLifetime is the longest a token of the broker can live.
	MaxLifetime time.Duration
	// Probe is a cheap authenticated call that proves a token works.
	Probe Call
	// APIPrefixes are the paths of the broker's REST API that the agent
	// proxies, never /oauth2/.
	APIPrefixes []string
	// RateLimit is the default pace of proxied calls per second for one
	// app key: 90% of the broker's published limit.
	RateLimit float64
}

// Call is one REST call of a broker: POST Path with Header and Body.
type Call struct {
	Path        string
	ContentType string
	// Header holds the broker's own headers, set verbatim (the gateway's
	// header names, such as tr_cd, are lower-case and not canonical).
	Header map[string]string
	Body   string
}

// Facts is a broker behind the gateway as a type, so that a Provider of it
// needs no field to know which broker it is and its zero value works.
// Config must return the same value on every call.
type Facts interface {
	Config() Config
}

// Provider implements kauth.Provider, kauth.Authorizer and kauth.Locator
// for the broker F. Its zero value is ready to use, and it is safe for
// concurrent use.
type Provider[F Facts] struct {
	// BaseURL overrides the domain (a proxy, the simulator, a test
	// server). If empty, the broker's BaseURLEnv is used, then its URL.
	BaseURL string
	// HTTPClient sends the requests. If nil, a client with a 30 s timeout.
	HTTPClient *http.Client
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

func (p *Provider[F]) config() Config {
	var f F
	return f.Config()
}

// URL returns the domain that requests for env go to: the same for both.
func (p *Provider[F]) URL(env kauth.Env) string {
	c := p.config()
	return wire.EnvURL(p.BaseURL, c.BaseURLEnv, env, c.URL, c.URL)
}

// Issue asks the broker for an access token (POST /oauth2/token).
func (p *Provider[F]) Issue(ctx context.Context, c kauth.Credentials) (kauth.Token, error) {
	return issue(ctx, p.config().Broker, p.HTTPClient, p.URL(c.Env), c, p.Now)
}

// Revoke asks the broker to revoke token (POST /oauth2/revoke).
func (p *Provider[F]) Revoke(ctx context.Context, c kauth.Credentials, token string) error {
	return revoke(ctx, p.config().Broker, p.HTTPClient, p.URL(c.Env), c, token, p.Now)
}

// Authorize sets the authorization header ("Bearer <token>"). The other
// headers of a call (tr_cd, tr_cont, tr_cont_key for LS; cont_yn, cont_key
// for DB) are the caller's.
func (p *Provider[F]) Authorize(req *http.Request, _ kauth.Credentials, t kauth.Token) {
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	req.Header.Set("Authorization", "Bearer "+t.AccessToken)
}

// Rejected reports whether resp says that the token was rejected: HTTP 401,
// or rsp_cd (or error_code) IGW00121…IGW00126 under any status — the
// gateway sends them with 200 and with 500. IGW00201 is a rate limit, never
// a rejection. It reads at most a few KiB and leaves resp.Body readable.
func (p *Provider[F]) Rejected(resp *http.Response) bool {
	if resp == nil {
		return false
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return true
	}
	if resp.ContentLength > wire.PeekSize && resp.StatusCode/100 == 2 {
		return false
	}
	f := wire.TopLevel(wire.Peek(resp, wire.PeekSize), "rsp_cd", "error_code")
	return rejectCode(f["rsp_cd"]) || rejectCode(f["error_code"])
}

// MinIssueInterval is how far apart the broker's issuances for one app
// key must be.
func (p *Provider[F]) MinIssueInterval() time.Duration { return p.config().MinIssueInterval }

// MaxLifetime is the longest a token of the broker lives.
func (p *Provider[F]) MaxLifetime() time.Duration { return p.config().MaxLifetime }

// Probe builds the broker's probe call under base.
func (p *Provider[F]) Probe(ctx context.Context, base *url.URL) (*http.Request, error) {
	call := p.config().Probe
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + call.Path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(call.Body))
	if err != nil {
		return nil, err
	}
	req.Header["Content-Type"] = []string{call.ContentType}
	for k, v := range call.Header {
		req.Header[k] = []string{v}
	}
	return req, nil
}

// ProbeOK reports whether body, the answer of the probe, is a success:
// rsp_cd "00000" is the gateway's.
func (p *Provider[F]) ProbeOK(body []byte) bool {
	var b struct {
		RspCd string `json:"rsp_cd"`
	}
	return json.Unmarshal(body, &b) == nil && b.RspCd == "00000"
}
