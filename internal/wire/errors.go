package wire

import (
	"fmt"
	"net/http"
	"time"

	"github.com/kauth/kauth"
)

// HTTPCode is the Code of an error that only its HTTP status explains,
// such as "HTTP 503".
func HTTPCode(status int) string { return fmt.Sprintf("HTTP %d", status) }

// ByStatus fills e from the HTTP status of resp alone, for an answer that
// carries no broker code, and returns it: 401 a rejected token (rejected
// credentials if tokenless, the op authenticating with the app key and
// secret instead), 429 a rate limit, 5xx, 408 and a status that should
// have carried an answer an unavailable broker, another status a bad
// request. cause becomes e.Err.
func ByStatus(e *kauth.Error, resp *http.Response, now time.Time, cause error, tokenless bool) *kauth.Error {
	status := resp.StatusCode
	e.Code, e.Err = HTTPCode(status), cause
	switch {
	case status == http.StatusUnauthorized:
		e.Kind = kauth.ErrTokenRejected
		if tokenless {
			e.Kind = kauth.ErrCredentials
		}
	case status == http.StatusTooManyRequests:
		e.Kind = kauth.ErrRateLimited
		e.RetryAfter = RetryAfter(resp.Header, now)
	case status >= 500, status == http.StatusRequestTimeout, status/100 == 2, status/100 == 1, status/100 == 3:
		e.Kind = kauth.ErrUnavailable
		e.RetryAfter = RetryAfter(resp.Header, now)
	default:
		e.Kind = kauth.ErrBadRequest
	}
	return e
}

// CheckCredentials validates c for a call of op to broker before anything
// is sent. secretName is what the broker calls the secret ("app secret",
// "secret key") in the message of an empty one.
func CheckCredentials(broker kauth.Broker, c kauth.Credentials, op, secretName string) error {
	e := &kauth.Error{Broker: broker, Env: c.Env, Op: op}
	switch {
	case c.Broker != "" && c.Broker != broker:
		e.Kind, e.Message = kauth.ErrBadRequest, fmt.Sprintf("credentials are for %s", c.Broker)
	case c.Env != kauth.Real && c.Env != kauth.Mock:
		e.Kind, e.Message = kauth.ErrBadRequest, fmt.Sprintf("unknown env %q", c.Env)
	case c.AppKey == "":
		e.Kind, e.Message = kauth.ErrCredentials, "app key is empty"
	case c.AppSecret == "":
		e.Kind, e.Message = kauth.ErrCredentials, secretName+" is empty"
	default:
		return nil
	}
	return e
}

// TransportError wraps err, a failure to get an answer at all from broker
// for op; resp, if not nil, is what arrived before the failure.
func TransportError(broker kauth.Broker, env kauth.Env, op string, resp *http.Response, err error) error {
	e := &kauth.Error{Broker: broker, Env: env, Op: op, Kind: kauth.ErrUnavailable, Err: err}
	if resp != nil {
		e.StatusCode = resp.StatusCode
		e.Code = HTTPCode(resp.StatusCode)
	}
	return e
}

// Malformed reports err, a successful answer of broker to op whose body
// lacks what it must hold.
func Malformed(broker kauth.Broker, env kauth.Env, op string, resp *http.Response, err error) error {
	return &kauth.Error{
		Broker: broker, Env: env, Op: op, Kind: kauth.ErrUnavailable,
		Code: HTTPCode(resp.StatusCode), StatusCode: resp.StatusCode, Err: err,
	}
}
