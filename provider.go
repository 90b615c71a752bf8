package kauth

import (
	"context"
	"net/http"
	"time"
)

// Provider issues and revokes tokens at one broker. The kis and kiwoom
// packages implement it. Implementations must be safe for concurrent use,
// and must return *Error values whose Kind is one of the Err* kinds.
type Provider interface {
	// Issue asks the broker for a token. A broker may answer with the token
	// it issued before (KIS within 6 h of the last issue, Kiwoom while the
	// token is valid); that is not an error.
	Issue(ctx context.Context, c Credentials) (Token, error)
	// Revoke asks the broker to revoke token.
	Revoke(ctx context.Context, c Credentials, token string) error
}

// Authorizer is implemented by providers that know how their broker's other
// API calls carry a token. Transport uses it.
type Authorizer interface {
	// Authorize sets the headers that authenticate req with t (KIS:
	// authorization, appkey, appsecret; Kiwoom: authorization).
	Authorize(req *http.Request, c Credentials, t Token)
	// Rejected reports whether resp says that the token was rejected
	// (expired, revoked or invalid). It may read the start of the body, but
	// must leave resp.Body readable from its beginning, and must not buffer
	// a large body whole.
	Rejected(resp *http.Response) bool
}

// Locator is implemented by providers that can tell the domain their
// requests for env go to. Managers with no Store share one in-process
// MemoryStore per domain, so two Managers aimed at different servers (the
// broker and a simulator) never share tokens. Every provider of a
// registered broker implements it.
type Locator interface {
	URL(env Env) string
}

// MinIssueInterval returns the smallest spacing between two issuances for
// one app key that kauth keeps, across processes: the broker's
// BrokerSpec.MinIssueInterval (KIS 61 s for its one issuance a minute,
// EGW00133), or a 1 s guard against storms for a broker that documents no
// limit or is not registered.
func MinIssueInterval(b Broker) time.Duration {
	if s, ok := LookupBroker(b); ok && s.MinIssueInterval > 0 {
		return s.MinIssueInterval
	}
	return time.Second
}
