package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/longtest"
	"github.com/kauth/kauth/internal/redistopo"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/store/redis"
)

// batchKey is the i-th key of a batch: each in a hash slot of its own.
func batchKey(i int) kauth.Key {
	return kauth.Key{Broker: kauth.KIS, Env: kauth.Real, Fingerprint: fmt.Sprintf("%012x", 0xba7c0000+i)}
}

// batchFixture stores, under prefix, the entries of n keys in every state
// a batch must keep apart: every third key an entry (its History naming
// the key), key 7 a corrupt value, key 11 a value of the wrong Redis type
// (GET fails on it, as on a store error), the others nothing. It returns
// the keys.
func batchFixture(t *testing.T, s *redis.Store, c goredis.UniversalClient, prefix string, n int) []kauth.Key {
	t.Helper()
	ctx := t.Context()
	keys := make([]kauth.Key, n)
	for i := range keys {
		keys[i] = batchKey(i)
		switch {
		case i == 7:
			if err := c.Set(ctx, fmt.Sprintf("%s:{%s}:entry", prefix, keys[i]), "garbage", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		case i == 11:
			if err := c.LPush(ctx, fmt.Sprintf("%s:{%s}:entry", prefix, keys[i]), "not an entry").Err(); err != nil {
				t.Fatal(err)
			}
		case i%3 == 0:
			e := entry()
			e.History.Issued = i
			e.History.LastIssue = kauth.IssueRecord{At: e.LastIssue, Outcome: kauth.OutcomeIssued, Host: fmt.Sprintf("host%d", i), PID: i}
			if err := s.Save(ctx, keys[i], e); err != nil {
				t.Fatal(err)
			}
		}
	}
	return keys
}

// checkBatch checks that LoadBatch answered keys (from batchFixture) as
// Load does, key by key: the corrupt one and the missing ones not found,
// the one GET fails on an error that is not ErrNotFound, and every other
// entry whole.
func checkBatch(t *testing.T, s *redis.Store, keys []kauth.Key, entries []kauth.Entry, errs []error) {
	t.Helper()
	if len(entries) != len(keys) || len(errs) != len(keys) {
		t.Fatalf("LoadBatch(%d keys) = %d entries, %d errors", len(keys), len(entries), len(errs))
	}
	bad := 0
	for i, k := range keys {
		one, oneErr := s.Load(t.Context(), k)
		switch {
		case i == 11:
			if errs[i] == nil || errors.Is(errs[i], kauth.ErrNotFound) || oneErr == nil || errors.Is(oneErr, kauth.ErrNotFound) {
				t.Errorf("key %d (GET fails): LoadBatch error %v, Load error %v; want both a store error", i, errs[i], oneErr)
			}
		case i == 7 || i%3 != 0:
			if !errors.Is(errs[i], kauth.ErrNotFound) || !errors.Is(oneErr, kauth.ErrNotFound) {
				t.Errorf("key %d (corrupt or missing): LoadBatch error %v, Load error %v; want both ErrNotFound", i, errs[i], oneErr)
			}
		case errs[i] != nil || oneErr != nil:
			t.Errorf("key %d: LoadBatch error %v, Load error %v; want its entry", i, errs[i], oneErr)
		case entries[i].History != one.History || entries[i].History.Issued != i ||
			entries[i].Token.AccessToken != one.Token.AccessToken || !entries[i].LastIssue.Equal(one.LastIssue):
			t.Errorf("key %d: LoadBatch's entry (history %+v) is not Load's (%+v)", i, entries[i].History, one.History)
		}
		if t.Failed() {
			if bad++; bad > 5 {
				t.FailNow()
			}
		}
	}
}

// TestLoadBatchRoundTrips: LoadBatch reads 1,200 keys in three pipelines
// of at most 500 GETs, no GET of its own, and answers each key as Load
// does: a corrupt entry is not found and a key that GET fails on fails
// alone, without losing the others.
func TestLoadBatchRoundTrips(t *testing.T) {
	c := testredis.Client(t)
	prefix := testredis.Prefix(t)
	var logs testlog.Buffer
	s := newStore(t, c, newKey(), redis.WithPrefix(prefix), redis.WithLogger(logs.Logger()))
	keys := batchFixture(t, s, c, prefix, 1200)

	var rt testredis.Reads
	c.AddHook(&rt)
	entries, errs := s.LoadBatch(t.Context(), keys)
	if p, n := rt.Pipelines.Load(), rt.Single.Load(); p != 3 || n != 0 {
		t.Errorf("LoadBatch of 1,200 keys: %d pipelines and %d single GETs; want 3 pipelines (500 keys each at most), no GET of its own", p, n)
	}
	checkBatch(t, s, keys, entries, errs)
	if w := logs.Warnings(); len(w) != 1 || !strings.Contains(w[0], "unreadable") {
		t.Errorf("warnings = %q; want one, for the corrupt entry", w)
	}
}

// TestLoadBatchUnreachable: without Redis every key fails, with a store
// error and not ErrNotFound, and LoadBatch returns by ctx's deadline.
func TestLoadBatchUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	var logs testlog.Buffer // the client's dial failures
	s := newStore(t, c, newKey(), redis.WithLogger(logs.Logger()))
	keys := []kauth.Key{batchKey(1), batchKey(2), batchKey(3)}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	start := time.Now()
	entries, errs := s.LoadBatch(ctx, keys)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("LoadBatch took %v without Redis; want it bounded by ctx", took)
	}
	if len(entries) != len(keys) || len(errs) != len(keys) {
		t.Fatalf("LoadBatch(%d keys) = %d entries, %d errors", len(keys), len(entries), len(errs))
	}
	for i, err := range errs {
		if err == nil || errors.Is(err, kauth.ErrNotFound) {
			t.Errorf("key %d: error %v; want a store error", i, err)
		}
	}
}

