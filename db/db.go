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
	"net/http"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/igw"
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

// facts is DB behind the gateway.
type facts struct{}

func (facts) Config() igw.Config {
	return igw.Config{
		Broker:     Broker,
		URL:        URL,
		BaseURLEnv: BaseURLEnv,
		// One issuance a minute per app key (IGW00201 past it, as DB
		// users report: "토큰 발급이 403(IGW00201 호출 거래건수 초과)으로
		// 막힌 상태"), and a second to spare.
		MinIssueInterval: 61 * time.Second,
		// expires_in as DB's clients read it: 24 h (OpenApi.py keeps
		// response_data['expires_in']; DB's token managers add it to now).
		MaxLifetime: 24 * time.Hour,
		// 현재가조회 (PRICE) for Samsung Electronics: POST
		// /api/v1/quote/kr-stock/inquiry/price with cont_yn and cont_key,
		// body {"In":{"InputCondMrktDivCode":"J","InputIscd1":"005930"}}
		// (tr_code_to_path.py "PRICE"; the In fields as DB's examples
		// send them).
		Probe: igw.Call{
			Path:        "/api/v1/quote/kr-stock/inquiry/price",
			ContentType: "application/json; charset=UTF-8",
			Header:      map[string]string{"cont_yn": "N", "cont_key": ""},
			Body:        `{"In":{"InputCondMrktDivCode":"J","InputIscd1":"005930"}}`,
		},
		// DB's REST API: every path is under /api/v1/ (OpenApi.py,
		// tr_code_to_path.py).
		APIPrefixes: []string{"/api/"},
		// 현재가조회 PRICE allows 5 TPS; 90% of that.
		RateLimit: 4.5,
	}
}

// Provider implements kauth.Provider, kauth.Authorizer and kauth.Locator
// for DB. Its zero value is ready to use, and it is safe for
// concurrent use. BaseURL, if empty, falls back to $DBSEC_BASE_URL, then URL.
type Provider = igw.Provider[facts]

var (
	_ kauth.Provider   = (*Provider)(nil)
	_ kauth.Authorizer = (*Provider)(nil)
	_ kauth.Locator    = (*Provider)(nil)
)

// New returns a Provider with default settings.
func New() *Provider { return new(Provider) }

// CheckResponse turns a DB answer into nil or a *kauth.Error: the one
// place its answers become errors.
func CheckResponse(c kauth.Credentials, op string, resp *http.Response, body []byte) error {
	return igw.CheckResponse(Broker, c, op, resp, body)
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
}
