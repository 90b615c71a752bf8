package kis

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
// any op; only the token-less ones (issue, approval, hashkey, revoke) read
// a bare HTTP 401 as rejected credentials rather than a rejected token.
const (
	OpIssue    = "issue"
	OpRevoke   = "revoke"
	OpApproval = "approval"
	OpHashKey  = "hashkey"
	OpCall     = "call"
)

// Retry hints for the rate limits, used when no Retry-After header says
// otherwise.
const (
	// IssueRetryAfter: EGW00133, one token issuance a minute per app key.
	IssueRetryAfter = 60 * time.Second
	// CallRetryAfter: EGW00201, calls per second per app key.
	CallRetryAfter = time.Second
)

// codeKinds maps the KIS codes kauth acts on to a kind of failure. Codes not
// listed fall back to the HTTP status (see CheckResponse).
var codeKinds = map[string]error{
	// Token endpoint, flat {"error_code","error_description"} under HTTP 403.
	"EGW00102": kauth.ErrCredentials, // appkey missing
	"EGW00103": kauth.ErrCredentials, // appkey invalid
	"EGW00104": kauth.ErrCredentials, // appsecret missing
	"EGW00105": kauth.ErrCredentials, // appsecret invalid
	"EGW00115": kauth.ErrBadRequest,  // grant_type missing
	"EGW00116": kauth.ErrBadRequest,  // grant_type invalid
	"EGW00133": kauth.ErrRateLimited, // 접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)

	// Other calls, {"rt_cd":"1","msg_cd","msg1"} under HTTP 200 or 500.
	"EGW00121": kauth.ErrTokenRejected, // 유효하지 않은 token 입니다
	"EGW00122": kauth.ErrTokenRejected, // token을 찾을 수 없습니다
	"EGW00123": kauth.ErrTokenRejected, // 기간이 만료된 token 입니다
	"EGW00201": kauth.ErrRateLimited,   // 초당 거래건수를 초과하였습니다
}

// envelope holds every field by which a KIS answer reports its outcome.
type envelope struct {
	// token endpoint
	ErrorCode        string `json:"error_code"`
	ErrorDescription string `json:"error_description"`
	// other calls
	RtCd  wire.Number `json:"rt_cd"`
	MsgCd string      `json:"msg_cd"`
	Msg1  string      `json:"msg1"`
}

// CheckResponse turns a KIS answer into an error: nil if resp (whose body,
// already read, is body) reports success, and a *kauth.Error otherwise. op
// names the operation for the error ("issue", "revoke", "approval",
// "hashkey", "call").
//
// The code in the body decides first, whatever the status: KIS sends the
// token errors EGW00121..EGW00123 with HTTP 200 and with 500. Without a
// code, the status decides: 401 is a rejected token (rejected credentials
// for the token-less ops), 429 a rate limit, 5xx and 408 an unavailable
// broker, another 4xx a bad request. A body that is not the API's JSON
// (empty, HTML, malformed) is an unavailable broker unless the status says
// otherwise; it is never quoted, since it may echo what was sent.
//
// The error holds the broker's code and message, the status and a retry
// hint, and never the app key, the app secret or a token.
func CheckResponse(c kauth.Credentials, op string, resp *http.Response, body []byte) error {
	return checkResponse(c, op, resp, body, time.Now())
}

func checkResponse(c kauth.Credentials, op string, resp *http.Response, body []byte, now time.Time, secrets ...string) error {
	e := &kauth.Error{Broker: kauth.KIS, Env: c.Env, Op: op}
	if resp == nil {
		e.Kind, e.Err = kauth.ErrUnavailable, errors.New("no response")
		return e
	}
	status := resp.StatusCode
	e.StatusCode = status
	secrets = append(secrets, c.AppKey, c.AppSecret)

	var env envelope
	if shape := wire.Shape(body, resp.Header); shape != "" {
		if status/100 == 2 {
			e.Kind, e.Code, e.Err = kauth.ErrUnavailable, wire.HTTPCode(status), errors.New(shape)
			return e
		}
		return byStatus(e, resp, now, errors.New(shape))
	}
	if err := json.Unmarshal(body, &env); err != nil {
		// A JSON object whose fields have unexpected types.
		if status/100 == 2 {
			e.Kind, e.Code, e.Err = kauth.ErrUnavailable, wire.HTTPCode(status), fmt.Errorf("unexpected JSON: %w", err)
			return e
		}
		return byStatus(e, resp, now, fmt.Errorf("unexpected JSON: %w", err))
	}

	code, msg := env.ErrorCode, env.ErrorDescription
	failed := code != ""
	if !failed && !env.RtCd.IsZero() {
		failed, code, msg = true, env.MsgCd, env.Msg1
	}
	if !failed {
		if status/100 == 2 {
			return nil
		}
		return byStatus(e, resp, now, nil)
	}

	// The code goes into the error only if it looks like one: a body that
	// puts something else there must not smuggle it into a log line.
	switch e.Code = wire.Code(wire.Redact(code, secrets...)); {
	case code == "":
		e.Code = "rt_cd=" + wire.Code(string(env.RtCd))
	case e.Code == "":
		e.Code = "invalid-code"
	}
	e.Message = wire.Message(msg, secrets...)
	kind, ok := codeKinds[code]
	if !ok {
		code := e.Code
		byStatus(e, resp, now, nil)
		e.Code = code
		if e.Kind == kauth.ErrUnavailable && status/100 == 2 {
			// An unknown business error under HTTP 200: retrying the same
			// request gets the same answer.
			e.Kind = kauth.ErrBadRequest
		}
		return e
	}
	e.Kind = kind
	if kind == kauth.ErrRateLimited {
		e.RetryAfter = wire.RetryAfter(resp.Header, now)
		if e.RetryAfter == 0 {
			e.RetryAfter = CallRetryAfter
			if code == "EGW00133" {
				e.RetryAfter = IssueRetryAfter
			}
		}
	}
	return e
}

// byStatus fills e from the HTTP status alone, for an answer that carries
// no KIS code.
func byStatus(e *kauth.Error, resp *http.Response, now time.Time, cause error) *kauth.Error {
	return wire.ByStatus(e, resp, now, cause, tokenless(e.Op))
}

// tokenless reports whether op authenticates with the app key and secret
// rather than with an access token.
func tokenless(op string) bool {
	switch op {
	case OpIssue, OpApproval, OpHashKey, OpRevoke:
		return true
	}
	return false
}

// transportError wraps a failure to get an answer at all.
func transportError(c kauth.Credentials, op string, resp *http.Response, err error) error {
	return wire.TransportError(kauth.KIS, c.Env, op, resp, err)
}
