// Package ls implements kauth.Provider and kauth.Authorizer for the LS증권
// (LS Securities, formerly 이베스트투자증권) OPEN API.
//
// The token calls are those of the IGW gateway LS shares with DB증권 (see
// internal/igw): POST /oauth2/token, form-encoded, with appkey,
// appsecretkey and scope=oob; POST /oauth2/revoke with token_type_hint. A
// token's lifetime comes as expire_in (a string) or expires_in (a number)
// and ends earlier than 24 h (07:00 KST the next day); the JWT's exp is
// read too and the earliest wins.
//
// Real and mock: LS serves both from one domain, openapi.ls-sec.co.kr:8080
// — its token page lists the 운영 도메인 and leaves 모의투자 도메인 empty
// (LS증권 OPEN API, REST 접근토큰 발급; mirrored in
// changmai/sector_industry_find, Lssec_API_Documents/REST접근토큰_발급.md),
// and the app key decides: a key registered for 모의투자 gets mock tokens
// and mock answers. Only the WebSocket ports differ (9443 real, 29443 mock:
// WEBSOCKET[주식]_실시간_시세.md there). kauth keeps the two apart by
// Credentials.Env as for every broker.
//
// Every failure is a *kauth.Error built by CheckResponse. Errors never hold
// the app key, the secret or a token.
package ls

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/igw"
	"github.com/kauth/kauth/internal/wire"
)

// Broker is LS's name in kauth.
const Broker kauth.Broker = "ls"

// URL is the LS OPEN API domain, for real and mock alike.
const URL = "https://openapi.ls-sec.co.kr:8080"

// BaseURLEnv is the environment variable that overrides the domain when
// Provider.BaseURL is empty.
const BaseURLEnv = "LS_BASE_URL"

// The ops of the errors the Provider returns.
const (
	OpIssue  = igw.OpIssue
	OpRevoke = igw.OpRevoke
	OpCall   = igw.OpCall
)

var gateway = igw.Gateway{Broker: Broker}

