package agent

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/kis"
)

// TestFacadeIndexFollowsAccounts: the agent builds the facade's index once
// per set of accounts, and a new set (a Reload) gets a new index that no
// longer sees an account removed.
func TestFacadeIndexFollowsAccounts(t *testing.T) {
	store := kauth.NewMemoryStore()
	a := &Agent{accounts: map[string]*account{}}
	var accts []*account
	now := time.Now()
	for i := range 2 {
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
		acct := &account{name: fmt.Sprintf("acct%d", i), creds: creds, mgr: mgr}
		a.accounts[acct.name] = acct
		accts = append(accts, acct)
	}
	own, other := accts[0], accts[1]
	otherTok, _ := other.mgr.Cached()
	ix := a.facadeIndex()
	if !ix.ForeignKey(own, other.creds.AppKey) || !ix.ForeignToken(own, otherTok.AccessToken) {
		t.Fatal("another account's app key or token was not seen as foreign")
	}
	if a.facadeIndex() != ix {
		t.Error("the index was rebuilt while the accounts did not change")
	}
	a.mu.Lock()
	a.accounts = map[string]*account{own.name: own}
	a.mu.Unlock()
	ix = a.facadeIndex()
	if ix.ForeignToken(own, otherTok.AccessToken) || ix.ForeignKey(own, other.creds.AppKey) {
		t.Error("an account no longer served is still seen by the index")
	}
}
