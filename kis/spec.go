package kis

import (
	"net/http"
	"time"

	"github.com/kauth/kauth"
)

// Spec is KIS's entry in the broker registry.
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
	// KIS allows one issuance a minute per app key (EGW00133).
	MinIssueInterval: 61 * time.Second,
	// The same token within 6 h of the last issuance.
	Reissue:     "same",
	IssueLimit:  time.Minute,
	TokenExpiry: func(t time.Time) time.Time { return t.Add(24 * time.Hour) },
	// "Access token 유효기간: 1일" for the client-credentials grant that
	// kauth uses (KIS 접근토큰발급(P) /oauth2/tokenP, response access_token).
	MaxLifetime: 24 * time.Hour,
	Sim:         "kis",
}

func init() { kauth.RegisterBroker(Spec) }
