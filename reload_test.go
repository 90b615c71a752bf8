package kauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// A token revoked elsewhere is dropped, or swapped for the replacement the
// store holds, as soon as the change is heard, even while another process
// holds the entry's lock — issuing the replacement, or SIGKILLed between
// saving it and unlocking, with a Redis lease that lapses only after 15 s.
// A revoked token is worse than any other, so this needs no lock; only
// taking a newer token over a live one does. (The fault harness,
// internal/reliability, found agents serving a revoked token for as long
// as a SIGKILLed lock holder's lease.)
func TestRevokedElsewhereDroppedWhileLockHeld(t *testing.T) {
	for _, replaced := range []bool{false, true} {
		name := map[bool]string{false: "dropped", true: "replaced"}[replaced]
		t.Run(name, func(t *testing.T) {
			sim := brokersim.New()
			p := &scripted{now: sim.Now, life: 24 * time.Hour, tokens: []string{"tok-A", "tok-B"}}
			store := newGatedStore()
			m := scriptedManager(t, sim, p, store)
			ctx := context.Background()
			key := brokersim.DemoKiwoomMock.Credentials().Key()
			if _, err := m.Token(ctx); err != nil {
				t.Fatal(err)
			}

			// Another process revokes tok-A (and maybe saves its
			// replacement), and keeps the lock.
			lease, err := store.MemoryStore.Lock(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			defer lease.Unlock()
			e, _ := store.MemoryStore.Load(ctx, key)
			e.Rejected, e.Token = e.Token.Fingerprint(), kauth.Token{}
			if replaced {
				now := sim.Now()
				e.Token = kauth.Token{AccessToken: "tok-X", Type: "Bearer", IssuedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
			}
			if err := lease.Save(ctx, e); err != nil {
				t.Fatal(err)
			}
			store.send(kauth.Change{Key: key})

			deadline := time.Now().Add(2 * time.Second)
			for {
				got, ok := m.Cached()
				if !ok && !replaced || ok && got.AccessToken == "tok-X" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("2 s after the change, with the lock held elsewhere, the Manager serves %q (ok %v); want %s", got.AccessToken, ok,
						map[bool]string{false: "none", true: "tok-X"}[replaced])
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// A reload waiting for a lock that another process keeps (issuing, or
// dead with a lease still running) does not hold up the changes heard
// after it: a revoke that comes while the first reload waits is seen at
// once. (The fault harness found an agent serving a revoked token for as
// long as a lock holder of the round before kept its lease: its reload of
// an earlier change waited for that lock, and the revoke was folded behind
// it.)
func TestRevokeHeardWhileAReloadWaitsForTheLock(t *testing.T) {
	sim := brokersim.New()
	p := &scripted{now: sim.Now, life: 24 * time.Hour, tokens: []string{"tok-A", "tok-B"}}
	store := newGatedStore()
	m := scriptedManager(t, sim, p, store)
	ctx := context.Background()
	key := brokersim.DemoKiwoomMock.Credentials().Key()
	if _, err := m.Token(ctx); err != nil {
		t.Fatal(err)
	}

	// Another process takes the lock and keeps it; a first change (the
	// same token, a new LastIssue) makes the Manager's reload wait for it.
	lease, err := store.MemoryStore.Lock(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock()
	e, _ := store.MemoryStore.Load(ctx, key)
	e.LastIssue = sim.Now()
	if err := lease.Save(ctx, e); err != nil {
		t.Fatal(err)
	}
	store.send(kauth.Change{Key: key})
	time.Sleep(50 * time.Millisecond)

	// Then tok-A is revoked, still under that lock.
	e.Rejected, e.Token = e.Token.Fingerprint(), kauth.Token{}
	if err := lease.Save(ctx, e); err != nil {
		t.Fatal(err)
	}
	store.send(kauth.Change{Key: key})

	deadline := time.Now().Add(2 * time.Second)
	for {
		if got, ok := m.Cached(); !ok {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("2 s after the revoke, with an earlier reload waiting for the lock, the Manager serves %q", got.AccessToken)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
