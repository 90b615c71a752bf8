package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/kis"
)

// manyAccounts builds a Proxy serving n KIS accounts, each with its own
// app key and a token already in memory, without a broker.
func manyAccounts(t *testing.T, n int) (*Proxy, []*testAccount) {
	t.Helper()
	store := kauth.NewMemoryStore()
	host := &testHost{agentKey: testAgentKey, relays: make(map[string]*Relay, n)}
	p := New(Config{Log: slog.New(slog.DiscardHandler), Host: host})
	accts := make([]*testAccount, n)
	now := time.Now()
	base, _ := url.Parse("http://127.0.0.1:1")
	for i := range n {
		creds := kauth.Credentials{Broker: kauth.KIS, Env: kauth.Mock,
			AppKey: fmt.Sprintf("PSappkey%05dxxxxxxxxxxxxxxxxxxxxxxx", i), AppSecret: fmt.Sprintf("secret-%05d", i)}
		tok := kauth.Token{AccessToken: fmt.Sprintf("token-%05d-made-up", i), Type: "Bearer", IssuedAt: now, ExpiresAt: now.Add(20 * time.Hour)}
		if err := store.Save(context.Background(), creds.Key(), kauth.Entry{Token: tok}); err != nil {
			t.Fatal(err)
		}
		mgr, err := kauth.NewManager(kauth.Config{Credentials: creds, Provider: kis.New(), Store: store, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mgr.Close() })
		if _, err := mgr.Token(context.Background()); err != nil {
			t.Fatal(err)
		}
		acct := &testAccount{name: fmt.Sprintf("acct%05d", i), creds: creds, mgr: mgr}
		host.relays[acct.name] = p.Relay(acct, base)
		accts[i] = acct
	}
	return p, accts
}

// TestFacadeForeignChecksDoNotGrowWithAccounts: the facade's checks for
// another account's app key or token cost the same whatever the number of
// accounts served: no per-account work (snapshot, sort, key hashing) on
// each call, so no allocation that grows with the accounts.
func TestFacadeForeignChecksDoNotGrowWithAccounts(t *testing.T) {
	a, accts := manyAccounts(t, 1000)
	own, other := accts[10], accts[900]
	otherTok, _ := other.mgr.Cached()
	ownTok, _ := own.mgr.Cached()

	// Behaviour first: foreign credentials are found, own ones are not.
	if !a.foreignKey(own, other.creds.AppKey) || !a.foreignKey(own, " "+other.creds.AppKey+" ") {
		t.Fatal("another account's app key was not seen as foreign")
	}
	if a.foreignKey(own, own.creds.AppKey) || a.foreignKey(own, "PSunknown") || a.foreignKey(own, "") {
		t.Fatal("own, unknown or empty app key seen as foreign")
	}
	if !a.foreignToken(own, "Bearer "+otherTok.AccessToken) || !a.foreignToken(own, "bearer "+otherTok.AccessToken) {
		t.Fatal("another account's token was not seen as foreign")
	}
	if a.foreignToken(own, "Bearer "+ownTok.AccessToken) || a.foreignToken(own, "Bearer unknown") || a.foreignToken(own, "") {
		t.Fatal("own, unknown or empty token seen as foreign")
	}

	checks := map[string]func(){
		"own app key":     func() { a.foreignKey(own, own.creds.AppKey) },
		"foreign app key": func() { a.foreignKey(own, other.creds.AppKey) },
		"unknown app key": func() { a.foreignKey(own, "PSunknown") },
		"own token":       func() { a.foreignToken(own, "Bearer "+ownTok.AccessToken) },
		"foreign token":   func() { a.foreignToken(own, "Bearer "+otherTok.AccessToken) },
	}
	for name, f := range checks {
		f() // the first call after a change of accounts may build the index
		if n := testing.AllocsPerRun(50, f); n > 4 {
			t.Errorf("%s: %.0f allocations per call with %d accounts, want a few that do not depend on the accounts", name, n, len(accts))
		}
	}
}

// TestFacadeIndexFollowsTokenChanges: a token that replaced another after
// the index was built is still recognised as foreign, and the replaced one
// no longer is.
func TestFacadeIndexFollowsTokenChanges(t *testing.T) {
	a, accts := manyAccounts(t, 3)
	own, other := accts[0], accts[1]
	old, _ := other.mgr.Cached()
	if !a.foreignToken(own, "Bearer "+old.AccessToken) {
		t.Fatal("another account's token was not seen as foreign")
	}
	now := time.Now()
	next := kauth.Token{AccessToken: "token-replacement-made-up", Type: "Bearer", IssuedAt: now, ExpiresAt: now.Add(20 * time.Hour)}
	if err := other.mgr.Store().Save(context.Background(), other.creds.Key(), kauth.Entry{Token: next}); err != nil {
		t.Fatal(err)
	}
	other.mgr.Invalidate(old.AccessToken)
	if got, err := other.mgr.Token(context.Background()); err != nil || got.AccessToken != next.AccessToken {
		t.Fatalf("the replacement token was not taken: %v", err)
	}
	if !a.foreignToken(own, "Bearer "+next.AccessToken) {
		t.Error("a token that replaced another account's after the index was built was not seen as foreign")
	}
	if a.foreignToken(own, "Bearer "+old.AccessToken) {
		t.Error("a replaced token is still seen as the other account's")
	}
}
