// Package testredis gives tests the Redis they may use, under one policy:
//
//   - the server is KAUTH_TEST_REDIS, or redis://127.0.0.1:6379/15 if that
//     is unset;
//   - if it does not answer, tests that need it skip, with a message naming
//     KAUTH_TEST_REDIS, except under CI=true, where they fail: CI must not
//     pass by skipping;
//   - each test works under a key prefix of its own, whose keys are deleted
//     when the test ends.
//
// The server is pinged once per process, so that without one every test
// skips at once instead of each waiting for a dial to fail.
package testredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvVar names the variable that points the tests at a Redis.
const EnvVar = "KAUTH_TEST_REDIS"

// DefaultURL is the Redis used when EnvVar is unset: db 15 on the local
// default port, out of the way of real data.
const DefaultURL = "redis://127.0.0.1:6379/15"

// server is the test Redis as probed once for the process.
type server struct {
	url     string
	opts    *redis.Options // nil if url does not parse
	badURL  error          // why url does not parse
	pingErr error          // why the server did not answer
}

var probe = sync.OnceValue(func() server {
	s := server{url: os.Getenv(EnvVar)}
	if s.url == "" {
		s.url = DefaultURL
	}
	o, err := redis.ParseURL(s.url)
	if err != nil {
		s.badURL = err
		return s
	}
	o.DialTimeout = time.Second
	o.DialerRetries = 1
	s.opts = o
	c := redis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.pingErr = c.Ping(ctx).Err()
	return s
})

// lookup returns the test Redis, or why it cannot be used. A URL that does
// not parse fails the test: it is a mistake, not a missing server.
func lookup(t testing.TB) (s server, unreachable string) {
	t.Helper()
	s = probe()
	if s.badURL != nil {
		t.Fatalf("%s: %v", EnvVar, s.badURL)
	}
	if s.pingErr == nil {
		return s, ""
	}
	msg := fmt.Sprintf("redis not reachable at %s (%v); set %s=redis://host:port/db to run",
		redacted(s.url), s.pingErr, EnvVar)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	return s, msg
}

// need returns the test Redis, or skips the test (fails it under CI=true).
func need(t testing.TB) server {
	t.Helper()
	s, msg := lookup(t)
	if msg != "" {
		t.Skip(msg)
	}
	return s
}

func (s server) client() *redis.Client {
	o := *s.opts
	return redis.NewClient(&o)
}

// Try returns the URL of the test Redis and true if it answers. If it does
// not, Try logs why and returns false, except under CI=true, where it fails
// the test. It suits tests that also run without Redis.
func Try(t testing.TB) (string, bool) {
	t.Helper()
	s, msg := lookup(t)
	if msg != "" {
		t.Log(msg)
		return "", false
	}
	return s.url, true
}

// URL returns the URL of the test Redis. If it does not answer, URL skips
// the test, or fails it under CI=true.
func URL(t testing.TB) string {
	t.Helper()
	return need(t).url
}

// Client returns a new client of the test Redis, closed when the test ends.
// It skips or fails as URL does.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	c := need(t).client()
	t.Cleanup(func() { c.Close() })
	return c
}

// Prefix returns a key namespace of the test's own, "kauthtest:<random>",
// and deletes the keys under it from the test Redis when the test ends. It
// skips or fails as URL does.
func Prefix(t testing.TB) string {
	t.Helper()
	s := need(t)
	var b [6]byte
	rand.Read(b[:])
	prefix := "kauthtest:" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		c := s.client()
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		it := c.Scan(ctx, 0, prefix+":*", 100).Iterator()
		for it.Next(ctx) {
			c.Del(ctx, it.Val())
		}
	})
	return prefix
}

// redacted shows u without its password.
func redacted(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// Addr returns the host:port of the test Redis, for a proxy to forward to.
// It skips or fails as URL does.
func Addr(t testing.TB) string {
	t.Helper()
	return need(t).opts.Addr
}

// Options returns the options of a client of the test Redis (its address,
// database and password), for tests that build their own client, through a
// proxy or with their own timeouts. It skips or fails as URL does.
func Options(t testing.TB) *redis.Options {
	t.Helper()
	o := *need(t).opts
	return &o
}

// Reads is a go-redis hook (add it with AddHook) that counts the reads
// a client sends: GETs sent on their own, and pipelines that start with
// a GET, one round trip each whatever their length. The commands that
// set up a connection are not counted.
type Reads struct {
	Single    atomic.Int64 // GETs sent on their own
	Pipelines atomic.Int64 // pipelines of GETs
}

// RoundTrips is how many round trips the reads took.
func (r *Reads) RoundTrips() int64 { return r.Single.Load() + r.Pipelines.Load() }

// DialHook implements redis.Hook.
func (r *Reads) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (r *Reads) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "get" {
			r.Single.Add(1)
		}
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (r *Reads) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "get" {
			r.Pipelines.Add(1)
		}
		return next(ctx, cmds)
	}
}
