package redis_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/store/file"
	"github.com/kauth/kauth/store/redis"
	"github.com/kauth/kauth/storetest"
)

var keyMock = kauth.Key{Broker: kauth.KIS, Env: kauth.Mock, Fingerprint: "3f2a9c01d4e5"}

const secretToken = "SECRET-ACCESS-TOKEN-eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9"

func entry() kauth.Entry {
	now := time.Now()
	return kauth.Entry{
		Token:     kauth.Token{AccessToken: secretToken, Type: "Bearer", IssuedAt: now, ExpiresAt: now.Add(24 * time.Hour)},
		LastIssue: now,
	}
}

// redacted shows u without its password.
func redacted(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

func newKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func newStore(t *testing.T, c goredis.UniversalClient, key []byte, opts ...redis.Option) *redis.Store {
	t.Helper()
	s, err := redis.New(c, key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	c := testredis.Client(t)
	storetest.RunShared(t, func(t *testing.T) (a, b kauth.Store) {
		prefix := testredis.Prefix(t)
		key := newKey()
		// Two clients, as two processes would have.
		c2 := testredis.Client(t)
		return newStore(t, c, key, redis.WithPrefix(prefix)), newStore(t, c2, key, redis.WithPrefix(prefix))
	})
}

func TestKeyLayout(t *testing.T) {
	c := testredis.Client(t)
	prefix := testredis.Prefix(t)
	s := newStore(t, c, newKey(), redis.WithPrefix(prefix))
	ctx := t.Context()
	if err := s.Save(ctx, keyMock, entry()); err != nil {
		t.Fatal(err)
	}
	unlock, err := s.Lock(ctx, keyMock)
	if err != nil {
		t.Fatal(err)
	}
	if err := unlock.Save(ctx, entry()); err != nil {
		t.Fatal(err)
	}
	// Entry, its fence, the lock and the fence counter share the hash tag
	// {kis/mock/<fp>}, so one Cluster slot.
	stem := prefix + ":{kis/mock/3f2a9c01d4e5}:"
	want := []string{stem + "entry", stem + "entry:fence", stem + "fence", stem + "lock"}
	keys, err := c.Keys(ctx, prefix+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(sorted(keys), " ") != strings.Join(want, " ") {
		t.Errorf("Redis keys = %q; want %q", keys, want)
	}
	unlock.Unlock()
	if n, _ := c.Exists(ctx, stem+"lock").Result(); n != 0 {
		t.Errorf("lock key still exists after unlock")
	}
	// The fence counter outlives every entry, so fences never repeat.
	if ttl, _ := c.PTTL(ctx, stem+"fence").Result(); ttl != -1 {
		t.Errorf("PTTL(fence counter) = %v; want none", ttl)
	}
	// The value is sealed: no token, no token type, in clear.
	raw, err := c.Get(ctx, want[0]).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secretToken)) || bytes.Contains(raw, []byte("Bearer")) {
		t.Errorf("the stored value holds the entry in clear")
	}
	if !bytes.HasPrefix(raw, []byte("KAUTH\x01")) {
		t.Errorf("stored value starts %q; want the envelope magic", raw[:min(6, len(raw))])
	}
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func TestTTL(t *testing.T) {
	c := testredis.Client(t)
	prefix := testredis.Prefix(t)
	const retention = time.Minute
	s := newStore(t, c, newKey(), redis.WithPrefix(prefix), redis.WithRetention(retention))
	now := time.Now()
	tests := []struct {
		name string
		key  kauth.Key
		e    kauth.Entry
		want time.Duration // TTL expected, give or take a few seconds
	}{
		{"Token", keyMock, kauth.Entry{Token: kauth.Token{AccessToken: "t", ExpiresAt: now.Add(2 * time.Hour)}, LastIssue: now}, 2*time.Hour + retention},
		// No token: the writer's issuance spacing (KIS: 61 s) must outlive it.
		{"KISLastIssueOnly", keyMock, kauth.Entry{LastIssue: now, IssueInterval: 61 * time.Second}, 61*time.Second + retention},
		{"KiwoomLastIssueOnly", kauth.Key{Broker: kauth.Kiwoom, Env: kauth.Mock, Fingerprint: "ab"}, kauth.Entry{LastIssue: now, IssueInterval: time.Second}, time.Second + retention},
		// The spacing is the writer's, whatever the key's broker: a Manager
		// configured for 90 s keeps its 90 s.
		{"WriterSpacing", kauth.Key{Broker: kauth.Kiwoom, Env: kauth.Mock, Fingerprint: "cd"}, kauth.Entry{LastIssue: now, IssueInterval: 90 * time.Second}, 90*time.Second + retention},
		{"NoSpacing", kauth.Key{Broker: kauth.Kiwoom, Env: kauth.Mock, Fingerprint: "ef"}, kauth.Entry{LastIssue: now}, retention},
		// No token: the broker's rate limit must outlive it too.
		{"RateLimited", kauth.Key{Broker: kauth.Kiwoom, Env: kauth.Mock, Fingerprint: "a1"}, kauth.Entry{LastIssue: now, IssueInterval: time.Second, RetryAt: now.Add(30 * time.Second)}, 30*time.Second + retention},
		{"ExpiredToken", keyMock, kauth.Entry{Token: kauth.Token{AccessToken: "t", ExpiresAt: now.Add(-time.Hour)}}, retention},
		{"Empty", keyMock, kauth.Entry{}, retention},
		{"FarFuture", keyMock, kauth.Entry{Token: kauth.Token{AccessToken: "t", ExpiresAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}}, 30*24*time.Hour + retention},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Save(t.Context(), tt.key, tt.e); err != nil {
				t.Fatal(err)
			}
			rk := fmt.Sprintf("%s:{%s}:entry", prefix, tt.key)
			got, err := c.PTTL(t.Context(), rk).Result()
			if err != nil {
				t.Fatal(err)
			}
			if got > tt.want || got < tt.want-5*time.Second {
				t.Errorf("PTTL(%s) = %v; want about %v", rk, got, tt.want)
			}
		})
	}
}

