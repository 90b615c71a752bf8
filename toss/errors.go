package toss

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/wire"
)

// The Op values that this package puts in kauth.Error. Only the token call
// (issue) reads a bare HTTP 401 as rejected credentials rather than a
// rejected token.
const (
	OpIssue  = "issue"
	OpRevoke = "revoke"
	OpCall   = "call"
)

// RateLimitRetryAfter is the retry hint of a 429 that carries neither a
// Retry-After header nor data.retryAfterSeconds: Toss's limits are per
// second.
const RateLimitRetryAfter = time.Second

// ErrRevokeUnsupported is the cause of Revoke's error: Toss publishes no
// revoke endpoint. A token ends when it expires or when the client issues
// a new one, which invalidates it.
var ErrRevokeUnsupported = errors.New("Toss has no token revoke endpoint: a token ends when it expires or when a new one is issued")

// IPNotAllowedError is the cause (kauth.Error.Err) of a refusal by Toss's
// IP allow-list: a call from an IP that is not registered for the client
// is refused with HTTP 403 — the token endpoint's
// {"error":"access_denied","error_description":"IP address not allowed"}
// (OpenAPI document, paths./oauth2/token.post.responses.403) and an API's
// 403 edge-blocked "허용되지 않은 요청입니다." (overview, 에러 응답). The
// *kauth.Error around it has Kind kauth.ErrCredentials: neither a retry nor
// a new token helps, so kauth never re-issues on it.
//
//	var ipErr *toss.IPNotAllowedError
//	if errors.As(err, &ipErr) { /* register this host's IP with Toss */ }
type IPNotAllowedError struct {
	// Code is Toss's code ("access_denied", "edge-blocked"), or "HTTP 403"
	// for an answer that named none.
	Code string
}

// Error says what to do.
func (e *IPNotAllowedError) Error() string {
	return "this host's IP is not on the Toss client's allow-list: register this host's public IP with Toss (WTS 설정 > Open API > 허용 IP 관리)"
}

// oauthKinds classifies the token endpoint's error codes, the "error"
// field of an OAuth 2.0 error answer (components.schemas.OAuth2ErrorResponse:
// "클라이언트는 code 가 아닌 error 필드로 에러를 식별해야 합니다").
var oauthKinds = map[string]error{
	"invalid_request":        kauth.ErrBadRequest,  // 400 Required parameter is missing.
	"unsupported_grant_type": kauth.ErrBadRequest,  // 400 Only client_credentials grant type is supported.
	"invalid_grant":          kauth.ErrBadRequest,  // 400
	"invalid_client":         kauth.ErrCredentials, // 401 Client authentication failed.
	"unauthorized_client":    kauth.ErrCredentials,
	"access_denied":          kauth.ErrCredentials, // 403 IP address not allowed
}

// apiKinds classifies the error codes of the other APIs, error.code of the
// common envelope (overview, 에러 응답). Codes not listed fall back to the
// HTTP status (see CheckResponse).
var apiKinds = map[string]error{
	"invalid-token":            kauth.ErrTokenRejected, // 401 토큰이 유효하지 않거나 형식이 잘못되었습니다.
	"expired-token":            kauth.ErrTokenRejected, // 401 액세스 토큰이 만료되었습니다.
	"login-user-not-found":     kauth.ErrCredentials,   // 401 토큰에 대응하는 로그인 정보를 찾을 수 없습니다.
	"forbidden":                kauth.ErrCredentials,   // 403 요청에 필요한 권한이 부족합니다.
	"rate-limit-exceeded":      kauth.ErrRateLimited,   // 429
	"edge-rate-limit-exceeded": kauth.ErrRateLimited,   // 429
	"internal-error":           kauth.ErrUnavailable,   // 500 서버 일시 장애.
	"maintenance":              kauth.ErrUnavailable,   // 500 시스템 점검 중입니다.
}

// answer holds the fields by which a Toss answer reports a failure: the
// token endpoint's "error" is a string with error_description beside it;
// the other APIs' "error" is an object.
type answer struct {
	Error            json.RawMessage `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// apiEnvelope is the common envelope of the APIs' answers.
type apiEnvelope struct {
	Error *apiError `json:"error"`
}

// apiError is components.schemas.ApiError.
type apiError struct {
	RequestID string `json:"requestId"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	Data      struct {
		RetryAfterSeconds wire.Number `json:"retryAfterSeconds"`
	} `json:"data"`
}

func unmarshal(body []byte, v any) error { return json.Unmarshal(body, v) }

// CheckResponse turns a Toss answer into an error: nil if resp (whose body,
// already read, is body) reports success, and a *kauth.Error otherwise. op
// names the operation for the error ("issue", "call").
//
// An answer with an "error" field is a failure whatever the status. Its
// kind comes from the code — the token endpoint's OAuth "error" string or
// the APIs' error.code — never from the text; a 403 from the IP allow-list
// carries an *IPNotAllowedError. Without a known code the status decides:
// 401 a rejected token (rejected credentials for the token endpoint), 403
// the allow-list, 429 a rate limit, 5xx and 408 an unavailable broker,
// anything else a bad request. A body that is not JSON is never quoted,
// since it may echo what was sent.
//
// The error holds Toss's code and message, the status and a retry hint
// (Retry-After, else data.retryAfterSeconds), and never the client id, the
// client secret or a token.
func CheckResponse(c kauth.Credentials, op string, resp *http.Response, body []byte) error {
	return checkResponse(c, op, resp, body, time.Now())
}

