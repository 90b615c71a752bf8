package proxy

import (
	"net/http"
	"time"

	"github.com/kauth/kauth"
)

// What the proxy and the facade ask of a broker. Each broker's Provider
// implements the methods below that apply to it, and the proxy
// type-asserts the account's Provider for them (as net/http does for
// http.Flusher): it never tests a broker's name, so a new broker is served
// by its package alone.

// facadeEndpoints is a broker whose token endpoints the facade answers
// with the managed token.
type facadeEndpoints interface {
	// FacadePaths returns the paths of the broker's token and revoke
	// endpoints ("" for one it does not have).
	FacadePaths() (token, revoke string)
}

// facadeAnswers are the facade's answers in the broker's own shapes. The
// headers, if not nil, are set on the answer as they are (in the broker's
// letter case).
type facadeAnswers interface {
	// FacadeToken is the token endpoint's success for t at now.
	FacadeToken(t kauth.Token, now time.Time) (http.Header, any)
	// FacadeRevoke is the revoke endpoint's success.
	FacadeRevoke() (http.Header, any)
	// FacadeError is an error with code (kauth's, e.g.
	// "foreign_credentials", or the broker's) and msg, one line without
	// secrets.
	FacadeError(code, msg string) any
}

// approvalIssuer is a broker whose real-time sessions open with a key of
// their own, issued at ApprovalPath (KIS's WebSocket approval key).
type approvalIssuer interface {
	ApprovalPath() string
	// FacadeApproval is the approval endpoint's success for key.
	FacadeApproval(key kauth.Token) any
}

// apiPrefixer names the broker's API paths: what the proxy forwards (never
// its token endpoints or anything else on its host).
type apiPrefixer interface {
	APIPrefixes() []string
}

// apiPrefixes returns the API paths the proxy forwards for p, or none.
func apiPrefixes(p kauth.Provider) []string {
	if a, ok := p.(apiPrefixer); ok {
		return a.APIPrefixes()
	}
	return nil
}
