// Package igw implements the token calls of the brokers whose Open API
// sits behind the same OAuth2 gateway: LS증권 and DB증권. Both answer with
// "IGW" codes, take the same form-encoded token request and carry the token
// the same way; the ls and db packages are thin providers over a Gateway.
//
// Wire facts (LS증권 OPEN API, REST 접근토큰 발급 and 폐기, the pages of
// openapi.ls-sec.co.kr/apiservice as mirrored in changmai/sector_industry_find,
// Lssec_API_Documents/REST접근토큰_발급.md and REST접근토큰_폐기.md; DB증권's
// client teranum/python-packages, dbopenapi/src/dbopenapi/OpenApi.py, sends
// the same form):
//
//   - POST /oauth2/token, application/x-www-form-urlencoded:
//     grant_type=client_credentials, appkey, appsecretkey, scope=oob.
//   - The answer: access_token, token_type (Bearer), scope (oob) and the
//     lifetime in seconds — the table names it expire_in (a string), the
//     example sends expires_in (a number). Both are read.
//   - The token is a JWT whose payload has exp (the example's payload:
//     "iss":"unogw", "exp", "iat"). LS's tokens end at 07:00 KST the next
//     day, earlier than 24 h; the expiry is the earliest of the lifetime
//     and exp.
//   - POST /oauth2/revoke, form: appkey, appsecretkey, token_type_hint
//     (access_token), token; the answer {"code":200,"message":…}.
//   - Token-endpoint errors come as HTTP 403 (or 401) with
//     {"error_code":"IGW00105","error_description":"유효하지 않은
//     AppSecret입니다."}; other calls answer {"rsp_cd","rsp_msg"}, "00000"
//     a success, and a rejected token as IGW00121…IGW00126 under HTTP 200
//     or 500. IGW00201 is the call-rate limit (호출 거래건수를 초과하였습니다):
//     back off, never re-issue.
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

// The ops of the errors a Gateway returns.
const (
	OpIssue  = "issue"
	OpRevoke = "revoke"
	OpCall   = "call"
)

// RateLimitRetryAfter is the back-off after IGW00201 when the answer names
// none: the gateway counts calls per second.
const RateLimitRetryAfter = time.Second

// Gateway is one broker behind the IGW gateway.
type Gateway struct {
	Broker kauth.Broker
}

// codeKinds classifies the gateway's codes.
var codeKinds = map[string]error{
	"IGW00103": kauth.ErrCredentials, // 유효하지 않은 AppKey입니다
	"IGW00105": kauth.ErrCredentials, // 유효하지 않은 AppSecret입니다
	// Token errors: a fresh token may succeed.
	"IGW00121": kauth.ErrTokenRejected, // 유효하지 않은 접근토큰 (invalid or expired)
	"IGW00122": kauth.ErrTokenRejected,
	"IGW00123": kauth.ErrTokenRejected, // 토큰 만료
	"IGW00124": kauth.ErrTokenRejected,
	"IGW00125": kauth.ErrTokenRejected,
	"IGW00126": kauth.ErrTokenRejected,
	"IGW00201": kauth.ErrRateLimited, // 호출 거래건수를 초과하였습니다
}

// rejectCodes are the codes after which a fresh token may succeed.
func rejectCode(code string) bool { return codeKinds[code] == kauth.ErrTokenRejected }

// tokenResponse is the answer of POST /oauth2/token.
type tokenResponse struct {
	AccessToken string      `json:"access_token"`
	TokenType   string      `json:"token_type"`
	Scope       string      `json:"scope"`
	ExpireIn    wire.Number `json:"expire_in"`  // the table: a string
	ExpiresIn   wire.Number `json:"expires_in"` // the example: a number
}

