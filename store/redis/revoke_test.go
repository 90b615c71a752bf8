package redis_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/kiwoom"
	"github.com/kauth/kauth/store/redis"
)

// TestRevokeWithRedisAway: a Manager whose Redis is unreachable still
// revokes the token it holds at the broker, stops serving it, and says
// that the store could not record the revoke.
func TestRevokeWithRedisAway(t *testing.T) {
	sim := brokersim.New()
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	viaProxy, proxy := proxied(t)
	st := newStore(t, viaProxy, newKey(), redis.WithPrefix(testredis.Prefix(t)), redis.WithLease(time.Second), quiet)
	m, err := kauth.NewManager(kauth.Config{
		Credentials: brokersim.DemoKiwoomMock.Credentials(),
		Provider:    &kiwoom.Provider{BaseURL: brokersim.BaseURL(ts.URL, kauth.Kiwoom, kauth.Mock)},
		Store:       st,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	tok, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	defer proxy.Restore()
	err = m.Revoke(ctx)
	if n := sim.Stats().Revoked; n != 1 {
		t.Fatalf("with Redis away, the broker revoked %d tokens; want 1 (Revoke: %v)", n, err)
	}
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "revoked at the broker, but the store still holds the token") {
		t.Errorf("Revoke with Redis away = %v; want an error saying the store still holds the revoked token", err)
	}
	if err != nil && strings.Contains(err.Error(), tok.AccessToken) {
		t.Error("the error reveals the token")
	}
	if _, ok := m.Cached(); ok {
		t.Error("the Manager still serves the revoked token")
	}
}
