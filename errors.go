package kauth

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kinds of failure. Every error that kauth returns for a broker answer is an
// *Error whose Kind is one of these, so callers test with errors.Is:
//
//	if errors.Is(err, kauth.ErrCredentials) { /* fix the app key; retrying won't help */ }
var (
	// ErrCredentials: the broker rejected the app key or secret
	// (KIS EGW00102..EGW00105, Kiwoom 8001/8002, 8030/8031 real/mock mismatch).
	// Retrying does not help.
	ErrCredentials = errors.New("credentials rejected")

	// ErrTokenRejected: the broker said the access token is expired, revoked
	// or invalid (KIS EGW00121..EGW00123, Kiwoom 8005, HTTP 401).
	ErrTokenRejected = errors.New("token expired or invalid")

	// ErrRateLimited: the broker refused for a rate limit (KIS EGW00133
	// issuance once a minute, EGW00201 calls per second; Kiwoom 1700, HTTP
	// 429). Error.RetryAfter says how long to wait when known.
	ErrRateLimited = errors.New("rate limited")

	// ErrUnavailable: the broker could not be reached or answered with
	// something other than its API (5xx, timeout, reset, malformed or HTML
	// body). Retryable.
	ErrUnavailable = errors.New("broker unavailable")

	// ErrBadRequest: the broker refused the request as malformed
	// (e.g. KIS EGW00115/EGW00116 grant_type, Kiwoom 1634). Not retryable.
	ErrBadRequest = errors.New("bad request")

	// ErrTokenReturnedAgain: after rejecting a token, the broker issued the
	// very same token again. kauth stops instead of looping.
	ErrTokenReturnedAgain = errors.New("broker issued the token it had just rejected")

	// ErrMalformedToken: the broker answered an issuance with something
	// that cannot be a token (see CheckToken). Nothing is stored or
	// served. The answer counts as an issuance and is not asked for again
	// at once: a broker that hands back its last token would repeat it.
	ErrMalformedToken = errors.New("malformed token in the broker's answer")

	// ErrNotFound is returned by Store.Load when nothing is stored for a key.
	ErrNotFound = errors.New("kauth: not found")

	// ErrClosed is returned (wrapped) by a Manager's calls that would need
	// I/O after Close: issuing, refreshing, revoking. A closed Manager never
	// hands out a token that is no longer usable.
	ErrClosed = errors.New("kauth: manager closed")
)

// Error is a failure answered by (or on the way to) a broker. It names the
// broker, env and the broker's own code, and never holds a secret or a token.
type Error struct {
	Broker     Broker
	Env        Env
	Op         string        // "issue", "revoke", "approval", "hashkey", "call"
	Kind       error         // one of the Err* kinds above
	Code       string        // the broker's code: "EGW00133", "8005", or "HTTP 503"
	Message    string        // the broker's message, if any
	StatusCode int           // the HTTP status, 0 if no response
	RetryAfter time.Duration // how long to wait before retrying, if known
	Err        error         // the underlying cause (network error, decode error), if any
}

// Error returns one line: "kauth: kis mock issue: EGW00133 rate limited: 접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("kauth: ")
	b.WriteString(string(e.Broker))
	if e.Env != "" {
		b.WriteString(" ")
		b.WriteString(string(e.Env))
	}
	if e.Op != "" {
		b.WriteString(" ")
		b.WriteString(e.Op)
	}
	b.WriteString(":")
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Kind != nil {
		b.WriteString(" ")
		b.WriteString(e.Kind.Error())
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(oneLine(e.Message))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(oneLine(e.Err.Error()))
	}
	return b.String()
}

// Unwrap lets errors.Is match both the Kind and the cause.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// RedirectError is the cause (Error.Err) of a failure whose answer was a
// redirect, an HTTP 3xx. kauth follows no redirect on a call that carries
// the app key and secret, a token or an approval key: following would send
// them to whatever host the Location names. The *Error around it names the
// broker, env and status, and its Kind is ErrUnavailable; it is not
// Retryable.
//
//	var re *kauth.RedirectError
//	if errors.As(err, &re) { /* the broker URL points at a redirect to re.Host */ }
type RedirectError struct {
	StatusCode int    // the HTTP status: 301, 302, 303, 307, 308…
	Host       string // the Location's host[:port], "" if the answer named none
	// The rest of the Location is left out: its path and query may echo
	// what was sent.
}

// Error returns "redirect to HOST not followed".
func (e *RedirectError) Error() string {
	if e.Host == "" {
		return "redirect without a Location not followed"
	}
	return "redirect to " + oneLine(e.Host) + " not followed"
}

// Retryable reports whether err is worth retrying after a wait: the broker
// was unavailable or rate limited. A redirect is not: asking the same URL
// again gets the same answer, and kauth follows none.
func Retryable(err error) bool {
	var re *RedirectError
	if errors.As(err, &re) {
		return false
	}
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRateLimited)
}

// RetryAfter returns how long the broker asked to wait, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// oneLine keeps an error to one line of reasonable length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 300
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// Errorf is a helper for broker packages: it builds an *Error.
func Errorf(c Credentials, op string, kind error, format string, args ...any) *Error {
	return &Error{Broker: c.Broker, Env: c.Env, Op: op, Kind: kind, Message: fmt.Sprintf(format, args...)}
}
