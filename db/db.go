// Package db implements kauth.Provider and kauth.Authorizer for the DB증권
// (DB Financial Investment) Open API.
//
// The token calls are those of the IGW gateway DB shares with LS증권 (see
// internal/igw): POST /oauth2/token, form-encoded, with appkey,
// appsecretkey and scope=oob (teranum/python-packages,
// dbopenapi/src/dbopenapi/OpenApi.py, login; DB's published REST page at
// openapi.dbsec.co.kr lists the same form), the answer's expires_in, the
// JWT's exp, and IGW codes — IGW00103/IGW00105 for a bad key or secret,
// IGW00201 when calls or issuances come too fast, under HTTP 403 on the
// token endpoint.
//
// Real and mock: DB serves both from one REST domain and the app key
// decides; its client tells a 모의투자 key only from the answers ("모의투자"
// in rsp_msg) and picks the WebSocket port by it (7070 real, 17070 mock:
// OpenApi.py, WSS_URL_REAL and WSS_URL_SIMULATION). kauth keeps the two
// apart by Credentials.Env as for every broker.
//
// DB allows one issuance a minute per app key; kauth spaces them by 61 s
// across processes.
package db

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

// Broker is DB's name in kauth.
const Broker kauth.Broker = "db"

// URL is the DB Open API REST domain, for real and mock alike (DB's
// clients use openapi.dbsec.co.kr:8443; the newer openapi.db-fi.com:8443
// serves the same API).
const URL = "https://openapi.dbsec.co.kr:8443"

// BaseURLEnv is the environment variable that overrides the domain when
// Provider.BaseURL is empty.
const BaseURLEnv = "DBSEC_BASE_URL"

// The ops of the errors the Provider returns.
const (
	OpIssue  = igw.OpIssue
	OpRevoke = igw.OpRevoke
	OpCall   = igw.OpCall
)

var gateway = igw.Gateway{Broker: Broker}

// Provider implements kauth.Provider and kauth.Authorizer for DB. Its zero
// value is ready to use, and it is safe for concurrent use.
type Provider struct {
	// BaseURL overrides the domain (a proxy, the simulator, a test
	// server). If empty, $DBSEC_BASE_URL is used, then URL.
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

// Issue asks DB for an access token (POST /oauth2/token).
func (p *Provider) Issue(ctx context.Context, c kauth.Credentials) (kauth.Token, error) {
	return gateway.Issue(ctx, p.HTTPClient, p.URL(c.Env), c, p.Now)
}

// Revoke asks DB to revoke token (POST /oauth2/revoke).
func (p *Provider) Revoke(ctx context.Context, c kauth.Credentials, token string) error {
	return gateway.Revoke(ctx, p.HTTPClient, p.URL(c.Env), c, token, p.Now)
}

// Authorize sets "authorization: Bearer <token>". cont_yn and cont_key are
// the caller's.
func (p *Provider) Authorize(req *http.Request, _ kauth.Credentials, t kauth.Token) {
	gateway.Authorize(req, t)
}

// Rejected reports whether resp rejected the token: HTTP 401 or rsp_cd
// IGW00121…IGW00126 under any status. IGW00201 is not a rejection.
func (p *Provider) Rejected(resp *http.Response) bool { return gateway.Rejected(resp) }

// CheckResponse turns a DB answer into nil or a *kauth.Error: the one place
// DB's answers become errors.
func CheckResponse(c kauth.Credentials, op string, resp *http.Response, body []byte) error {
	return gateway.CheckResponse(c, op, resp, body)
}

// Spec names DB in the broker list.
var Spec = kauth.BrokerSpec{
	Name:       Broker,
	Display:    "DB (DB증권)",
	Aliases:    []string{"dbsec", "db-fi", "db증권"},
	RealURL:    URL,
	MockURL:    URL,
	KeyVar:     "DBSEC_APPKEY",
	SecretVar:  "DBSEC_APPSECRET",
	BaseURLVar: BaseURLEnv,
	EnvVar:     "DBSEC_ENV",
	SecretName: "appsecretkey",
	New: func(base string, client *http.Client, now func() time.Time) kauth.Provider {
		return &Provider{BaseURL: base, HTTPClient: client, Now: now}
	},
	// Every REST path is under /api/v1/ (OpenApi.py, tr_code_to_path.py).
	PathPrefixes: []string{"/api/"},
	// 현재가조회 PRICE: 5 TPS; 90% of that.
	RateLimit:    func(kauth.Env) float64 { return 4.5 },
	Probe:        probe,
	ProbeOK:      probeOK,
	TokenPath:    "/oauth2/token",
	RevokePath:   "/oauth2/revoke",
	FacadeToken:  igw.TokenAnswer,
	FacadeRevoke: igw.RevokeAnswer,
	FacadeError:  igw.ErrorAnswer,
}

// MinIssueInterval implements kauth.IssueSpacer: 61 s, since DB allows one
// issuance a minute per app key (IGW00201 past it, as DB users report:
// "토큰 발급이 403(IGW00201 호출 거래건수 초과)으로 막힌 상태").
func (p *Provider) MinIssueInterval() time.Duration { return 61 * time.Second }

// MaxLifetime implements kauth.LifetimeCapper: expires_in as DB's clients
// read it, 24 h (teranum/python-packages OpenApi.py keeps
// response_data['expires_in']; DB's token managers add it to now).
func (p *Provider) MaxLifetime() time.Duration { return 24 * time.Hour }

// probe builds 현재가조회 (PRICE) for Samsung Electronics: POST
// /api/v1/quote/kr-stock/inquiry/price with cont_yn and cont_key, body
// {"In":{"InputCondMrktDivCode":"J","InputIscd1":"005930"}}
// (tr_code_to_path.py "PRICE"; the In fields as DB's examples send them).
func probe(ctx context.Context, base *url.URL) (*http.Request, error) {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/quote/kr-stock/inquiry/price"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(),
		strings.NewReader(`{"In":{"InputCondMrktDivCode":"J","InputIscd1":"005930"}}`))
	if err != nil {
		return nil, err
	}
	req.Header["Content-Type"] = []string{"application/json; charset=UTF-8"}
	req.Header["cont_yn"] = []string{"N"}
	req.Header["cont_key"] = []string{""}
	return req, nil
}

// probeOK: rsp_cd "00000" is the gateway's success.
func probeOK(body []byte) bool {
	var b struct {
		RspCd string `json:"rsp_cd"`
	}
	return json.Unmarshal(body, &b) == nil && b.RspCd == "00000"
}
