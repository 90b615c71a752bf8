package igw

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/wire"
)

// RateLimitRetryAfter is the back-off after IGW00201 when the answer names
// none: the gateway counts calls per second.
const RateLimitRetryAfter = time.Second

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

// envelope is every shape of the gateway's answers that carries a code.
type envelope struct {
	RspCd            string      `json:"rsp_cd"`
	RspMsg           string      `json:"rsp_msg"`
	ErrorCode        string      `json:"error_code"`
	ErrorDescription string      `json:"error_description"`
	Code             wire.Number `json:"code"` // revoke: 200
	Message          string      `json:"message"`
}

// CheckResponse turns an answer of the gateway to broker into nil or a *kauth.Error:
// the one place the gateway's answers become errors. The code in the body
// decides, whatever the status; an answer without one is judged by its
// status. The error never holds the app key, the secret or a token.
func CheckResponse(broker kauth.Broker, c kauth.Credentials, op string, resp *http.Response, body []byte) error {
	return checkResponse(broker, c, op, resp, body, time.Now())
}

func checkResponse(broker kauth.Broker, c kauth.Credentials, op string, resp *http.Response, body []byte, now time.Time, secrets ...string) error {
	e := &kauth.Error{Broker: broker, Env: c.Env, Op: op}
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

// check validates c for broker before anything is sent.
func check(broker kauth.Broker, c kauth.Credentials, op string) error {
	return wire.CheckCredentials(broker, c, op, "app secret key")
}
