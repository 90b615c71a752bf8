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

// codeKinds classifies every code of Kiwoom's published error-code list
// (오류코드, 37 codes: the "error_codes" table of the API spec shipped with
// the official SDK, Kiwoom-Securities/Kiwoom-REST-API,
// kiwoom/_data/kiwoom_api_spec.json) plus 1634, which the list lacks but
// the servers send. The key is the code in brackets in return_msg. Codes
// not listed fall back to the HTTP status (see CheckResponse).
var codeKinds = map[string]error{
	// Input errors: the same request gets the same answer.
	"1501": kauth.ErrBadRequest, // API ID가 Null이거나 값이 없습니다
	"1504": kauth.ErrBadRequest, // 해당 URI에서는 지원하는 API ID가 아닙니다
	"1505": kauth.ErrBadRequest, // 해당 API ID는 존재하지 않습니다
	"1511": kauth.ErrBadRequest, // 필수 입력 값에 값이 존재하지 않습니다
	"1512": kauth.ErrBadRequest, // Http header에 값이 설정되지 않았거나 읽을 수 없습니다
	"1513": kauth.ErrBadRequest, // Http Header에 authorization 필드가 설정되어 있어야 합니다
	"1514": kauth.ErrBadRequest, // authorization 필드 형식이 맞지 않습니다
	"1515": kauth.ErrBadRequest, // authorization 필드 내 Grant Type이 미리 정의된 형식이 아닙니다
	"1516": kauth.ErrBadRequest, // authorization 필드 내 Token이 정의되어 있지 않습니다
	"1517": kauth.ErrBadRequest, // 입력 값 형식이 올바르지 않습니다
	// Kiwoom cuts off a caller that calls itself in a loop: retrying is
	// what it punishes.
	"1687": kauth.ErrBadRequest, // 재귀 호출이 발생하여 API 호출을 제한합니다
	"1901": kauth.ErrBadRequest, // 시장 코드값이 존재하지 않습니다
	"1902": kauth.ErrBadRequest, // 종목 정보가 없습니다
	"1903": kauth.ErrBadRequest, // 종목 정보가 없습니다 (거래소구분)
	"8011": kauth.ErrBadRequest, // grant_type이 들어오지 않았습니다
	"8012": kauth.ErrBadRequest, // grant_type의 값이 맞지 않습니다
	"8016": kauth.ErrBadRequest, // 폐기할 Token이 들어오지 않았습니다
	"8104": kauth.ErrBadRequest, // 모의투자에서 지원하지 않는 API 입니다
	"8200": kauth.ErrBadRequest, // 법인 고객은 해당 API를 지원하지 않습니다
	// 1634 shares return_code 5 and even the message text with 1700 but is
	// an input error (too many stocks in one request): reading it as a
	// rate limit retries forever.
	"1634": kauth.ErrBadRequest,

	// Request limits: per API (1700), in total (1701), per group (1702).
	"1700": kauth.ErrRateLimited, // 허용된 API 요청 개수를 초과하였습니다
	"1701": kauth.ErrRateLimited, // 허용된 전체 요청 개수를 초과하였습니다
	"1702": kauth.ErrRateLimited, // 허용된 그룹 요청 개수를 초과하였습니다

	// The server failed: retry with backoff.
	"1999": kauth.ErrUnavailable, // 예기치 못한 에러가 발생했습니다
	"8006": kauth.ErrUnavailable, // Access Token을 생성하는데 실패했습니다 (실패사유)
	"8009": kauth.ErrUnavailable, // Access Token을 발급하는데 실패했습니다 (실패사유)
	"8015": kauth.ErrUnavailable, // Access Token을 폐기하는데 실패했습니다 (실패사유)

	// The token: a fresh one may succeed.
	"8003": kauth.ErrTokenRejected, // Access Token을 조회하는데 실패했습니다
	"8005": kauth.ErrTokenRejected, // Token이 유효하지 않습니다

	// Credentials, env and device: no retry and no new token helps.
	"8001": kauth.ErrCredentials, // App Key와 Secret Key 검증에 실패했습니다
	"8002": kauth.ErrCredentials, // App Key와 Secret Key 검증에 실패했습니다 (실패사유)
	"8020": kauth.ErrCredentials, // appkey 또는 secretkey가 들어오지 않았습니다
	"8030": kauth.ErrCredentials, // 투자구분(실전/모의)이 달라서 Appkey를 사용할수가 없습니다
	"8031": kauth.ErrCredentials, // 투자구분(실전/모의)이 달라서 Token를 사용할수가 없습니다
	"8040": kauth.ErrCredentials, // 단말기 인증에 실패했습니다
	"8050": kauth.ErrCredentials, // 지정단말기 인증에 실패했습니다
	"8103": kauth.ErrCredentials, // 토큰 인증 또는 단말기인증에 실패했습니다
	// The token is bound to the IP address that issued it. A re-issue does
	// not help: Kiwoom hands back the same token while it is valid, and a
	// new one would be bound to this host and fail on the others. The
	// official SDK files it with the device errors (DEVICE_AUTH_CODES in
	// kiwoom/core/errors.py).
	"8010": kauth.ErrCredentials, // Token을 발급받은 IP와 서비스를 요청한 IP가 동일하지 않습니다
}

// codeHints are added to the message of a code whose fix is not obvious
// from Kiwoom's text.
var codeHints = map[string]string{
	"8010": "the token is bound to the IP address that issued it: every host sharing one Kiwoom token must reach Kiwoom from one egress IP",
}

// envelope holds the fields by which a Kiwoom answer reports its outcome.
type envelope struct {
	ReturnCode wire.Number `json:"return_code"`
	ReturnMsg  string      `json:"return_msg"`
}

// answerCode returns the Kiwoom code of a failed answer: the code in
// brackets in return_msg, or else return_code itself when it is one of the
// table's codes. Kiwoom mostly sends a small return_code with the code in
// brackets, but the official SDK reads the table's codes from return_code
// (Kiwoom-Securities/Kiwoom-REST-API: kiwoom/core/client.py re-issues when
// return_code is 8005, 8031 or 8103; kiwoom/core/errors.py maps
// return_code through the table), so both are understood.
func answerCode(rc wire.Number, msg string) string {
	if code := bracketCode(msg); code != "" {
		return code
	}
	if _, ok := codeKinds[string(rc)]; ok {
		return string(rc)
	}
	return ""
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
	code := answerCode(env.ReturnCode, env.ReturnMsg)
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
	if hint := codeHints[code]; hint != "" {
		e.Message += " (" + hint + ")"
	}
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
