// Package brokers is the one list of the brokers that the CLI, the agent
// and the demo serve. Each broker lives in its own package, which defines
// its kauth.BrokerSpec; adding a broker is its package plus one line below.
// Nothing registers itself: this list is all there is.
package brokers

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/db"
	"github.com/kauth/kauth/kis"
	"github.com/kauth/kauth/kiwoom"
	"github.com/kauth/kauth/ls"
	"github.com/kauth/kauth/toss"
)

// table lists the brokers in the order people see them.
var table = []kauth.BrokerSpec{
	kis.Spec,
	kiwoom.Spec,
	ls.Spec,
	db.Spec,
	toss.Spec,
}

// All returns the spec of every broker, in display order.
func All() []kauth.BrokerSpec { return append([]kauth.BrokerSpec(nil), table...) }

// Names returns the name of every broker, in display order.
func Names() []kauth.Broker {
	out := make([]kauth.Broker, len(table))
	for i, s := range table {
		out[i] = s.Name
	}
	return out
}

// Get returns the spec of b.
func Get(b kauth.Broker) (kauth.BrokerSpec, bool) {
	for _, s := range table {
		if s.Name == b {
			return s, true
		}
	}
	return kauth.BrokerSpec{}, false
}

// Parse parses a broker name or one of its aliases (BrokerSpec.Aliases),
// case-insensitively. The error of an unknown name lists the known ones.
func Parse(s string) (kauth.Broker, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	for _, spec := range table {
		if name == string(spec.Name) || slices.Contains(spec.Aliases, name) {
			return spec.Name, nil
		}
	}
	names := make([]string, len(table))
	for i, spec := range table {
		names[i] = string(spec.Name)
	}
	return "", fmt.Errorf("kauth: unknown broker %q (want %s)", s, strings.Join(names, ", "))
}

// MustGet returns the spec of b, or panics: for tests and for names that
// came through Parse.
func MustGet(b kauth.Broker) kauth.BrokerSpec {
	s, ok := Get(b)
	if !ok {
		panic(fmt.Sprintf("brokers: unknown broker %q", b))
	}
	return s
}

// NewProvider returns b's Provider aimed at base ("" for the published
// domain).
func NewProvider(b kauth.Broker, base string, client *http.Client, now func() time.Time) (kauth.Provider, error) {
	s, ok := Get(b)
	if !ok {
		return nil, fmt.Errorf("kauth: unknown broker %q", b)
	}
	return s.New(base, client, now), nil
}
