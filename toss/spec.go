package toss

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kauth/kauth"
)

// Spec is Toss's entry in the broker list.
var Spec = kauth.BrokerSpec{
	Name:    Broker,
	Display: "Toss (토스증권)",
	Aliases: []string{"tossinvest", "토스", "토스증권"},
	RealURL: URL,
	// No paper-trading environment (see ErrNoMock).
	MockURL:    "",
	KeyVar:     "TOSS_CLIENT_ID",
	SecretVar:  "TOSS_CLIENT_SECRET",
	BaseURLVar: BaseURLEnv,
	EnvVar:     "TOSS_ENV",
	SecretName: "client_secret",
	New: func(base string, client *http.Client, now func() time.Time) kauth.Provider {
		return &Provider{BaseURL: base, HTTPClient: client, Now: now}
	},
}

// ProbePath is the probe's call: the current price of Samsung Electronics,
// GET /api/v1/prices?symbols=005930 (MARKET_DATA, token only, no account
// header; paths./api/v1/prices.get in the OpenAPI document).
const ProbePath = "/api/v1/prices?symbols=005930"

// probe builds the price quote that every client may make.
func probe(ctx context.Context, base *url.URL) (*http.Request, error) {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/prices"
	u.RawQuery = "symbols=005930"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// probeOK: a success is {"result":[…]} with at least one price and no
// error (components.schemas.ApiResponse: result and error never come
// together).
func probeOK(body []byte) bool {
	var b struct {
		Result []json.RawMessage `json:"result"`
		Error  json.RawMessage   `json:"error"`
	}
	return json.Unmarshal(body, &b) == nil && len(b.Result) > 0 && len(b.Error) == 0
}

// TokenAnswer is the token endpoint's success for t at now, in Toss's
// shape: access_token, token_type "Bearer" and expires_in, the seconds
// left (components.schemas.OAuth2TokenResponse).
func TokenAnswer(t kauth.Token, now time.Time) any {
	left := int64(t.ExpiresAt.Sub(now) / time.Second)
	return map[string]any{"access_token": t.AccessToken, "token_type": "Bearer", "expires_in": max(left, 0)}
}

// ErrorAnswer is an error in the token endpoint's OAuth 2.0 shape
// (components.schemas.OAuth2ErrorResponse), the answer a client of the
// token endpoint reads.
func ErrorAnswer(code, msg string) any {
	return map[string]string{"error": code, "error_description": msg}
}
