package kis

import (
	"net/http"
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
}

// MinIssueInterval implements kauth.IssueSpacer: 61 s, since KIS allows one
// issuance a minute per app key (EGW00133 "접근토큰 발급 잠시 후 다시
// 시도하세요(1분당 1회)").
func (p *Provider) MinIssueInterval() time.Duration { return 61 * time.Second }

// SameTokenWindow implements kauth.SameTokenWindower: 6 h. KIS documents
// for the access_token of 접근토큰발급(P) /oauth2/tokenP "Access token
// 유효기간 1일 .. 일정시간(6시간) 이내에 재호출 시에는 직전 토큰값을
// 리턴".
func (p *Provider) SameTokenWindow() time.Duration { return 6 * time.Hour }

// MaxLifetime implements kauth.LifetimeCapper: "Access token 유효기간: 1일"
// for the client-credentials grant that kauth uses (KIS 접근토큰발급(P)
// /oauth2/tokenP, response access_token).
func (p *Provider) MaxLifetime() time.Duration { return 24 * time.Hour }
