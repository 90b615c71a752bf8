package toss

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/wire"
)

// TokenPath is the token endpoint (paths./oauth2/token in the OpenAPI
// document), the only auth operation Toss publishes.
const TokenPath = "/oauth2/token"

// tokenResponse is components.schemas.OAuth2TokenResponse: access_token,
// token_type ("Bearer") and expires_in in seconds; no refresh token and no
// scope.
type tokenResponse struct {
	AccessToken string       `json:"access_token"`
	TokenType   string       `json:"token_type"`
	ExpiresIn   *wire.Number `json:"expires_in"`
}

// Issue asks Toss for an access token: POST /oauth2/token with the form
// grant_type=client_credentials, client_id and client_secret.
//
// Toss keeps one valid token per client: this token invalidates the one
// issued before it, wherever that one is held. kauth's Manager issues only
// when no valid token is shared; call Issue directly only if nothing else
// uses the client.
//
// ExpiresAt is the receipt time plus expires_in as sent; IssuedAt is the
// receipt time.
func (p *Provider) Issue(ctx context.Context, c kauth.Credentials) (kauth.Token, error) {
	if err := Check(c, OpIssue); err != nil {
		return kauth.Token{}, err
	}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.AppKey},
		"client_secret": {c.AppSecret},
	}
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}}
	resp, data, err := wire.Post(ctx, p.HTTPClient, p.URL(c.Env)+TokenPath, header, []byte(form.Encode()))
	now := p.now()
	if err != nil {
		return kauth.Token{}, transportError(c, OpIssue, resp, err)
	}
	return decodeToken(c, resp, data, now)
}

// decodeToken turns the token endpoint's answer, received at now, into a
// Token.
func decodeToken(c kauth.Credentials, resp *http.Response, body []byte, now time.Time) (kauth.Token, error) {
	if err := checkResponse(c, OpIssue, resp, body, now); err != nil {
		return kauth.Token{}, err
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return kauth.Token{}, malformed(c, OpIssue, resp, fmt.Errorf("unexpected JSON: %w", err))
	}
	if tr.AccessToken == "" {
		return kauth.Token{}, malformed(c, OpIssue, resp, errors.New("answer has no access_token"))
	}
	secs, ok := int64(0), false
	if tr.ExpiresIn != nil {
		secs, ok = tr.ExpiresIn.Int()
	}
	if !ok || secs <= 0 {
		return kauth.Token{}, malformed(c, OpIssue, resp, errors.New("answer has no usable expires_in"))
	}
	return kauth.Token{
		AccessToken: tr.AccessToken,
		Type:        wire.TokenType(tr.TokenType),
		IssuedAt:    now,
		ExpiresAt:   now.Add(time.Duration(secs) * time.Second),
	}, nil
}

// Revoke returns a *kauth.Error with Kind kauth.ErrBadRequest whose cause
// is ErrRevokeUnsupported: Toss publishes no revoke endpoint (the OpenAPI
// document's only auth operation is POST /oauth2/token). Nothing is sent.
func (p *Provider) Revoke(ctx context.Context, c kauth.Credentials, token string) error {
	return &kauth.Error{Broker: Broker, Env: c.Env, Op: OpRevoke, Kind: kauth.ErrBadRequest, Err: ErrRevokeUnsupported}
}

// Check validates c for a call of op before anything is sent. Toss has no
// paper-trading environment, so credentials for kauth.Mock are refused.
func Check(c kauth.Credentials, op string) error {
	if c.Env == kauth.Mock {
		return &kauth.Error{Broker: Broker, Env: c.Env, Op: op, Kind: kauth.ErrBadRequest, Err: ErrNoMock}
	}
	return wire.CheckCredentials(Broker, c, op, "client secret")
}

// ErrNoMock is the cause of the error for credentials at kauth.Mock: Toss
// lists one server, https://openapi.tossinvest.com, and no paper-trading
// (모의투자) domain in its OpenAPI document or its WebSocket contract.
var ErrNoMock = errors.New("Toss has no paper-trading (mock) environment: use env real")