func TestLeaseLapsesWhenHolderDies(t *testing.T) {
	c := testredis.Client(t)
	prefix := testredis.Prefix(t)
	s := newStore(t, c, newKey(), redis.WithPrefix(prefix))
	// A holder that died: its lease is in Redis, nobody renews it.
	const lease = 300 * time.Millisecond
	lockKey := prefix + ":{kis/mock/3f2a9c01d4e5}:lock"
	if err := c.Set(t.Context(), lockKey, "dead-owner", lease).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	unlock, err := s.Lock(ctx, keyMock)
	if err != nil {
		t.Fatalf("Lock while a dead holder's lease runs out = %v", err)
	}
	unlock.Unlock()
	if d := time.Since(start); d < lease-50*time.Millisecond || d > lease+time.Second {
		t.Errorf("Lock took %v; want about the remaining lease, %v", d, lease)
	}
}

func TestLeaseRenewedWhileHeld(t *testing.T) {
	c := testredis.Client(t)
	prefix := testredis.Prefix(t)
	key := newKey()
	var logs testlog.Buffer
	// Long enough that a loaded machine's scheduling pauses (renewals come
	// every third of it) cannot lose it; the test is about renewal, not
	// about how short a lease can be.
	const lease = time.Second
	a := newStore(t, c, key, redis.WithPrefix(prefix), redis.WithLease(lease), redis.WithLogger(logs.Logger()))
	b := newStore(t, c, key, redis.WithPrefix(prefix), redis.WithLease(lease))
	unlock, err := a.Lock(t.Context(), keyMock)
	if err != nil {
		t.Fatal(err)
	}
	// A slow issuance: hold for several leases.
	time.Sleep(3 * lease)
	ctx, cancel := context.WithTimeout(t.Context(), lease/2)
	defer cancel()
	if u, err := b.Lock(ctx, keyMock); err == nil {
		u.Unlock()
		t.Fatalf("the lock lapsed after %v while its holder lived; want it renewed", 3*lease)
	}
	unlock.Unlock()
	u, err := b.Lock(t.Context(), keyMock)
	if err != nil {
		t.Fatalf("Lock after unlock = %v", err)
	}
	u.Unlock()
	if n := len(logs.Warnings()); n != 0 {
		t.Errorf("warnings while holding a renewed lock:\n%s", logs.String())
	}
}

