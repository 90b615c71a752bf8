package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/tcpproxy"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/store/redis"
	"github.com/kauth/kauth/storetest"
)

// proxied returns a client of the test Redis through a proxy that the test
// controls, with timeouts short enough for a cut to show within the test.
func proxied(t *testing.T) (*goredis.Client, *tcpproxy.Proxy) {
	t.Helper()
	p, err := tcpproxy.New(testredis.Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	o := testredis.Options(t)
	o.Addr = p.Addr()
	o.DialTimeout = 500 * time.Millisecond
	o.ReadTimeout = time.Second
	o.WriteTimeout = time.Second
	o.MaxRetries = -1
	c := goredis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c, p
}

// readOnlyUser creates a Redis user that may read but not write (scripts
// run, but the writes in them are refused) and returns a client that logs
// in as it, and the function that grants it writing again. The user is
// deleted when the test ends.
func readOnlyUser(t *testing.T, admin *goredis.Client) (*goredis.Client, func()) {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "kauthtest-" + hex.EncodeToString(b[:])
	pass := hex.EncodeToString(b[:]) + "-pw"
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", name, "on", ">"+pass, "~*", "&*", "+@all", "-@write").Err(); err != nil {
		t.Skipf("this Redis does not take ACL users (%v)", err)
	}
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", name) })
	o := testredis.Options(t)
	o.Username, o.Password = name, pass
	o.MaxRetries = -1
	c := goredis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c, func() {
		if err := admin.Do(ctx, "ACL", "SETUSER", name, "+@all").Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFaults(t *testing.T) {
	direct := testredis.Client(t)
	storetest.RunFaults(t, func(t *testing.T) storetest.Faults {
		prefix := testredis.Prefix(t)
		key := newKey()
		viaProxy, proxy := proxied(t)
		var logs testlog.Buffer
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("store log:\n%s", logs.String())
			}
		})
		opts := []redis.Option{redis.WithPrefix(prefix), redis.WithLease(time.Second), redis.WithWatchPing(100 * time.Millisecond), redis.WithLogger(logs.Logger())}
		a := newStore(t, viaProxy, key, opts...)
		b := newStore(t, testredis.Client(t), key, opts...)
		return storetest.Faults{
			A: a, B: b,
			Cut: func(t *testing.T) func() {
				proxy.Cut()
				return proxy.Restore
			},
			LoseLease: func(t *testing.T, k kauth.Key, _ kauth.Lease) {
				// As if the holder stalled past its lease: the lock is gone.
				if err := direct.Del(t.Context(), prefix+":{"+k.String()+"}:lock").Err(); err != nil {
					t.Fatal(err)
				}
			},
			Unwritable: []storetest.Unwritable{{Name: "ReadOnlyUser", Break: func(t *testing.T) (kauth.Store, func()) {
				c, restore := readOnlyUser(t, direct)
				return newStore(t, c, key, opts...), restore
			}}},
		}
	})
}

// quiet keeps a store's expected warnings out of the test's output.
var quiet = redis.WithLogger(slog.New(slog.DiscardHandler))

// TestWatchResyncAfterStall: a link that goes silent without closing (a
// half-open connection) is noticed by the watch's ping, and the watch
// reports Resync once the link is back.
func TestWatchResyncAfterStall(t *testing.T) {
	prefix := testredis.Prefix(t)
	key := newKey()
	viaProxy, proxy := proxied(t)
	a := newStore(t, viaProxy, key, redis.WithPrefix(prefix), redis.WithWatchPing(50*time.Millisecond), quiet)
	b := newStore(t, testredis.Client(t), key, redis.WithPrefix(prefix))
	ctx, cancel := context.WithCancel(t.Context())
	changes := make(chan kauth.Change, 100)
	done := make(chan error, 1)
	go func() { done <- a.Watch(ctx, func(c kauth.Change) { changes <- c }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch = %v", err)
		}
	}()
	// Listening: a change through b arrives.
	await := func(what string, ok func(kauth.Change) bool, poke func()) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			poke()
			select {
			case c := <-changes:
				if ok(c) {
					return
				}
			case <-time.After(50 * time.Millisecond):
			case <-deadline:
				t.Fatalf("Watch did not report %s within 10s", what)
			}
		}
	}
	await("a change", func(c kauth.Change) bool { return c.Key == keyMock }, func() { b.Save(ctx, keyMock, entry()) })

	proxy.Stall()
	time.Sleep(300 * time.Millisecond) // pings go unanswered
	if err := b.Delete(ctx, keyMock); err != nil {
		t.Fatal(err)
	}
	proxy.Restore()
	resync := false
	await("Resync after the stall", func(c kauth.Change) bool { resync = resync || c.Resync; return resync }, func() {})
}

