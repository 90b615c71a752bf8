package kauth

import (
	"net/http"
	"time"
)

// BrokerSpec names one broker and builds its Provider: its names, its
// published domains and the environment variables of its credentials. Each
// broker package (kis, kiwoom, ls, db) defines its Spec; the brokers package
// lists them in display order. What the engine needs to know of a broker
// (issuance spacing, longest lifetime, IP binding) comes from its Provider
// (see IssueSpacer, LifetimeCapper and IPBinder); what the agent and the
// real-time gateway need, from the interfaces they declare and the
// Provider implements.
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
}

// URL returns the published domain of s at env.
func (s BrokerSpec) URL(env Env) string {
	if env == Mock {
		return s.MockURL
	}
	return s.RealURL
}
