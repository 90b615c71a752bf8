package kiwoom

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/wire"
)

// The Op values that this package puts in kauth.Error. CheckResponse accepts
// any op; only the token-less ones (issue, revoke) read a bare HTTP 401 as
// rejected credentials rather than a rejected token.
const (
	OpIssue  = "issue"
	OpRevoke = "revoke"
	OpCall   = "call"
)

// RateLimitRetryAfter is the retry hint for 1700 (request limit exceeded)
// when no Retry-After header says otherwise.
const RateLimitRetryAfter = time.Second

// codeKinds maps the Kiwoom codes kauth acts on (the bracketed code in
// return_msg) to a kind of failure. Codes not listed fall back to the HTTP
// status (see CheckResponse).
var codeKinds = map[string]error{
	"8001": kauth.ErrCredentials, // App Key와 Secret Key 검증에 실패했습니다
	"8002": kauth.ErrCredentials, // App Key와 Secret Key 검증에 실패했습니다 (reason)
	"8020": kauth.ErrCredentials, // appkey 또는 secretkey가 들어오지 않았습니다
	"8030": kauth.ErrCredentials, // 투자구분(실전/모의)이 달라서 Appkey를 사용할 수 없습니다
	"8031": kauth.ErrCredentials, // 투자구분(실전/모의)이 달라서 Token을 사용할 수 없습니다
	"8040": kauth.ErrCredentials, // 단말기 인증에 실패했습니다
	"8050": kauth.ErrCredentials, // 지정단말기 인증에 실패했습니다
	"8103": kauth.ErrCredentials, // 토큰 인증 또는 단말기 인증에 실패했습니다

	"8005": kauth.ErrTokenRejected, // Token이 유효하지 않습니다
	// The token is bound to the IP that issued it. A fresh token issued
	// from this host works, so this heals like an expired token; hosts
	// that share one token must share an egress IP.
	"8010": kauth.ErrTokenRejected,

	"1700": kauth.ErrRateLimited, // 허용된 요청 개수를 초과하였습니다 (return_code 5)
	// 1634 shares return_code 5 with 1700 but is an input error: reading it
	// as a rate limit retries forever.
	"1634": kauth.ErrBadRequest,
	"1999": kauth.ErrUnavailable, // 예기치 못한 에러가 발생했습니다

	"8011": kauth.ErrBadRequest, // grant_type이 들어오지 않았습니다
	"8012": kauth.ErrBadRequest, // grant_type의 값이 맞지 않습니다
	"8016": kauth.ErrBadRequest, // 폐기할 Token이 들어오지 않았습니다
	"1501": kauth.ErrBadRequest, // API ID가 Null이거나 값이 없습니다
	"1511": kauth.ErrBadRequest, // 필수 입력 값에 값이 존재하지 않습니다
	"1513": kauth.ErrBadRequest, // authorization 필드가 설정되어 있어야 합니다
	"1514": kauth.ErrBadRequest, // authorization 필드 형식이 맞지 않습니다
	"1517": kauth.ErrBadRequest, // 입력 값 형식이 올바르지 않습니다
}

// envelope holds the fields by which a Kiwoom answer reports its outcome.
type envelope struct {
	ReturnCode wire.Number `json:"return_code"`
	ReturnMsg  string      `json:"return_msg"`
}

// bracketCode returns the code in the first "[NNNN:" or "[NNNN]" of msg,
// or "".
func bracketCode(msg string) string {
	for i := 0; i < len(msg); i++ {
		if msg[i] != '[' {
			continue
		}
		j := i + 1
		for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
			j++
		}
		if j > i+1 && j-i-1 <= 8 && j < len(msg) && (msg[j] == ':' || msg[j] == ']') {
			return msg[i+1 : j]
		}
	}
	return ""
}

// CheckResponse turns a Kiwoom answer into an error: nil if resp (whose
// body, already read, is body) reports success, and a *kauth.Error
// otherwise. op names the operation for the error ("issue", "revoke",
// "call").
//
// A non-zero return_code (number or numeric string) is a failure whatever
// the status; its kind comes from the code in brackets in return_msg
// ("…[8005:Token이 유효하지 않습니다]"), never from the text. Without a known
// code, the status decides: 401 is a rejected token (rejected credentials
// for the token endpoints), 429 a rate limit, 5xx and 408 an unavailable
// broker, anything else a bad request. A body that is not the API's JSON
// (empty, HTML, malformed) is an unavailable broker unless the status says
// otherwise; it is never quoted, since it may echo what was sent.
//
// The error holds the broker's code and message, the status and a retry
// hint, and never the app key, the secret key or a token.
func CheckResponse(c kauth.Credentials, op string, resp *http.Response, body []byte) error {
	return checkResponse(c, op, resp, body, time.Now())
}

func checkResponse(c kauth.Credentials, op string, resp *http.Response, body []byte, now time.Time, secrets ...string) error {
	e := &kauth.Error{Broker: kauth.Kiwoom, Env: c.Env, Op: op}
	if resp == nil {
		e.Kind, e.Err = kauth.ErrUnavailable, errors.New("no response")
		return e
	}
	status := resp.StatusCode
	e.StatusCode = status
	secrets = append(secrets, c.AppKey, c.AppSecret)

	if shape := wire.Shape(body, resp.Header); shape != "" {
		return byStatus(e, resp, now, errors.New(shape))
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return byStatus(e, resp, now, fmt.Errorf("unexpected JSON: %w", err))
	}
	if env.ReturnCode.IsZero() {
		if status/100 == 2 {
			return nil
		}
		return byStatus(e, resp, now, nil)
	}

	e.Message = wire.Message(env.ReturnMsg, secrets...)
	code := bracketCode(env.ReturnMsg)
	kind, ok := codeKinds[code]
	if !ok {
		byStatus(e, resp, now, nil)
		if e.Kind == kauth.ErrUnavailable && status/100 == 2 {
			// A refusal under HTTP 200 that we cannot classify: the same
			// request gets the same answer, so don't retry it.
			e.Kind = kauth.ErrBadRequest
		}
		e.Code = code
		if code == "" {
			e.Code = "return_code=" + wire.Code(string(env.ReturnCode))
		}
		return e
	}
	e.Code, e.Kind = code, kind
	if kind == kauth.ErrRateLimited {
		e.RetryAfter = wire.RetryAfter(resp.Header, now)
		if e.RetryAfter == 0 {
			e.RetryAfter = RateLimitRetryAfter
		}
	}
	return e
}

// byStatus fills e from the HTTP status alone, for an answer that carries
// no Kiwoom code.
func byStatus(e *kauth.Error, resp *http.Response, now time.Time, cause error) *kauth.Error {
	return wire.ByStatus(e, resp, now, cause, tokenless(e.Op))
}

// tokenless reports whether op authenticates with the app key and secret
// key rather than with an access token.
func tokenless(op string) bool { return op == OpIssue || op == OpRevoke }

// transportError wraps a failure to get an answer at all.
func transportError(c kauth.Credentials, op string, resp *http.Response, err error) error {
	return wire.TransportError(kauth.Kiwoom, c.Env, op, resp, err)
}

// malformed reports a successful status whose body lacks what it must hold.
func malformed(c kauth.Credentials, op string, resp *http.Response, err error) error {
	return wire.Malformed(kauth.Kiwoom, c.Env, op, resp, err)
}