func TestLostLeaseNotReleasedByOldHolder(t *testing.T) {
	c := testredis.Client(t)
	prefix := testredis.Prefix(t)
	key := newKey()
	var logs testlog.Buffer
	const lease = 300 * time.Millisecond
	a := newStore(t, c, key, redis.WithPrefix(prefix), redis.WithLease(lease), redis.WithLogger(logs.Logger()))
	b := newStore(t, c, key, redis.WithPrefix(prefix), redis.WithLease(10*time.Second))
	lockKey := prefix + ":{kis/mock/3f2a9c01d4e5}:lock"

	unlockA, err := a.Lock(t.Context(), keyMock)
	if err != nil {
		t.Fatal(err)
	}
	// a's lease is lost (as if a stalled past it) and b takes the lock.
	c.Del(t.Context(), lockKey)
	unlockB, err := b.Lock(t.Context(), keyMock)
	if err != nil {
		t.Fatal(err)
	}
	defer unlockB.Unlock()
	time.Sleep(lease) // a's renewal notices
	unlockA.Unlock()
	if n, _ := c.Exists(t.Context(), lockKey).Result(); n != 1 {
		t.Fatal("the old holder's unlock released the new holder's lock")
	}
	if ttl, _ := c.PTTL(t.Context(), lockKey).Result(); ttl < 5*time.Second {
		t.Errorf("the old holder's renewal shortened the new holder's lease to %v", ttl)
	}
	if !strings.Contains(logs.String(), "lease was lost") {
		t.Errorf("losing the lease was not reported; log:\n%s", logs.String())
	}
}

func TestUnreadableValues(t *testing.T) {
	c := testredis.Client(t)
	otherKey := kauth.Key{Broker: kauth.KIS, Env: kauth.Real, Fingerprint: "3f2a9c01d4e5"}
	tests := []struct {
		name  string
		value func(t *testing.T, prefix string, key []byte) []byte
	}{
		{"Garbage", func(*testing.T, string, []byte) []byte { return []byte("garbage") }},
		{"Empty", func(*testing.T, string, []byte) []byte { return nil }},
		{"Truncated", func(t *testing.T, prefix string, key []byte) []byte {
			v := sealed(t, c, prefix, key, keyMock)
			return v[:len(v)-3]
		}},
		{"OtherKeysEntry", func(t *testing.T, prefix string, key []byte) []byte {
			return sealed(t, c, prefix, key, otherKey)
		}},
		{"WrongStoreKey", func(t *testing.T, prefix string, _ []byte) []byte {
			return sealed(t, c, prefix, newKey(), keyMock)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := testredis.Prefix(t)
			key := newKey()
			var logs testlog.Buffer
			s := newStore(t, c, key, redis.WithPrefix(prefix), redis.WithLogger(logs.Logger()))
			v := tt.value(t, prefix, key)
			if err := c.Set(t.Context(), prefix+":{kis/mock/3f2a9c01d4e5}:entry", v, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if _, err := s.Load(t.Context(), keyMock); !errors.Is(err, kauth.ErrNotFound) {
					t.Fatalf("Load #%d of an unreadable value = %v; want ErrNotFound", i+1, err)
				}
			}
			if n := len(logs.Warnings()); n != 1 {
				t.Errorf("after three Loads of one unreadable value, %d warnings; want 1:\n%s", n, logs.String())
			}
			if strings.Contains(logs.String(), secretToken) {
				t.Errorf("the warning reveals the token")
			}
		})
	}
}

