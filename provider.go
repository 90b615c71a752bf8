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
// requests for env go to. Managers of one Group with no Store share one
// MemoryStore per domain, so two Managers aimed at different servers (the
// broker and a simulator) never share tokens. Every provider of a listed
// broker implements it.
type Locator interface {
	URL(env Env) string
}

// IssueSpacer is implemented by providers whose broker limits how often one
// app key may be issued a token. MinIssueInterval is the least spacing
// between two issuances that kauth keeps across processes; it is positive.
type IssueSpacer interface {
	MinIssueInterval() time.Duration
}

// LifetimeCapper is implemented by providers that know the longest life
// their broker documents for a token. A token the broker says lives more
// than 3 h longer (more than its clock can be ahead of ours) is kept only
// MaxLifetime after kauth received it, and the cut is logged, so that a
// broker's bad expiry cannot pin a token for years.
type LifetimeCapper interface {
	MaxLifetime() time.Duration
}

// IPBinder is implemented by providers whose broker may refuse a token used
// from another IP than the one that issued it. A Manager keys the entries
// of such a broker by Credentials.Egress too.
type IPBinder interface {
	BindsTokenToIP() bool
}

// DefaultMinIssueInterval is the issuance spacing kept for a provider that
// is no IssueSpacer: a guard against storms for a broker that documents
// no limit.
const DefaultMinIssueInterval = time.Second

// DefaultMaxLifetime is the longest life granted a token of a provider
// that is no LifetimeCapper.
const DefaultMaxLifetime = 24 * time.Hour

// MinIssueInterval returns p's issuance spacing (IssueSpacer), or
// DefaultMinIssueInterval.
func MinIssueInterval(p Provider) time.Duration {
	if s, ok := p.(IssueSpacer); ok {
		if d := s.MinIssueInterval(); d > 0 {
			return d
		}
	}
	return DefaultMinIssueInterval
}

// MaxLifetime returns the longest life kauth grants a token issued by p
// (LifetimeCapper), or DefaultMaxLifetime.
func MaxLifetime(p Provider) time.Duration {
	if c, ok := p.(LifetimeCapper); ok {
		if d := c.MaxLifetime(); d > 0 {
			return d
		}
	}
	return DefaultMaxLifetime
}

// BindsTokenToIP reports whether p's broker binds a token to the IP that
// issued it (IPBinder).
func BindsTokenToIP(p Provider) bool {
	b, ok := p.(IPBinder)
	return ok && b.BindsTokenToIP()
}
