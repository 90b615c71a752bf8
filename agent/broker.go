package agent

import (
	"fmt"
	"net/http"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
)

// What the agent asks of a broker. Each broker's Provider implements the
// methods below that apply to it, and the agent type-asserts the account's
// Provider for them (as net/http does for http.Flusher): the agent never
// tests a broker's name, so a new broker is served by its package alone.
// The methods use only kauth's and the standard library's types, since a
// broker package does not import the agent.

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
// their own, issued at ApprovalPath and managed like a token (KIS's
// WebSocket approval key).
type approvalIssuer interface {
	ApprovalPath() string
	// NewApprovalManager returns a Manager of the key for cfg's
	// credentials; cfg.Provider is left nil.
	NewApprovalManager(cfg kauth.Config) (*kauth.Manager, error)
	// FacadeApproval is the approval endpoint's success for key.
	FacadeApproval(key kauth.Token) any
}

// apiPrefixer names the broker's API paths: what the proxy forwards (never
// its token endpoints or anything else on its host).
type apiPrefixer interface {
	APIPrefixes() []string
}

// providerOf returns a Provider of broker b for the facts that do not
// depend on a domain or a client (prefixes, rate limits), or nil for a
// broker not in the list.
func providerOf(b kauth.Broker) kauth.Provider {
	s, ok := brokers.Get(b)
	if !ok || s.New == nil {
		return nil
	}
	return s.New("", nil, nil)
}

// apiPrefixes returns the API paths the proxy forwards for p, or none.
func apiPrefixes(p kauth.Provider) []string {
	if a, ok := p.(apiPrefixer); ok {
		return a.APIPrefixes()
	}
	return nil
}

// prefixes returns the API paths the proxy forwards for acct.
func (acct *account) prefixes() []string { return apiPrefixes(acct.mgr.Provider()) }

// brokerList is the brokers an agent serves (Options.Brokers).
type brokerList []kauth.BrokerSpec

// get returns the spec of b.
func (l brokerList) get(b kauth.Broker) (kauth.BrokerSpec, error) {
	for _, spec := range l {
		if spec.Name == b && spec.New != nil {
			return spec, nil
		}
	}
	return kauth.BrokerSpec{}, fmt.Errorf("kauth: unknown broker %q", b)
}
