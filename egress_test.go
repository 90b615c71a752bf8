package kauth_test

import (
	"context"
	"testing"

	"github.com/kauth/kauth"
)

func TestEgressKeysOnlyIPBoundBrokers(t *testing.T) {
	kw := kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Real, AppKey: "made-up-key", AppSecret: "s"}
	kis := kauth.Credentials{Broker: kauth.KIS, Env: kauth.Real, AppKey: "made-up-key", AppSecret: "s"}
	a, b := kw, kw
	a.Egress, b.Egress = "203.0.113.7", "198.51.100.9"
	if a.Key() == b.Key() {
		t.Errorf("Kiwoom entries of two egresses share key %v; a token bound to one IP would be served to the other", a.Key())
	}
	if a.Key() == kw.Key() {
		t.Errorf("an egress does not change the Kiwoom key")
	}
	same := a
	if same.Key() != a.Key() {
		t.Errorf("one egress gives two keys")
	}
	k2 := kis
	k2.Egress = "203.0.113.7"
	if k2.Key() != kis.Key() {
		t.Errorf("KIS does not bind tokens to IPs, yet the egress changed its key: %v vs %v", k2.Key(), kis.Key())
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
