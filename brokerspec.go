package kauth

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// BrokerSpec names one broker and builds its Provider: its names, its
// published domains and the environment variables of its credentials. Each
// broker package (kis, kiwoom, ls, db) defines its Spec; the brokers package
// lists them in display order. What the engine needs to know of a broker
// (issuance spacing, longest lifetime, IP binding) comes from its Provider
// (see IssueSpacer, LifetimeCapper and IPBinder).
type BrokerSpec struct {
	// Name is the broker's name in flags, configs and cache keys.
	Name Broker
	// Display is the broker's name for people, e.g. "한국투자증권 (KIS)".
	Display string
	// Aliases are other names brokers.Parse accepts, lowercase.
	Aliases []string

	// RealURL and MockURL are the published domains per environment. Some
	// brokers (LS, DB) serve both from one domain and tell real from mock
	// by the app key; then both are the same.
	RealURL, MockURL string
	// KeyVar and SecretVar name the environment variables of the app key
	// and the secret; BaseURLVar the one that overrides the domain; EnvVar
	// the one that selects the environments the agent serves.
	KeyVar, SecretVar, BaseURLVar, EnvVar string
	// SecretName is what the broker calls its secret ("appsecret",
	// "secretkey", "appsecretkey").
	SecretName string

	// New returns the broker's Provider aimed at base (a domain without a
	// trailing slash; "" for the published one), sending with client and
	// reading the time from now (nil: time.Now).
	New func(base string, client *http.Client, now func() time.Time) Provider

	// PathPrefixes are the API paths the agent's proxy forwards: the API,
	// never the token endpoints.
	PathPrefixes []string
	// RateLimit returns the default proxied calls per second for one app
	// key at env: 90% of the broker's published limit.
	RateLimit func(env Env) float64

	// Probe builds a harmless call that every app key may make (a price
	// quote), to verify a token reported bad. base is the account's domain.
	Probe func(ctx context.Context, base *url.URL) (*http.Request, error)
	// ProbeOK reports whether the probe's JSON answer, status 2xx, is a
	// success — only a success proves the token good.
	ProbeOK func(body []byte) bool

	// TokenPath and RevokePath are the broker's token endpoints, which
	// the agent's facade answers with the managed token.
	TokenPath, RevokePath string
	// FacadeToken, FacadeRevoke and FacadeError, if set, are the facade's
	// answers in the broker's own shapes: the token endpoint's success for
	// t at now, the revoke endpoint's success, and an error with the
	// broker's (or kauth's) code and a one-line message. The agent knows
	// KIS's and Kiwoom's shapes itself.
	FacadeToken  func(t Token, now time.Time) any
	FacadeRevoke func() any
	FacadeError  func(code, msg string) any
}

// URL returns the published domain of s at env.
func (s BrokerSpec) URL(env Env) string {
	if env == Mock {
		return s.MockURL
	}
	return s.RealURL
}
