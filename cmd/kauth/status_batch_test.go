package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/store/redis"
)

// getCounter counts the GETs a client sends Redis on their own, and the
// pipelines that start with a GET (one round trip each).
type getCounter struct{ single, pipelines atomic.Int64 }

func (g *getCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (g *getCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if cmd.Name() == "get" {
			g.single.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (g *getCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "get" {
			g.pipelines.Add(1)
		}
		return next(ctx, cmds)
	}
}

// TestStatusReadsRedisInBatches: kauth status reads the 600 entries of a
// Redis store in two pipelines (500 keys to one at most), not a GET per
// key, and still leaves out an entry it cannot read, gives each key its
// own entry and sorts them by key.
func TestStatusReadsRedisInBatches(t *testing.T) {
	c := testredis.Client(t)
	prefix := testredis.Prefix(t)
	s, err := redis.New(c, []byte("a-made-up-store-key-of-32-bytes!"), redis.WithPrefix(prefix), redis.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const n = 600
	now := time.Now()
	issued := map[kauth.Key]int{}
	for i := range n {
		k := kauth.Key{Broker: kauth.KIS, Env: kauth.Real, Fingerprint: fmt.Sprintf("%012x", 0x57a70000+n-i)}
		if i == 7 {
			if err := c.Set(ctx, fmt.Sprintf("%s:{%s}:entry", prefix, k), "garbage", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		e := kauth.Entry{
			Token:     kauth.Token{AccessToken: "FAKE-TEST-TOKEN", Type: "Bearer", IssuedAt: now, ExpiresAt: now.Add(24 * time.Hour)},
			LastIssue: now,
		}
		e.History.Issued = i
		issued[k] = i
		if err := s.Save(ctx, k, e); err != nil {
			t.Fatal(err)
		}
	}

	var g getCounter
	c.AddHook(&g)
	got, err := readEntries(ctx, s, "redis")
	if err != nil {
		t.Fatal(err)
	}
	if p, one := g.pipelines.Load(), g.single.Load(); p != 2 || one != 0 {
		t.Errorf("status read %d keys with %d pipelines and %d single GETs; want 2 pipelines, no GET of its own", n, p, one)
	}
	if len(got) != n-1 {
		t.Fatalf("status read %d entries; want %d (all but the unreadable one)", len(got), n-1)
	}
	for i, ke := range got {
		if i > 0 && got[i-1].key.String() >= ke.key.String() {
			t.Fatalf("entries not sorted: %s before %s", got[i-1].key, ke.key)
		}
		if w := issued[ke.key]; ke.entry.History.Issued != w {
			t.Fatalf("%s: read the entry of issuance count %d; want %d, its own", ke.key, ke.entry.History.Issued, w)
		}
	}
}
