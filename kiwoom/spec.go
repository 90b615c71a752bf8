package kiwoom

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

// Spec names Kiwoom in the broker list.
var Spec = kauth.BrokerSpec{
	Name:       kauth.Kiwoom,
	Display:    "Kiwoom (키움증권)",
	Aliases:    []string{"키움", "키움증권"},
	RealURL:    RealURL,
	MockURL:    MockURL,
	KeyVar:     "KIWOOM_APPKEY",
	SecretVar:  "KIWOOM_SECRETKEY",
	BaseURLVar: BaseURLEnv,
	EnvVar:     "KIWOOM_ENV",
	SecretName: "secretkey",
	New: func(base string, client *http.Client, now func() time.Time) kauth.Provider {
		return &Provider{BaseURL: base, HTTPClient: client, Now: now}
	},
	// Kiwoom serves its API under /api/ (the REST API guide's /api/dostk/…).
	PathPrefixes: []string{"/api/"},
	// 5 calls a second: 90% of that.
	RateLimit: func(kauth.Env) float64 { return 4.5 },
	Probe:     probe,
	ProbeOK: func(body []byte) bool {
		var b struct {
			ReturnCode *wire.Number `json:"return_code"`
		}
		return json.Unmarshal(body, &b) == nil && b.ReturnCode != nil && b.ReturnCode.IsZero()
	},
	TokenPath:  "/oauth2/token",
	RevokePath: "/oauth2/revoke",
}

// MinIssueInterval implements kauth.IssueSpacer. Kiwoom documents no
// issuance limit: a 1 s guard against storms.
func (p *Provider) MinIssueInterval() time.Duration { return time.Second }

// MaxLifetime implements kauth.LifetimeCapper: "유효기간: 24시간" (Kiwoom
// 접근토큰 발급 au10001); expires_dt is read as sent within it.
func (p *Provider) MaxLifetime() time.Duration { return 24 * time.Hour }

// BindsTokenToIP implements kauth.IPBinder: Kiwoom refuses a token used
// from another IP than the one that issued it, with 8010 "Token을 발급받은
// IP와 서비스를 요청한 IP가 동일하지 않습니다" (Kiwoom's published
// error-code list).
func (p *Provider) BindsTokenToIP() bool { return true }

// probe builds a stock info call for Samsung Electronics (005930).
//
// 주식기본정보요청 ka10001: POST /api/dostk/stkinfo, header api-id, body
// {"stk_cd":"005930"} (Kiwoom-Securities/Kiwoom-REST-API,
// examples/국내주식/종목정보/get_domestic_stock_info.py).
func probe(ctx context.Context, base *url.URL) (*http.Request, error) {
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
