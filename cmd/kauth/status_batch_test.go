package main

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/store/redis"
)

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

	var g testredis.Reads
	c.AddHook(&g)
	got, err := readEntries(ctx, s, "redis")
	if err != nil {
		t.Fatal(err)
	}
	if p, one := g.Pipelines.Load(), g.Single.Load(); p != 2 || one != 0 {
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