// TestLoadBatchCluster: on a three-master Cluster, where each key's hash
// tag puts it in a slot of its own on one of the masters, LoadBatch reads
// 1,200 keys with three pipelines from the caller's side (go-redis splits
// each among the masters), and answers each key as Load does.
func TestLoadBatchCluster(t *testing.T) {
	longtest.Skip(t, "LoadBatch on a three-master Cluster")
	cl := redistopo.StartCluster(t, 3)
	c := cl.Client()
	t.Cleanup(func() { c.Close() })
	prefix := "kauthbatch" + time.Now().Format("150405.000000")
	var logs testlog.Buffer // the corrupt entry's warning
	s := newStore(t, c, newKey(), redis.WithPrefix(prefix), redis.WithLogger(logs.Logger()))
	keys := batchFixture(t, s, c, prefix, 1200)
	var rt testredis.Reads
	c.AddHook(&rt)
	entries, errs := s.LoadBatch(t.Context(), keys)
	if p, n := rt.Pipelines.Load(), rt.Single.Load(); p != 3 || n != 0 {
		t.Errorf("LoadBatch of 1,200 keys: %d pipelines and %d single GETs; want 3 pipelines, no GET of its own", p, n)
	}
	checkBatch(t, s, keys, entries, errs)
}

// BenchmarkLoad1000: reading 1,000 entries from the test Redis, one Load
// each and with one LoadBatch (two pipelines).
func BenchmarkLoad1000(b *testing.B) {
	c := testredis.Client(b)
	prefix := testredis.Prefix(b)
	s, err := redis.New(c, newKey(), redis.WithPrefix(prefix))
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]kauth.Key, 1000)
	for i := range keys {
		keys[i] = batchKey(i)
		if err := s.Save(b.Context(), keys[i], entry()); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("OneByOne", func(b *testing.B) {
		for b.Loop() {
			for _, k := range keys {
				if _, err := s.Load(b.Context(), k); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("LoadBatch", func(b *testing.B) {
		for b.Loop() {
			_, errs := s.LoadBatch(b.Context(), keys)
			if err := errors.Join(errs...); err != nil {
				b.Fatal(err)
			}
		}
	})
}
