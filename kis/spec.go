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

// Spec names KIS in the broker list.
var Spec = kauth.BrokerSpec{
	Name:       kauth.KIS,
	Display:    "KIS (한국투자증권)",
	Aliases:    []string{"koreainvestment", "한국투자증권"},
	RealURL:    RealURL,
	MockURL:    MockURL,
	KeyVar:     "KIS_APPKEY",
	SecretVar:  "KIS_APPSECRET",
	BaseURLVar: BaseURLEnv,
	EnvVar:     "KIS_ENV",
	SecretName: "appsecret",
	New: func(base string, client *http.Client, now func() time.Time) kauth.Provider {
		return &Provider{BaseURL: base, HTTPClient: client, Now: now}
	},
	// KIS serves its API under /uapi/ (every REST path in its API portal).
	PathPrefixes: []string{"/uapi/"},
	// 20 calls a second on real, 2 on mock: 90% of that.
	RateLimit: func(e kauth.Env) float64 {
		if e == kauth.Mock {
			return 1.8
		}
		return 18
	},
	Probe: probe,
	ProbeOK: func(body []byte) bool {
		var b struct {
			RtCd *string `json:"rt_cd"`
		}
		return json.Unmarshal(body, &b) == nil && b.RtCd != nil && *b.RtCd == "0"
	},
	TokenPath:  "/oauth2/tokenP",
	RevokePath: "/oauth2/revokeP",
}

// MinIssueInterval implements kauth.IssueSpacer: 61 s, since KIS allows one
// issuance a minute per app key (EGW00133 "접근토큰 발급 잠시 후 다시
// 시도하세요(1분당 1회)").
func (p *Provider) MinIssueInterval() time.Duration { return 61 * time.Second }

// MaxLifetime implements kauth.LifetimeCapper: "Access token 유효기간: 1일"
// for the client-credentials grant that kauth uses (KIS 접근토큰발급(P)
// /oauth2/tokenP, response access_token).
func (p *Provider) MaxLifetime() time.Duration { return 24 * time.Hour }

// probe builds a price quote of Samsung Electronics (005930).
//
// 주식현재가 시세 [v1_국내주식-008]: GET
// /uapi/domestic-stock/v1/quotations/inquire-price, tr_id FHKST01010100,
// FID_COND_MRKT_DIV_CODE=J, FID_INPUT_ISCD (koreainvestment/open-trading-api,
// examples_llm/domestic_stock/inquire_price). The tr_id is the same on mock.
func probe(ctx context.Context, base *url.URL) (*http.Request, error) {
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
