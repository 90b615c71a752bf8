package kauth

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// BrokerSpec is what kauth needs to know about one broker, in one place:
// the CLI, the demo, the simulator and the tests read it instead of
// switching on the broker's name. What the agent needs (its facade, proxy,
// probe and real-time gateway) it asks of the broker's Provider. Each broker package (kis,
// kiwoom, ls, db) defines its Spec and registers it from init; the brokers
// package lists them in display order.
type BrokerSpec struct {
	// Name is the broker's name in flags, configs and cache keys.
	Name Broker
	// Display is the broker's name for people, e.g. "한국투자증권 (KIS)".
	Display string
	// Aliases are other names ParseBroker accepts, lowercase.
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

	// MinIssueInterval is the least spacing between two issuances for one
	// app key that kauth keeps across processes.
	MinIssueInterval time.Duration
	// BindsTokenToIP reports whether the broker refuses a token used from
	// another IP than the one that issued it.
	BindsTokenToIP bool
	// Reissue is how the broker answers an issuance while its last token
	// is valid: "same" (the same token again), "new-keep-old" or
	// "new-revoke-old" (a new token that invalidates the old one). The
	// simulator starts in this mode.
	Reissue string
	// IssueLimit is the broker's own least spacing of issuances per app
	// key (KIS and DB: a minute), which the simulator enforces; 0 for none
	// published.
	IssueLimit time.Duration
	// TokenExpiry returns when a token issued at t ends, as the broker
	// documents it; the simulator hands out such lifetimes.
	TokenExpiry func(t time.Time) time.Time
	// MaxLifetime is the longest life the broker documents for a token.
	// A token the broker says lives more than 3 h longer (more than its
	// clock can be ahead of ours) is kept only MaxLifetime after kauth
	// received it, and the cut is logged, so that a broker's bad expiry
	// cannot pin a token for years. Zero means 24 h.
	MaxLifetime time.Duration

	// Sim names the simulator family that serves this broker in
	// brokersim: "kis", "kiwoom" or "igw" (the LS/DB gateway).
	Sim string
}

// URL returns the published domain of s at env.
func (s BrokerSpec) URL(env Env) string {
	if env == Mock {
		return s.MockURL
	}
	return s.RealURL
}

var registry struct {
	sync.RWMutex
	specs map[Broker]BrokerSpec
	order []Broker
}

// RegisterBroker adds s to the brokers kauth knows. Broker packages call it
// from init. It panics on an empty or duplicate name, a programming error
// found at start-up.
func RegisterBroker(s BrokerSpec) {
	registry.Lock()
	defer registry.Unlock()
	if s.Name == "" || strings.ToLower(string(s.Name)) != string(s.Name) {
		panic(fmt.Sprintf("kauth: RegisterBroker: bad name %q", s.Name))
	}
	if _, dup := registry.specs[s.Name]; dup {
		panic(fmt.Sprintf("kauth: RegisterBroker: %q registered twice", s.Name))
	}
	if registry.specs == nil {
		registry.specs = make(map[Broker]BrokerSpec)
	}
	registry.specs[s.Name] = s
	registry.order = append(registry.order, s.Name)
}

// LookupBroker returns the spec of b, if a broker package registered it.
func LookupBroker(b Broker) (BrokerSpec, bool) {
	registry.RLock()
	defer registry.RUnlock()
	s, ok := registry.specs[b]
	return s, ok
}

// RegisteredBrokers returns the names of the registered brokers, sorted.
func RegisteredBrokers() []Broker {
	registry.RLock()
	defer registry.RUnlock()
	out := slices.Clone(registry.order)
	slices.Sort(out)
	return out
}

func brokerNames() string {
	var names []string
	for _, b := range RegisteredBrokers() {
		names = append(names, string(b))
	}
	return strings.Join(names, ", ")
}