// sealed returns the value a store with key saves for k, read back raw.
func sealed(t *testing.T, c *goredis.Client, prefix string, key []byte, k kauth.Key) []byte {
	t.Helper()
	s := newStore(t, c, key, redis.WithPrefix(prefix+"-src"))
	if err := s.Save(t.Context(), k, entry()); err != nil {
		t.Fatal(err)
	}
	rk := fmt.Sprintf("%s-src:{%s}:entry", prefix, k)
	t.Cleanup(func() { c.Del(context.Background(), rk) })
	v, err := c.Get(t.Context(), rk).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSameFormatAsFileStore proves that both stores seal alike: a file
// store's entry file, put in Redis as is, loads.
func TestSameFormatAsFileStore(t *testing.T) {
	c := testredis.Client(t)
	prefix := testredis.Prefix(t)
	key := newKey()
	dir := filepath.Join(t.TempDir(), "kauth")
	fs, err := file.New(dir, file.WithKey(key))
	if err != nil {
		t.Fatal(err)
	}
	want := entry()
	if err := fs.Save(t.Context(), keyMock, want); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "kis-mock-3f2a9c01d4e5.tok"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(t.Context(), prefix+":{kis/mock/3f2a9c01d4e5}:entry", data, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := newStore(t, c, key, redis.WithPrefix(prefix)).Load(t.Context(), keyMock)
	if err != nil {
		t.Fatalf("Load of a file store's entry = %v", err)
	}
	if got.Token.AccessToken != want.Token.AccessToken || !got.Token.ExpiresAt.Equal(want.Token.ExpiresAt) {
		t.Errorf("Load of a file store's entry = %v; want %v", got.Token, want.Token)
	}
}

// TestUnreachable: with Redis down, every call fails fast with an error
// that names the store and never the password.
func TestUnreachable(t *testing.T) {
	const password = "hunter2-secret"
	s, err := redis.Open("redis://:"+password+"@127.0.0.1:1/0", newKey())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Ping", s.Ping},
		{"Load", func(ctx context.Context) error { _, err := s.Load(ctx, keyMock); return err }},
		{"Save", func(ctx context.Context) error { return s.Save(ctx, keyMock, entry()) }},
		{"Delete", func(ctx context.Context) error { return s.Delete(ctx, keyMock) }},
		{"Lock", func(ctx context.Context) error { _, err := s.Lock(ctx, keyMock); return err }},
		{"List", func(ctx context.Context) error { _, err := s.List(ctx); return err }},
		{"Watch", func(ctx context.Context) error { return s.Watch(ctx, func(kauth.Change) {}) }},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			// A generous context: the store itself must give up fast.
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			start := time.Now()
			err := tt.call(ctx)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s took %v with Redis down; want a fast failure", tt.name, d)
			}
			if err == nil || errors.Is(err, kauth.ErrNotFound) {
				t.Fatalf("%s with Redis down = %v; want an error", tt.name, err)
			}
			if !strings.HasPrefix(err.Error(), "kauth: redis store: ") {
				t.Errorf("%s error = %q; want it to start with \"kauth: redis store: \"", tt.name, err)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("%s error reveals the password: %q", tt.name, err)
			}
			t.Logf("%s: %v", tt.name, err)
		})
	}
}

func TestOpenBadURL(t *testing.T) {
	const password = "hunter2-secret"
	for _, u := range []string{
		"redis://:" + password + "@127.0.0.1:6379/notadb",
		"http://user:" + password + "@127.0.0.1:6379/0",
		"redis://:" + password + "%zz@127.0.0.1:6379/0",
		"redis://user:" + password + "@127.0.0.1:port/0",
		"redis://:" + password + "@127.0.0.1:6379/0?bogus=1",
	} {
		_, err := redis.Open(u, newKey())
		if err == nil {
			t.Errorf("Open(%s) succeeded; want an error", redacted(u))
			continue
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("Open error reveals the password: %q", err)
		}
		if !strings.HasPrefix(err.Error(), "kauth: redis store: ") {
			t.Errorf("Open error = %q; want the package prefix", err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	tests := []struct {
		name string
		key  []byte
		opts []redis.Option
	}{
		{"ShortKey", make([]byte, 16), nil},
		{"NilKey", nil, nil},
		{"EmptyPrefix", newKey(), []redis.Option{redis.WithPrefix("")}},
		{"GlobPrefix", newKey(), []redis.Option{redis.WithPrefix("a*")}},
		{"BracePrefix", newKey(), []redis.Option{redis.WithPrefix("{a}")}},
		{"ZeroLease", newKey(), []redis.Option{redis.WithLease(0)}},
		{"NegativeRetention", newKey(), []redis.Option{redis.WithRetention(-time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := redis.New(c, tt.key, tt.opts...); err == nil {
				t.Errorf("New succeeded; want an error")
			}
		})
	}
	if _, err := redis.New(nil, newKey()); err == nil {
		t.Errorf("New(nil client) succeeded; want an error")
	}
	s := newStore(t, c, newKey())
	if err := s.Save(t.Context(), kauth.Key{Broker: "kis", Env: "mock", Fingerprint: "a}b"}, entry()); err == nil {
		t.Errorf("Save of a key that would break the hash tag succeeded")
	}
}

func TestFromEnv(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(newKey())
	tests := []struct {
		name, store, key, wantErr string
	}{
		{"NotRedis", "file", good, "KAUTH_STORE"},
		{"NoKey", "redis://127.0.0.1:6379/15", "", "KAUTH_KEY is not set"},
		{"BadKey", "redis://127.0.0.1:6379/15", "c2hvcnQ=", "KAUTH_KEY"},
		{"OK", "redis://127.0.0.1:6379/15", good, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KAUTH_STORE", tt.store)
			t.Setenv("KAUTH_KEY", tt.key)
			s, err := redis.FromEnv()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("FromEnv = %v; want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