// TestLeaseLostWhenRedisUnreachable: a holder that cannot renew its lease
// loses it by the time Redis would drop the lock, not later.
func TestLeaseLostWhenRedisUnreachable(t *testing.T) {
	prefix := testredis.Prefix(t)
	key := newKey()
	viaProxy, proxy := proxied(t)
	const lease = 600 * time.Millisecond
	a := newStore(t, viaProxy, key, redis.WithPrefix(prefix), redis.WithLease(lease), quiet)
	b := newStore(t, testredis.Client(t), key, redis.WithPrefix(prefix), redis.WithLease(lease))
	l, err := a.Lock(t.Context(), keyMock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	proxy.Cut()
	defer proxy.Restore()
	// Another holder, on a working connection, gets the lock once Redis
	// drops it: by then the first holder must know it lost it.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	next, err := b.Lock(ctx, keyMock)
	if err != nil {
		t.Fatalf("Lock by another holder after the lapse = %v", err)
	}
	defer next.Unlock()
	select {
	case <-l.Done():
	default:
		t.Fatal("another holder got the lock before the first one's Done was closed")
	}
	if !errors.Is(l.Err(), kauth.ErrLeaseLost) {
		t.Fatalf("Err = %v; want ErrLeaseLost", l.Err())
	}
	if next.Fence() <= l.Fence() {
		t.Errorf("next fence %d; want more than %d", next.Fence(), l.Fence())
	}
	proxy.Restore()
	if err := l.Save(t.Context(), entry()); !errors.Is(err, kauth.ErrLeaseLost) {
		t.Errorf("Save under the lost lease = %v; want ErrLeaseLost", err)
	}
}

// TestMinimalACLUser backs the README's list of what a Redis user needs:
// a user allowed exactly those commands, on the prefix's keys, passes the
// conformance suite.
func TestMinimalACLUser(t *testing.T) {
	admin := testredis.Client(t)
	var b [6]byte
	rand.Read(b[:])
	name := "kauthtest-min-" + hex.EncodeToString(b[:])
	pass := hex.EncodeToString(b[:]) + "-pw"
	prefix := testredis.Prefix(t)
	rules := []any{"ACL", "SETUSER", name, "on", ">" + pass, "~" + prefix + ":*", "&" + prefix + ":*", "-@all"}
	for _, cmd := range []string{"get", "set", "incr", "del", "pexpire", "publish", "subscribe", "ping", "scan", "evalsha", "eval"} {
		rules = append(rules, "+"+cmd)
	}
	// What the client sends on connecting: HELLO (or AUTH), SELECT, and
	// CLIENT SETINFO, whose refusal it ignores.
	rules = append(rules, "+hello", "+auth", "+select")
	if err := admin.Do(t.Context(), rules...).Err(); err != nil {
		t.Skipf("this Redis does not take ACL users (%v)", err)
	}
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", name) })
	o := testredis.Options(t)
	o.Username, o.Password = name, pass
	key := newKey()
	n := 0
	storetest.RunShared(t, func(t *testing.T) (a, b kauth.Store) {
		n++
		p := prefix + ":" + strconv.Itoa(n)
		c1, c2 := goredis.NewClient(o), goredis.NewClient(o)
		t.Cleanup(func() { c1.Close(); c2.Close() })
		return newStore(t, c1, key, redis.WithPrefix(p)), newStore(t, c2, key, redis.WithPrefix(p))
	})
}
