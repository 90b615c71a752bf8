package kiwoom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/wire"
)

// The API IDs of the token calls, sent in the api-id header.
const (
	APIIDIssue  = "au10001"
	APIIDRevoke = "au10002"
)

// ExpiryLayout is the layout of expires_dt, in KST.
const ExpiryLayout = "20060102150405"

// ParseExpiry parses expires_dt ("20241107083713") as Korea Standard Time,
// whatever the machine's time zone.
func ParseExpiry(s string) (time.Time, error) {
	t, err := time.ParseInLocation(ExpiryLayout, strings.TrimSpace(s), kauth.KST)
	if err != nil {
		return time.Time{}, fmt.Errorf("kiwoom: parsing expiry %.64q: want %q in KST", s, ExpiryLayout)
	}
	return t, nil
}

// tokenResponse is the answer of au10001 (POST /oauth2/token).
type tokenResponse struct {
	Token     string `json:"token"`
	TokenType string `json:"token_type"`
	ExpiresDT string `json:"expires_dt"`
}

// Issue asks Kiwoom for an access token (au10001, POST /oauth2/token).
// While a token is valid Kiwoom answers with the same token; that is not an
// error.
//
// The token's ExpiresAt is expires_dt (KST) as sent — lifetimes vary, so
// it is never guessed from the receipt time; IssuedAt is the receipt time.
func (p *Provider) Issue(ctx context.Context, c kauth.Credentials) (kauth.Token, error) {
	if err := check(c, OpIssue); err != nil {
		return kauth.Token{}, err
	}
	resp, data, err := wire.PostJSON(ctx, p.HTTPClient, p.URL(c.Env)+"/oauth2/token", jsonHeader(APIIDIssue), map[string]string{
		"grant_type": "client_credentials",
		"appkey":     c.AppKey,
		"secretkey":  c.AppSecret,
	})
	now := p.now()
	if err != nil {
		return kauth.Token{}, transportError(c, OpIssue, resp, err)
	}
	return decodeToken(c, resp, data, now)
}

// decodeToken turns the answer of au10001, received at now, into a Token.
func decodeToken(c kauth.Credentials, resp *http.Response, body []byte, now time.Time) (kauth.Token, error) {
	if err := checkResponse(c, OpIssue, resp, body, now); err != nil {
		return kauth.Token{}, err
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return kauth.Token{}, malformed(c, OpIssue, resp, fmt.Errorf("unexpected JSON: %w", err))
	}
	if tr.Token == "" {
		return kauth.Token{}, malformed(c, OpIssue, resp, errors.New("answer has no token"))
	}
	expires, err := ParseExpiry(tr.ExpiresDT)
	if err != nil {
		return kauth.Token{}, malformed(c, OpIssue, resp, errors.New("answer has no usable expires_dt"))
	}
	return kauth.Token{
		AccessToken: tr.Token,
		Type:        wire.TokenType(tr.TokenType),
		IssuedAt:    now,
		ExpiresAt:   expires,
	}, nil
}

// Revoke asks Kiwoom to revoke token (au10002, POST /oauth2/revoke).
func (p *Provider) Revoke(ctx context.Context, c kauth.Credentials, token string) error {
	if err := check(c, OpRevoke); err != nil {
		return err
	}
	if token == "" {
		return &kauth.Error{Broker: kauth.Kiwoom, Env: c.Env, Op: OpRevoke, Kind: kauth.ErrBadRequest, Message: "no token to revoke"}
	}
	resp, data, err := wire.PostJSON(ctx, p.HTTPClient, p.URL(c.Env)+"/oauth2/revoke", jsonHeader(APIIDRevoke), map[string]string{
		"appkey":    c.AppKey,
		"secretkey": c.AppSecret,
		"token":     token,
	})
	if err != nil {
		return transportError(c, OpRevoke, resp, err)
	}
	return checkResponse(c, OpRevoke, resp, data, p.now(), token)
}

// check validates c before anything is sent.
func check(c kauth.Credentials, op string) error {
	return wire.CheckCredentials(kauth.Kiwoom, c, op, "secret key")
}