// Provider implements kauth.Provider and kauth.Authorizer for LS. Its zero
// value is ready to use, and it is safe for concurrent use.
type Provider struct {
	// BaseURL overrides the domain (a proxy, the simulator, a test
	// server). If empty, $LS_BASE_URL is used, then URL.
	BaseURL string
	// HTTPClient sends the requests. If nil, a client with a 30 s timeout.
	HTTPClient *http.Client
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

var (
	_ kauth.Provider   = (*Provider)(nil)
	_ kauth.Authorizer = (*Provider)(nil)
	_ kauth.Locator    = (*Provider)(nil)
)

// New returns a Provider with default settings.
func New() *Provider { return new(Provider) }

// URL returns the domain that requests for env go to: the same for both.
func (p *Provider) URL(env kauth.Env) string {
	return wire.EnvURL(p.BaseURL, BaseURLEnv, env, URL, URL)
}

// Issue asks LS for an access token (POST /oauth2/token).
func (p *Provider) Issue(ctx context.Context, c kauth.Credentials) (kauth.Token, error) {
	return gateway.Issue(ctx, p.HTTPClient, p.URL(c.Env), c, p.Now)
}

// Revoke asks LS to revoke token (POST /oauth2/revoke).
func (p *Provider) Revoke(ctx context.Context, c kauth.Credentials, token string) error {
	return gateway.Revoke(ctx, p.HTTPClient, p.URL(c.Env), c, token, p.Now)
}

// Authorize sets "authorization: Bearer <token>". tr_cd, tr_cont and
// tr_cont_key are the caller's.
func (p *Provider) Authorize(req *http.Request, _ kauth.Credentials, t kauth.Token) {
	gateway.Authorize(req, t)
}

// Rejected reports whether resp rejected the token: HTTP 401 or rsp_cd
// IGW00121…IGW00126 under any status (LS sends them with 500 too).
// IGW00201, the call-rate limit, is not a rejection.
func (p *Provider) Rejected(resp *http.Response) bool { return gateway.Rejected(resp) }

// CheckResponse turns an LS answer into nil or a *kauth.Error: the one
// place LS's answers become errors.
func CheckResponse(c kauth.Credentials, op string, resp *http.Response, body []byte) error {
	return gateway.CheckResponse(c, op, resp, body)
}

// Spec names LS in the broker list.
var Spec = kauth.BrokerSpec{
	Name:       Broker,
	Display:    "LS (LS증권)",
	Aliases:    []string{"ls-sec", "lssec", "ebest", "ls증권", "이베스트"},
	RealURL:    URL,
	MockURL:    URL,
	KeyVar:     "LS_APPKEY",
	SecretVar:  "LS_APPSECRET",
	BaseURLVar: BaseURLEnv,
	EnvVar:     "LS_ENV",
	SecretName: "appsecretkey",
	New: func(base string, client *http.Client, now func() time.Time) kauth.Provider {
		return &Provider{BaseURL: base, HTTPClient: client, Now: now}
	},
	// The REST API lives under /stock/ (e.g. /stock/market-data,
	// /stock/investinfo in LS's REST[주식] pages), never /oauth2/.
	// /futureoption/market-data and /indtp/market-data in REST[선물옵션]
	// and REST[업종] 시세.
	PathPrefixes: []string{"/stock/", "/futureoption/", "/indtp/"},
	// LS limits each TR per second (t1102 3 TPS); 90% of 3.
	RateLimit:    func(kauth.Env) float64 { return 2.7 },
	Probe:        probe,
	ProbeOK:      probeOK,
	TokenPath:    "/oauth2/token",
	RevokePath:   "/oauth2/revoke",
	FacadeToken:  igw.TokenAnswer,
	FacadeRevoke: igw.RevokeAnswer,
	FacadeError:  igw.ErrorAnswer,
}

// MinIssueInterval implements kauth.IssueSpacer. LS publishes no issuance
// limit for /oauth2/token: the 1 s guard. (Two programs sharing an app key
// invalidate each other's token by issuing — "KR/US 가 같은 appkey 를
// 공유하면 한쪽 재발급이 다른 쪽을 무효화한다", an LS client's notes — so
// one shared token is what kauth is for.)
func (p *Provider) MinIssueInterval() time.Duration { return time.Second }

// MaxLifetime implements kauth.LifetimeCapper: until 07:00 KST the next day
// (NextExpiry), 31 h for a token issued at midnight KST, the longest.
func (p *Provider) MaxLifetime() time.Duration { return 31 * time.Hour }

// probe builds 주식현재가(시세)조회 t1102 for Samsung Electronics: POST
// /stock/market-data with headers tr_cd t1102, tr_cont N, tr_cont_key and
// body {"t1102InBlock":{"shcode":"005930","exchgubun":"K"}} (LS REST[주식]
// 시세; the exchgubun field as LS's SDK models it).
func probe(ctx context.Context, base *url.URL) (*http.Request, error) {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/stock/market-data"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(),
		strings.NewReader(`{"t1102InBlock":{"shcode":"005930","exchgubun":"K"}}`))
	if err != nil {
		return nil, err
	}
	req.Header["Content-Type"] = []string{"application/json; charset=utf-8"}
	req.Header["tr_cd"] = []string{"t1102"}
	req.Header["tr_cont"] = []string{"N"}
	req.Header["tr_cont_key"] = []string{""}
	return req, nil
}

// probeOK: rsp_cd "00000" is LS's success.
func probeOK(body []byte) bool {
	var b struct {
		RspCd string `json:"rsp_cd"`
	}
	return json.Unmarshal(body, &b) == nil && b.RspCd == "00000"
}

// NextExpiry returns when an LS token issued at t ends: 07:00 KST the next
// day ("발급일 익일 07시까지 유효", as LS clients record it; an issuance
// seen to last expires_in≈40867 s confirms a fixed morning expiry rather
// than 24 h).
func NextExpiry(t time.Time) time.Time {
	k := t.In(kauth.KST)
	return time.Date(k.Year(), k.Month(), k.Day()+1, 7, 0, 0, 0, kauth.KST)
}
