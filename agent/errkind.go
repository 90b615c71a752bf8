package agent

import (
	"errors"

	"github.com/kauth/kauth"
)

// failureKinds are errorKind's answers for a failure: the kind label values
// of kauth_token_failures_total, each at zero from an account's start.
var failureKinds = []string{"credentials", "token_rejected", "token_returned_again", "rate_limited", "unavailable",
	"bad_request", "malformed_token", "canceled", "other"}

// errorKind names the kauth error kind of err for metrics and API codes.
func errorKind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, kauth.ErrCredentials):
		return "credentials"
	case errors.Is(err, kauth.ErrTokenReturnedAgain):
		return "token_returned_again"
	case errors.Is(err, kauth.ErrTokenRejected):
		return "token_rejected"
	case errors.Is(err, kauth.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, kauth.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, kauth.ErrBadRequest):
		return "bad_request"
	case errors.Is(err, kauth.ErrMalformedToken):
		return "malformed_token"
	case errors.Is(err, errCanceled):
		return "canceled"
	}
	return "other"
}
