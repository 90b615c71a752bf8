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
	"net/http"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/igw"
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

// facts is LS behind the gateway.
type facts struct{}

func (facts) Config() igw.Config {
	return igw.Config{
		Broker:     Broker,
		URL:        URL,
		BaseURLEnv: BaseURLEnv,
		// LS publishes no issuance limit for /oauth2/token: the 1 s guard.
		MinIssueInterval: time.Second,
		// Until 07:00 KST the next day (NextExpiry): 31 h for a token
		// issued at midnight KST, the longest.
		MaxLifetime: 31 * time.Hour,
		// 주식현재가(시세)조회 t1102 for Samsung Electronics: POST
		// /stock/market-data with headers tr_cd t1102, tr_cont N,
		// tr_cont_key and body {"t1102InBlock":{"shcode":"005930",
		// "exchgubun":"K"}} (LS REST[주식] 시세; the exchgubun field as
		// LS's SDK models it).
		Probe: igw.Call{
			Path:        "/stock/market-data",
			ContentType: "application/json; charset=utf-8",
			Header:      map[string]string{"tr_cd": "t1102", "tr_cont": "N", "tr_cont_key": ""},
			Body:        `{"t1102InBlock":{"shcode":"005930","exchgubun":"K"}}`,
		},
		// LS's REST API: /stock/ (e.g. /stock/market-data,
		// /stock/investinfo in LS's REST[주식] pages),
		// /futureoption/market-data and /indtp/market-data (REST[선물옵션]
		// and REST[업종] 시세).
		APIPrefixes: []string{"/stock/", "/futureoption/", "/indtp/"},
		// LS limits each TR per second (t1102 3 TPS); 90% of 3.
		RateLimit: 2.7,
	}
}

// Provider implements kauth.Provider, kauth.Authorizer and kauth.Locator
// for LS. Its zero value is ready to use, and it is safe for
// concurrent use. BaseURL, if empty, falls back to $LS_BASE_URL, then URL.
type Provider = igw.Provider[facts]

var (
	_ kauth.Provider   = (*Provider)(nil)
	_ kauth.Authorizer = (*Provider)(nil)
	_ kauth.Locator    = (*Provider)(nil)
)

// New returns a Provider with default settings.
func New() *Provider { return new(Provider) }

// CheckResponse turns an LS answer into nil or a *kauth.Error: the one
// place its answers become errors.
func CheckResponse(c kauth.Credentials, op string, resp *http.Response, body []byte) error {
	return igw.CheckResponse(Broker, c, op, resp, body)
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
}

// NextExpiry returns when an LS token issued at t ends: 07:00 KST the next
// day ("발급일 익일 07시까지 유효", as LS clients record it; an issuance
// seen to last expires_in≈40867 s confirms a fixed morning expiry rather
// than 24 h).
func NextExpiry(t time.Time) time.Time {
	k := t.In(kauth.KST)
	return time.Date(k.Year(), k.Month(), k.Day()+1, 7, 0, 0, 0, kauth.KST)
}
