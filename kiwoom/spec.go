package kiwoom

import (
	"net/http"
	"time"

	"github.com/kauth/kauth"
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
