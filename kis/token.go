package kis

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

// ExpiryLayout is the layout of access_token_token_expired, in KST.
const ExpiryLayout = "2006-01-02 15:04:05"

// ParseExpiry parses access_token_token_expired ("2023-12-22 08:16:59") as
// Korea Standard Time, whatever the machine's time zone.
func ParseExpiry(s string) (time.Time, error) {
	t, err := time.ParseInLocation(ExpiryLayout, strings.TrimSpace(s), kauth.KST)
	if err != nil {
		return time.Time{}, fmt.Errorf("kis: parsing expiry %.64q: want %q in KST", s, ExpiryLayout)
	}
	return t, nil
}

// tokenResponse is the answer of POST /oauth2/tokenP.
type tokenResponse struct {
	AccessToken string      `json:"access_token"`
	TokenType   string      `json:"token_type"`
	ExpiresIn   wire.Number `json:"expires_in"`
	Expired     string      `json:"access_token_token_expired"`
}

// Issue asks KIS for an access token (POST /oauth2/tokenP). Within 6 h of
// the last issuance KIS answers with the previous token and its old expiry;
// that is not an error. KIS allows one issuance a minute per app key and
// alerts the account holder on each, so callers should cache the token.
//
// The token's ExpiresAt is the earlier of access_token_token_expired (KST)
// and the receipt time plus expires_in; IssuedAt is the receipt time.
func (p *Provider) Issue(ctx context.Context, c kauth.Credentials) (kauth.Token, error) {
	if err := check(c, OpIssue); err != nil {
		return kauth.Token{}, err
	}
	resp, data, err := wire.PostJSON(ctx, p.HTTPClient, p.URL(c.Env)+"/oauth2/tokenP", jsonHeader(), map[string]string{
		"grant_type": "client_credentials",
		"appkey":     c.AppKey,
		"appsecret":  c.AppSecret,
	})
	now := p.now()
	if err != nil {
		return kauth.Token{}, transportError(c, OpIssue, resp, err)
	}
	return decodeToken(c, resp, data, now)
}

// decodeToken turns the answer of /oauth2/tokenP, received at now, into a
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

	// expires_in counts from the first issuance, which a re-issued token
	// does not tell, so it may overstate the lifetime; the printed expiry
	// is exact to the second. Take the earlier of the two that are usable.
	var expires time.Time
	if t, err := ParseExpiry(tr.Expired); err == nil {
		expires = t
	}
	if secs, ok := tr.ExpiresIn.Int(); ok && secs > 0 && secs <= 10*365*86400 {
		if t := now.Add(time.Duration(secs) * time.Second); expires.IsZero() || t.Before(expires) {
			expires = t
		}
	}
	if expires.IsZero() {
		return kauth.Token{}, malformed(c, OpIssue, resp, errors.New("answer has no usable access_token_token_expired or expires_in"))
	}
	return kauth.Token{
		AccessToken: tr.AccessToken,
		Type:        wire.TokenType(tr.TokenType),
		IssuedAt:    now,
		ExpiresAt:   expires,
	}, nil
}

// revokeResponse is the answer of POST /oauth2/revokeP. code is documented
// as a string and sent as the number 200.
type revokeResponse struct {
	Code    wire.Number `json:"code"`
	Message string      `json:"message"`
}

// Revoke asks KIS to revoke token (POST /oauth2/revokeP).
func (p *Provider) Revoke(ctx context.Context, c kauth.Credentials, token string) error {
	if err := check(c, OpRevoke); err != nil {
		return err
	}
	if token == "" {
		return &kauth.Error{Broker: kauth.KIS, Env: c.Env, Op: OpRevoke, Kind: kauth.ErrBadRequest, Message: "no token to revoke"}
	}
	resp, data, err := wire.PostJSON(ctx, p.HTTPClient, p.URL(c.Env)+"/oauth2/revokeP", jsonHeader(), map[string]string{
		"appkey":    c.AppKey,
		"appsecret": c.AppSecret,
		"token":     token,
	})
	if err != nil {
		return transportError(c, OpRevoke, resp, err)
	}
	now := p.now()
	if err := checkResponse(c, OpRevoke, resp, data, now, token); err != nil {
		return err
	}
	var rr revokeResponse
	if err := json.Unmarshal(data, &rr); err != nil {
		return malformed(c, OpRevoke, resp, fmt.Errorf("unexpected JSON: %w", err))
	}
	if rr.Code != "" && rr.Code != "200" {
		if n, ok := rr.Code.Int(); !ok || n != 200 {
			return &kauth.Error{
				Broker: kauth.KIS, Env: c.Env, Op: OpRevoke, Kind: kauth.ErrBadRequest,
				Code:       wire.Code(string(rr.Code)),
				Message:    wire.Message(rr.Message, c.AppKey, c.AppSecret, token),
				StatusCode: resp.StatusCode,
			}
		}
	}
	return nil
}

// check validates c before anything is sent.
func check(c kauth.Credentials, op string) error {
	return wire.CheckCredentials(kauth.KIS, c, op, "app secret")
}

// malformed reports a successful status whose body lacks what it must hold.
func malformed(c kauth.Credentials, op string, resp *http.Response, err error) error {
	return wire.Malformed(kauth.KIS, c.Env, op, resp, err)
}
