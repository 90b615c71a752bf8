package reliability

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// NewStoreKey returns a random store key as KAUTH_KEY holds it.
func NewStoreKey() string {
	k := make([]byte, 32)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// StormEnv is the environment of storm children for app on the rig, with
// the file store in dir, or the Redis store at redisURL (see
// internal/testredis) under redisPrefix if redisURL is not "".
func StormEnv(r *Rig, app brokersim.App, storeKey, dir, redisURL, redisPrefix string) []string {
	env := []string{EnvSim + "=" + r.URL(), EnvApps + "=" + AppName(app), "KAUTH_KEY=" + storeKey}
	if redisURL == "" {
		return append(env, EnvStore+"=file", "KAUTH_CACHE_DIR="+dir)
	}
	return append(env, EnvStore+"=redis", EnvRedis+"="+redisURL, EnvPrefix+"="+redisPrefix)
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
