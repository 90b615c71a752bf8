package kauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// revokeProbe is a scripted Provider that keeps what the store held for
// the key when the broker was asked to revoke; if lost is set, the revoke
// reaches the broker but its answer never comes back, as when the
// connection drops.
type revokeProbe struct {
	*scripted
	store kauth.Store
	lost  bool
	seen  kauth.Entry
}

func (p *revokeProbe) Revoke(ctx context.Context, c kauth.Credentials, token string) error {
	p.seen, _ = p.store.Load(ctx, c.Key())
	p.scripted.Revoke(ctx, c, token)
	if p.lost {
		return &kauth.Error{Broker: c.Broker, Env: c.Env, Op: "revoke", Kind: kauth.ErrUnavailable, Message: "connection reset"}
	}
	return nil
}

// TestRevokeMarksBeforeBroker: the store says a token is being revoked
// before the broker hears of it, so that from then on nobody serves it —
// the revoker, a sibling that was serving it, a Manager that starts after
// a revoke whose end nobody saw. The next issuance decides: a new token if
// the revoke reached the broker, or the same one, served again, if the
// broker hands it back.
func TestRevokeMarksBeforeBroker(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tokens []string
		want   string
	}{
		{"the broker revoked it", []string{"tok-A", "tok-B"}, "tok-B"},
		{"the revoke never reached the broker", []string{"tok-A"}, "tok-A"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			sim := brokersim.New()
			store := kauth.NewMemoryStore()
			p := &revokeProbe{scripted: &scripted{now: sim.Now, life: 24 * time.Hour, tokens: tc.tokens}, store: store, lost: true}
			g := kauth.NewGroup()
			inGroup := func(c *kauth.Config) { c.Group = g }
			m := scriptedManager(t, sim, p, store, inGroup)
			sib := scriptedManager(t, sim, p, store, inGroup)
			tok, err := m.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := sib.Token(ctx); err != nil || got.AccessToken != tok.AccessToken {
				t.Fatalf("sibling Token() = %v, %v; want %v", got, err, tok)
			}
			if err := m.Revoke(ctx); err == nil {
				t.Fatal("Revoke() = nil; want the lost answer's error")
			}
			if p.seen.Token.AccessToken != tok.AccessToken || p.seen.Revoking != tok.Fingerprint() {
				t.Errorf("when the broker was called, the store held %v, Revoking %q; want %v marked %q", p.seen.Token, p.seen.Revoking, tok, tok.Fingerprint())
			}
			if _, ok := m.Cached(); ok {
				t.Error("the revoker still serves the token whose revoke may have reached the broker")
			}
			for deadline := time.Now().Add(5 * time.Second); ; {
				if _, ok := sib.Cached(); !ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the sibling still serves the token being revoked after 5 s")
				}
				time.Sleep(10 * time.Millisecond)
			}

			late := scriptedManager(t, sim, p, store)
			got, err := late.Token(ctx)
			if err != nil || got.AccessToken != tc.want {
				t.Fatalf("Token() after the revoke = %v, %v; want %s", got, err, tc.want)
			}
			e, err := store.Load(ctx, late.Key())
			if err != nil || e.Token.AccessToken != tc.want || e.Revoking != "" {
				t.Errorf("store = %v, Revoking %q, %v; want %s, no revoke pending", e.Token, e.Revoking, err, tc.want)
			}
			if got, err := m.Token(ctx); err != nil || got.AccessToken != tc.want {
				t.Errorf("the revoker's Token() = %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// TestSameTokenRevokeMarksBeforeBroker: the revoke that ends a same-token
// period (the broker hands back the token in its last margin) marks the
// store entry before the broker is called, as Revoke does.
func TestSameTokenRevokeMarksBeforeBroker(t *testing.T) {
	ctx := context.Background()
	sim := brokersim.New()
	store := kauth.NewMemoryStore()
	p := &revokeProbe{scripted: &scripted{now: sim.Now, life: 24 * time.Hour, tokens: []string{"tok-A", "tok-A", "tok-B"}}, store: store}
	m := scriptedManager(t, sim, p, store)
	first, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sim.Advance(first.ExpiresAt.Sub(sim.Now()) - 30*time.Second)
	next, err := m.Token(ctx)
	if err != nil || next.AccessToken != "tok-B" {
		t.Fatalf("Token() in the first token's last margin = %v, %v; want tok-B", next, err)
	}
	if len(p.revoked) != 1 || p.seen.Revoking != first.Fingerprint() {
		t.Errorf("revoked %d tokens; the store's mark when the broker was called = %q; want 1 and %q", len(p.revoked), p.seen.Revoking, first.Fingerprint())
	}
	if e, err := store.Load(ctx, m.Key()); err != nil || e.Token.AccessToken != "tok-B" || e.Revoking != "" {
		t.Errorf("store = %v, Revoking %q, %v; want tok-B, no revoke pending", e.Token, e.Revoking, err)
	}
}
