package kauth_test

import (
	"context"
	"testing"

	"github.com/kauth/kauth"
	kislib "github.com/kauth/kauth/kis"
	kiwoomlib "github.com/kauth/kauth/kiwoom"
)

// ipBound is a Provider whose broker binds tokens to the issuing IP.
type ipBound struct{ kauth.Provider }

func (ipBound) BindsTokenToIP() bool { return true }

func TestEgressKeysOnlyIPBoundBrokers(t *testing.T) {
	kw := kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Real, AppKey: "made-up-key", AppSecret: "s"}
	kis := kauth.Credentials{Broker: kauth.KIS, Env: kauth.Real, AppKey: "made-up-key", AppSecret: "s"}
	key := func(c kauth.Credentials, p kauth.Provider) kauth.Key {
		t.Helper()
		m, err := kauth.NewManager(kauth.Config{Credentials: c, Provider: p, Store: kauth.NewMemoryStore()})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if m.Key() != m.Credentials().Key() {
			t.Errorf("Manager.Key() = %v, but its Credentials' Key() = %v", m.Key(), m.Credentials().Key())
		}
		return m.Key()
	}
	a, b := kw, kw
	a.Egress, b.Egress = "203.0.113.7", "198.51.100.9"
	for _, p := range []kauth.Provider{kiwoomlib.New(), ipBound{kislib.New()}} {
		if key(a, p) == key(b, p) {
			t.Errorf("%T: entries of two egresses share key %v; a token bound to one IP would be served to the other", p, key(a, p))
		}
		if key(a, p) == key(kw, p) {
			t.Errorf("%T: an egress does not change the key", p)
		}
		if key(a, p) != key(a, p) {
			t.Errorf("%T: one egress gives two keys", p)
		}
		if key(a, p) != a.Key() {
			t.Errorf("%T: the Manager's key %v is not the Credentials' %v", p, key(a, p), a.Key())
		}
	}
	k2 := kis
	k2.Egress = "203.0.113.7"
	if got := key(k2, kislib.New()); got != key(kis, kislib.New()) || got != kis.Key() {
		t.Errorf("KIS does not bind tokens to IPs, yet the egress changed its key: %v vs %v", got, kis.Key())
	}
	// The key stays a valid store key: [a-z0-9_].
	for _, r := range a.Key().Fingerprint {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			t.Fatalf("fingerprint %q has %q", a.Key().Fingerprint, r)
		}
	}
}

func TestResolveEgress(t *testing.T) {
	ctx := context.Background()
	if got, err := kauth.ResolveEgress(ctx, "", "https://api.kiwoom.com"); err != nil || got != "" {
		t.Errorf(`ResolveEgress("") = %q, %v; want "", nil`, got, err)
	}
	if got, err := kauth.ResolveEgress(ctx, "office-nat", "https://api.kiwoom.com"); err != nil || got != "office-nat" {
		t.Errorf(`ResolveEgress("office-nat") = %q, %v`, got, err)
	}
	if got, err := kauth.ResolveEgress(ctx, "auto", "http://127.0.0.1:8080/kiwoom/real"); err != nil || got != "127.0.0.1" {
		t.Errorf(`ResolveEgress("auto", loopback) = %q, %v; want 127.0.0.1`, got, err)
	}
	if _, err := kauth.ResolveEgress(ctx, "auto", "not a url"); err == nil {
		t.Errorf(`ResolveEgress("auto", "not a url") succeeded`)
	}
}
