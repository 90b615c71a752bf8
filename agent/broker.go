package agent

import (
	"fmt"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
)

// What the agent asks of a broker. Each broker's Provider implements the
// methods below that apply to it, and the agent type-asserts the account's
// Provider for them (as net/http does for http.Flusher): the agent never
// tests a broker's name, so a new broker is served by its package alone.
// The methods use only kauth's and the standard library's types, since a
// broker package does not import the agent. What the proxy and the facade
// ask of a broker, package proxy asks itself (its brokers.go).

// facadeEndpoints is a broker whose token endpoints the facade answers
// with the managed token.
type facadeEndpoints interface {
	// FacadePaths returns the paths of the broker's token and revoke
	// endpoints ("" for one it does not have).
	FacadePaths() (token, revoke string)
}

// approvalIssuer is a broker whose real-time sessions open with a key of
// their own, issued at ApprovalPath and managed like a token (KIS's
// WebSocket approval key).
type approvalIssuer interface {
	ApprovalPath() string
	// NewApprovalManager returns a Manager of the key for cfg's
	// credentials; cfg.Provider is left nil.
	NewApprovalManager(cfg kauth.Config) (*kauth.Manager, error)
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