// Issue asks the gateway at base for an access token.
func (g Gateway) Issue(ctx context.Context, client *http.Client, base string, c kauth.Credentials, now func() time.Time) (kauth.Token, error) {
	if err := g.check(c, OpIssue); err != nil {
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
		return kauth.Token{}, wire.TransportError(g.Broker, c.Env, OpIssue, resp, err)
	}
	if err := g.checkResponse(c, OpIssue, resp, data, at); err != nil {
		return kauth.Token{}, err
	}
	var tr tokenResponse
	if err := json.Unmarshal(data, &tr); err != nil {
		return kauth.Token{}, wire.Malformed(g.Broker, c.Env, OpIssue, resp, fmt.Errorf("unexpected JSON: %w", err))
	}
	if tr.AccessToken == "" {
		return kauth.Token{}, wire.Malformed(g.Broker, c.Env, OpIssue, resp, errors.New("answer has no access_token"))
	}
	expires, ok := Expiry(tr.AccessToken, at, tr.ExpireIn, tr.ExpiresIn)
	if !ok {
		return kauth.Token{}, wire.Malformed(g.Broker, c.Env, OpIssue, resp, errors.New("answer has no usable lifetime (expire_in, expires_in or the token's exp)"))
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

// Revoke asks the gateway at base to revoke token.
func (g Gateway) Revoke(ctx context.Context, client *http.Client, base string, c kauth.Credentials, token string, now func() time.Time) error {
	if err := g.check(c, OpRevoke); err != nil {
		return err
	}
	if token == "" {
		return &kauth.Error{Broker: g.Broker, Env: c.Env, Op: OpRevoke, Kind: kauth.ErrBadRequest, Message: "no token to revoke"}
	}
	form := url.Values{
		"appkey":          {c.AppKey},
		"appsecretkey":    {c.AppSecret},
		"token_type_hint": {"access_token"},
		"token":           {token},
	}
	resp, data, err := wire.Post(ctx, client, base+"/oauth2/revoke", formHeader(), []byte(form.Encode()))
	if err != nil {
		return wire.TransportError(g.Broker, c.Env, OpRevoke, resp, err)
	}
	return g.checkResponse(c, OpRevoke, resp, data, wire.Now(now), token)
}

// Authorize sets the authorization header ("Bearer <token>"). The other
// headers of a call (tr_cd, tr_cont, tr_cont_key for LS; cont_yn, cont_key
// for DB) are the caller's.
func (g Gateway) Authorize(req *http.Request, t kauth.Token) {
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	req.Header.Set("Authorization", "Bearer "+t.AccessToken)
}

// Rejected reports whether resp says that the token was rejected: HTTP 401,
// or rsp_cd (or error_code) IGW00121…IGW00126 under any status — the
// gateway sends them with 200 and with 500. IGW00201 is a rate limit, never
// a rejection. It reads at most a few KiB and leaves resp.Body readable.
func (g Gateway) Rejected(resp *http.Response) bool {
	if resp == nil {
		return false
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return true
	}
	if resp.ContentLength > wire.PeekSize && resp.StatusCode/100 == 2 {
		return false
	}
	f := wire.TopLevel(wire.Peek(resp, wire.PeekSize), "rsp_cd", "error_code")
	return rejectCode(f["rsp_cd"]) || rejectCode(f["error_code"])
}

// envelope is every shape of the gateway's answers that carries a code.
type envelope struct {
	RspCd            string      `json:"rsp_cd"`
	RspMsg           string      `json:"rsp_msg"`
	ErrorCode        string      `json:"error_code"`
	ErrorDescription string      `json:"error_description"`
	Code             wire.Number `json:"code"` // revoke: 200
	Message          string      `json:"message"`
}

// CheckResponse turns an answer of the gateway into nil or a *kauth.Error:
// the one place the gateway's answers become errors. The code in the body
// decides, whatever the status; an answer without one is judged by its
// status. The error never holds the app key, the secret or a token.
func (g Gateway) CheckResponse(c kauth.Credentials, op string, resp *http.Response, body []byte) error {
	return g.checkResponse(c, op, resp, body, time.Now())
}

func (g Gateway) checkResponse(c kauth.Credentials, op string, resp *http.Response, body []byte, now time.Time, secrets ...string) error {
	e := &kauth.Error{Broker: g.Broker, Env: c.Env, Op: op}
	if resp == nil {
		e.Kind, e.Err = kauth.ErrUnavailable, errors.New("no response")
		return e
	}
	status := resp.StatusCode
	e.StatusCode = status
	secrets = append(secrets, c.AppKey, c.AppSecret)
	tokenless := op == OpIssue || op == OpRevoke
	if shape := wire.Shape(body, resp.Header); shape != "" {
		return wire.ByStatus(e, resp, now, errors.New(shape), tokenless)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return wire.ByStatus(e, resp, now, fmt.Errorf("unexpected JSON: %w", err), tokenless)
	}
	code, msg := strings.TrimSpace(env.RspCd), env.RspMsg
	if code == "" {
		code, msg = strings.TrimSpace(env.ErrorCode), env.ErrorDescription
	}
	if code == "" && op == OpRevoke && !env.Code.IsZero() && string(env.Code) != "200" {
		code, msg = wire.Code(string(env.Code)), env.Message
	}
	if code == "" || code == "00000" || (strings.HasPrefix(code, "0") && status/100 == 2 && len(code) == 5) {
		if status/100 == 2 {
			return nil
		}
		return wire.ByStatus(e, resp, now, nil, tokenless)
	}
	e.Code, e.Message = wire.Code(code), wire.Message(msg, secrets...)
	kind, ok := codeKinds[code]
	switch {
	case !ok:
		wire.ByStatus(e, resp, now, nil, tokenless)
		e.Code = wire.Code(code)
		if e.Kind == kauth.ErrUnavailable && status/100 == 2 {
			// A refusal under HTTP 200 that we cannot classify: the same
			// request gets the same answer.
			e.Kind = kauth.ErrBadRequest
		}
		return e
	case kind == kauth.ErrTokenRejected && tokenless:
		// The token calls carry no access token: a token code there
		// means the gateway refused the app.
		kind = kauth.ErrCredentials
	}
	e.Kind = kind
	if kind == kauth.ErrRateLimited {
		e.RetryAfter = wire.RetryAfter(resp.Header, now)
		if e.RetryAfter == 0 {
			e.RetryAfter = RateLimitRetryAfter
		}
	}
	return e
}

// check validates c before anything is sent.
func (g Gateway) check(c kauth.Credentials, op string) error {
	return wire.CheckCredentials(g.Broker, c, op, "app secret key")
}

func formHeader() http.Header {
	return http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
}

// TokenAnswer is the gateway's answer of /oauth2/token for t at now, as
// the token page's example sends it (expires_in a number of seconds).
func TokenAnswer(t kauth.Token, now time.Time) any {
	left := int64(t.ExpiresAt.Sub(now) / time.Second)
	return map[string]any{"access_token": t.AccessToken, "scope": "oob", "token_type": "Bearer", "expires_in": max(left, 0)}
}

// RevokeAnswer is the gateway's answer of a successful /oauth2/revoke.
func RevokeAnswer() any {
	return map[string]any{"code": 200, "message": "접근토큰 폐기에 성공하였습니다."}
}

// ErrorAnswer is an error in both of the gateway's shapes: rsp_cd and
// rsp_msg (calls) with error_code and error_description (token endpoints).
func ErrorAnswer(code, msg string) any {
	return map[string]string{"rsp_cd": code, "rsp_msg": msg, "error_code": code, "error_description": msg}
}
