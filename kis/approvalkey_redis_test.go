package kis_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/kis"
	"github.com/kauth/kauth/store/redis"
)

// TestApprovalManagerSharedOnRedis: two hosts (two Redis stores) hold one
// approval key between them, sealed in Redis beside the token; when one
// host replaces a refused key, the other hears of it and adopts the new
// one.
func TestApprovalManagerSharedOnRedis(t *testing.T) {
	c := testredis.Client(t)
	prefix := testredis.Prefix(t)
	sim, _, p := newSim(t)
	creds := brokersim.DemoKISMock.Credentials()
	sealKey := bytes.Repeat([]byte{7}, 32)
	host := func() *kauth.Manager {
		s, err := redis.New(c, sealKey, redis.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		m, err := kis.NewApprovalManager(p, kauth.Config{Credentials: creds, Store: s, Clock: simClock{sim}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	a, b := host(), host()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ka, err := a.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := b.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ka.AccessToken != kb.AccessToken || sim.Stats().Approvals != 1 {
		t.Fatalf("two hosts: same key %v, approvals %d; want one key", ka.AccessToken == kb.AccessToken, sim.Stats().Approvals)
	}
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range keys {
		if bytes.Contains([]byte(k), []byte(creds.Fingerprint()+"_ap}")) {
			found = true
		}
		if bytes.Contains([]byte(k), []byte(ka.AccessToken)) {
			t.Errorf("a Redis key holds the approval key: %s", k)
		}
	}
	if !found {
		t.Errorf("no approval entry among %v", keys)
	}

	sim.Advance(2 * time.Second)
	a.Invalidate(ka.AccessToken)
	k2, err := a.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if cur, ok := b.Cached(); ok && cur.AccessToken == k2.AccessToken {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other host did not adopt the new approval key")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := sim.Stats().Approvals; n != 2 {
		t.Errorf("approvals = %d; want 2", n)
	}
}
