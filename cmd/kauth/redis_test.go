package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testredis"
)

// freshApp registers a made-up app key of its own at sim (so that tests
// sharing the test Redis never share an entry), with the secret of the
// broker's fixtures, and deletes its Redis keys when the test ends.
func freshApp(t *testing.T, sim *testSim, b kauth.Broker, e kauth.Env, name string) string {
	t.Helper()
	client := testredis.Client(t)
	var r [6]byte
	rand.Read(r[:])
	appKey := "FAKE-TEST-" + name + "-APPKEY-" + hex.EncodeToString(r[:])
	secret := fakeKISSecret
	if b == kauth.Kiwoom {
		secret = fakeKiwoomSecret
	}
	sim.Register(b, e, appKey, secret)
	fp := kauth.Fingerprint(appKey)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		it := client.Scan(ctx, 0, "*"+fp+"*", 100).Iterator()
		for it.Next(ctx) {
			client.Del(ctx, it.Val())
		}
	})
	return appKey
}

func TestRedisStore(t *testing.T) {
	u := testredis.URL(t)
	sim := newTestSim(t)
	appKey := freshApp(t, sim, kauth.Kiwoom, kauth.Mock, "REDIS")
	fp := kauth.Fingerprint(appKey)
	env := with(sim.env(t, kauth.Mock),
		"KAUTH_STORE", u,
		"KAUTH_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"KIWOOM_APPKEY", appKey)

	r1 := run(t, env, "", "token", "--broker", "kiwoom", "--env", "mock")
	r1.wantCode(t, 0)
	r2 := run(t, env, "", "token", "--broker", "kiwoom", "--env", "mock")
	r2.wantCode(t, 0)
	if r1.stdout != r2.stdout {
		t.Errorf("tokens = %q, %q; want one token twice", r1.stdout, r2.stdout)
	}
	if n := sim.Issued(kauth.Kiwoom, kauth.Mock, appKey); n != 1 {
		t.Errorf("issued %d; want 1", n)
	}
	st := run(t, env, "", "status")
	st.wantCode(t, 0)
	if !strings.Contains(st.stdout, fp) || !strings.Contains(st.stdout, "store: redis://") {
		t.Errorf("status = %s", st.stdout)
	}
	if _, err := os.Stat(env["KAUTH_CACHE_DIR"]); err == nil {
		t.Errorf("the Redis store wrote to the cache directory")
	}
}
