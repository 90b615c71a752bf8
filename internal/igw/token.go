package igw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/wire"
)

// tokenResponse is the answer of POST /oauth2/token.
type tokenResponse struct {
	AccessToken string      `json:"access_token"`
	TokenType   string      `json:"token_type"`
	Scope       string      `json:"scope"`
	ExpireIn    wire.Number `json:"expire_in"`  // the table: a string
	ExpiresIn   wire.Number `json:"expires_in"` // the example: a number
}

// issue asks the gateway at base for an access token for broker.
func issue(ctx context.Context, broker kauth.Broker, client *http.Client, base string, c kauth.Credentials, now func() time.Time) (kauth.Token, error) {
	if err := check(broker, c, OpIssue); err != nil {
		return kauth.Token{}, err
	}
	form := url.Values{
		"grant_type":   {"client_credentials"},
		"appkey":       {c.AppKey},
		"appsecretkey": {c.AppSecret},
		"scope":        {"oob"},
	}
	resp, data, err := wire.Post(ctx, client, base+"/oauth2/token", formHeader(), []byte(form.Encode()))
	at := wire.Now(now)
	if err != nil {
		return kauth.Token{}, wire.TransportError(broker, c.Env, OpIssue, resp, err)
	}
	if err := checkResponse(broker, c, OpIssue, resp, data, at); err != nil {
		return kauth.Token{}, err
	}
	var tr tokenResponse
	if err := json.Unmarshal(data, &tr); err != nil {
		return kauth.Token{}, wire.Malformed(broker, c.Env, OpIssue, resp, fmt.Errorf("unexpected JSON: %w", err))
	}
	if tr.AccessToken == "" {
		return kauth.Token{}, wire.Malformed(broker, c.Env, OpIssue, resp, errors.New("answer has no access_token"))
	}
	expires, ok := Expiry(tr.AccessToken, at, tr.ExpireIn, tr.ExpiresIn)
	if !ok {
		return kauth.Token{}, wire.Malformed(broker, c.Env, OpIssue, resp, errors.New("answer has no usable lifetime (expire_in, expires_in or the token's exp)"))
	}
	return kauth.Token{
		AccessToken: tr.AccessToken,
		Type:        wire.TokenType(tr.TokenType),
		IssuedAt:    at,
		ExpiresAt:   expires,
	}, nil
}

// Expiry returns the earliest of now plus each lifetime (seconds) and the
// exp of the token's JWT payload, if any of them is usable.
func Expiry(token string, now time.Time, lifetimes ...wire.Number) (time.Time, bool) {
	var best time.Time
	take := func(t time.Time) {
		if best.IsZero() || t.Before(best) {
			best = t
		}
	}
	for _, n := range lifetimes {
		if s, ok := n.Int(); ok && s > 0 && s < 1<<31 {
			take(now.Add(time.Duration(s) * time.Second))
		}
	}
	if exp, ok := JWTExpiry(token); ok {
		take(exp)
	}
	return best, !best.IsZero()
}

// JWTExpiry reads the exp claim of a JWT's payload, unverified: it says
// when the gateway will stop accepting the token, whatever the answer's
// lifetime field claims.
func JWTExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(parts[1]) > 4096 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == "" {
		return time.Time{}, false
	}
	exp, err := strconv.ParseInt(claims.Exp.String(), 10, 64)
	if err != nil || exp <= 0 || exp > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(exp, 0), true
}

// revoke asks the gateway at base to revoke broker's token.
func revoke(ctx context.Context, broker kauth.Broker, client *http.Client, base string, c kauth.Credentials, token string, now func() time.Time) error {
	if err := check(broker, c, OpRevoke); err != nil {
		return err
	}
	if token == "" {
		return &kauth.Error{Broker: broker, Env: c.Env, Op: OpRevoke, Kind: kauth.ErrBadRequest, Message: "no token to revoke"}
	}
	form := url.Values{
		"appkey":          {c.AppKey},
		"appsecretkey":    {c.AppSecret},
		"token_type_hint": {"access_token"},
		"token":           {token},
	}
	resp, data, err := wire.Post(ctx, client, base+"/oauth2/revoke", formHeader(), []byte(form.Encode()))
	if err != nil {
		return wire.TransportError(broker, c.Env, OpRevoke, resp, err)
	}
	return checkResponse(broker, c, OpRevoke, resp, data, wire.Now(now), token)
}

func formHeader() http.Header {
	return http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
}
