package kauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// A token revoked elsewhere is dropped as soon as the change is heard, even
// while another process holds the entry's lock — issuing its replacement,
// or dead with a Redis lease that lapses only after 15 s. Dropping never
// swaps back to an older token, so it needs no lock; only adopting does.
// (The fault harness, internal/reliability, found agents serving a revoked
// token for as long as a SIGKILLed lock holder's lease.)
func TestRevokedElsewhereDroppedWhileLockHeld(t *testing.T) {
	sim := brokersim.New()
	p := &scripted{now: sim.Now, life: 24 * time.Hour, tokens: []string{"tok-A", "tok-B"}}
	store := newGatedStore()
	m := scriptedManager(t, sim, p, store)
	ctx := context.Background()
	key := brokersim.DemoKiwoomMock.Credentials().Key()
	if _, err := m.Token(ctx); err != nil {
		t.Fatal(err)
	}

	// Another process revokes tok-A and keeps the lock.
	lease, err := store.MemoryStore.Lock(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock()
	e, _ := store.MemoryStore.Load(ctx, key)
	e.Rejected, e.Token = e.Token.Fingerprint(), kauth.Token{}
	if err := lease.Save(ctx, e); err != nil {
		t.Fatal(err)
	}
	store.send(kauth.Change{Key: key})

	deadline := time.Now().Add(2 * time.Second)
	for {
		got, ok := m.Cached()
		if !ok || got.AccessToken != "tok-A" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Manager still serves the token revoked elsewhere 2 s after the change, while the lock is held")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
