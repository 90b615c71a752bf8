package reliability

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// RedisURL is the Redis the tests use: $KAUTH_TEST_REDIS, or
// redis://127.0.0.1:6379/0.
func RedisURL() string {
	if u := os.Getenv("KAUTH_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// RequireRedis returns a client of the test Redis. Without a reachable
// Redis it skips tb, or fails it when CI=true, saying how to point the
// tests at one.
func RequireRedis(tb testing.TB) *goredis.Client {
	tb.Helper()
	o, err := goredis.ParseURL(RedisURL())
	if err == nil {
		o.DialTimeout = time.Second
		o.DialerRetries = 1
		c := goredis.NewClient(o)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = c.Ping(ctx).Err()
		cancel()
		if err == nil {
			tb.Cleanup(func() { c.Close() })
			return c
		}
		c.Close()
	}
	msg := fmt.Sprintf("redis not reachable (%v); start one on 127.0.0.1:6379 or set KAUTH_TEST_REDIS=redis://host:port/db", err)
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return nil
}

// RedisPrefix returns a fresh key prefix, whose keys are deleted when tb
// ends.
func RedisPrefix(tb testing.TB, c *goredis.Client) string {
	var b [6]byte
	rand.Read(b[:])
	prefix := "kauthrel" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		it := c.Scan(ctx, 0, prefix+":*", 100).Iterator()
		for it.Next(ctx) {
			c.Del(ctx, it.Val())
		}
	})
	return prefix
}

// NewStoreKey returns a random store key as KAUTH_KEY holds it.
func NewStoreKey() string {
	k := make([]byte, 32)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// StormEnv is the environment of storm children for app on the rig, with
// the file store in dir (if redisPrefix is "") or Redis.
func StormEnv(r *Rig, app brokersim.App, storeKey, dir, redisPrefix string) []string {
	env := []string{EnvSim + "=" + r.URL(), EnvApps + "=" + AppName(app), "KAUTH_KEY=" + storeKey}
	if redisPrefix == "" {
		return append(env, EnvStore+"=file", "KAUTH_CACHE_DIR="+dir)
	}
	return append(env, EnvStore+"=redis", EnvRedis+"="+RedisURL(), EnvPrefix+"="+redisPrefix)
}

// GoroutineStorm starts n goroutines that call m.Token at once, and returns
// how many distinct tokens they got, the first error, and the wall time
// from the release to the last answer.
func GoroutineStorm(m *kauth.Manager, n int) (tokens int, err error, wall time.Duration) {
	var wg sync.WaitGroup
	got := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			tok, err := m.Token(context.Background())
			got[i], errs[i] = tok.AccessToken, err
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	wall = time.Since(t0)
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil && err == nil {
			err = errs[i]
		}
		if got[i] != "" {
			seen[got[i]] = true
		}
	}
	return len(seen), err, wall
}