func checkResponse(c kauth.Credentials, op string, resp *http.Response, body []byte, now time.Time) error {
	e := &kauth.Error{Broker: Broker, Env: c.Env, Op: op}
	if resp == nil {
		e.Kind, e.Err = kauth.ErrUnavailable, errors.New("no response")
		return e
	}
	status := resp.StatusCode
	e.StatusCode = status
	secrets := []string{c.AppKey, c.AppSecret}

	var a answer
	if shape := wire.Shape(body, resp.Header); shape != "" {
		return byStatus(e, resp, now, errors.New(shape))
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return byStatus(e, resp, now, fmt.Errorf("unexpected JSON: %w", err))
	}
	raw := bytes.TrimSpace(a.Error)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		if status/100 == 2 {
			return nil
		}
		return byStatus(e, resp, now, nil)
	}

	var (
		code string
		kind error
		ok   bool
	)
	switch raw[0] {
	case '"':
		var s string
		json.Unmarshal(raw, &s)
		code = tossCode(s)
		e.Message = wire.Message(a.ErrorDescription, secrets...)
		kind, ok = oauthKinds[code]
	case '{':
		var ae apiError
		if err := json.Unmarshal(raw, &ae); err != nil {
			return byStatus(e, resp, now, fmt.Errorf("unexpected JSON: %w", err))
		}
		code = tossCode(ae.Code)
		e.Message = wire.Message(ae.Message, secrets...)
		kind, ok = apiKinds[code]
		if secs, valid := ae.Data.RetryAfterSeconds.Int(); valid && secs > 0 && secs <= 86400 {
			e.RetryAfter = time.Duration(secs) * time.Second
		}
	default:
		return byStatus(e, resp, now, errors.New("unexpected error field"))
	}
	if !ok {
		hint := e.RetryAfter
		byStatus(e, resp, now, nil)
		if e.RetryAfter == 0 {
			e.RetryAfter = hint
		}
		if e.Kind == kauth.ErrUnavailable && status/100 == 2 {
			// A refusal under HTTP 200 that we cannot classify: the same
			// request gets the same answer.
			e.Kind = kauth.ErrBadRequest
		}
		if code != "" {
			e.Code = code
			if ipe, isIP := e.Err.(*IPNotAllowedError); isIP {
				ipe.Code = code
			}
		}
		if code == "edge-blocked" && status == http.StatusUnauthorized {
			// The edge saw no Authorization header: a new token is no
			// cure, the caller must send one.
			e.Kind = kauth.ErrBadRequest
		}
		return e
	}
	e.Code, e.Kind = code, kind
	if status == http.StatusForbidden && (code == "access_denied" || code == "edge-blocked") {
		e.Kind, e.Err = kauth.ErrCredentials, &IPNotAllowedError{Code: code}
	}
	if kind == kauth.ErrRateLimited || kind == kauth.ErrUnavailable {
		if ra := wire.RetryAfter(resp.Header, now); ra > 0 {
			e.RetryAfter = ra
		}
		if kind == kauth.ErrRateLimited && e.RetryAfter == 0 {
			e.RetryAfter = RateLimitRetryAfter
		}
	}
	return e
}

// byStatus fills e from the HTTP status alone, for an answer that carries
// no Toss code. A 403 is the IP allow-list: Toss documents no other
// reason for a 403 without a code.
func byStatus(e *kauth.Error, resp *http.Response, now time.Time, cause error) *kauth.Error {
	wire.ByStatus(e, resp, now, cause, e.Op == OpIssue)
	if resp.StatusCode == http.StatusForbidden {
		// The allow-list's refusal may come from the edge as a page of
		// its own: the advice matters more than the page's shape.
		e.Kind, e.Err = kauth.ErrCredentials, &IPNotAllowedError{Code: e.Code}
		if e.Message == "" && cause != nil {
			e.Message = cause.Error()
		}
	}
	return e
}

// tossCode returns s if it looks like one of Toss's codes — lower-case
// letters, digits, '-' and '_', at most 48 bytes ("amount-order-outside-
// regular-hours" is 34) — and "" otherwise, so that a body that puts
// something else in a code field cannot smuggle it into an error.
func tossCode(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 48 {
		return ""
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return ""
		}
	}
	return s
}

// transportError wraps a failure to get an answer at all.
func transportError(c kauth.Credentials, op string, resp *http.Response, err error) error {
	return wire.TransportError(Broker, c.Env, op, resp, err)
}

// malformed reports a successful status whose body lacks what it must hold.
func malformed(c kauth.Credentials, op string, resp *http.Response, err error) error {
	return wire.Malformed(Broker, c.Env, op, resp, err)
}
