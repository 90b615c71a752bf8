package rtowner

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth/internal/tcpproxy"
	"github.com/kauth/kauth/internal/testredis"
)

func TestHeldValid(t *testing.T) {
	sent := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := Held{Record: Record{Owner: "a", Fence: 7}, Sent: sent, TTL: 6 * time.Second}
	tests := []struct {
		name string
		h    Held
		now  time.Time
		want bool
	}{
		{"just granted", h, sent, true},
		{"just before TTL/2", h, sent.Add(3*time.Second - time.Nanosecond), true},
		{"at TTL/2", h, sent.Add(3 * time.Second), false},
		{"past TTL", h, sent.Add(7 * time.Second), false},
		{"no fence", Held{Record: Record{Owner: "a"}, Sent: sent, TTL: 6 * time.Second}, sent, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.Valid(tt.now); got != tt.want {
				t.Errorf("Valid(%v after Sent) = %v; want %v", tt.now.Sub(sent), got, tt.want)
			}
		})
	}
	if got, want := h.RenewAt(), sent.Add(2*time.Second); !got.Equal(want) {
		t.Errorf("RenewAt() = %v; want %v", got, want)
	}
}

// A machine that slept through the lease (its monotonic clock stopped, the
// wall clock did not) must not wake up holding it.
func TestHeldValidCountsWallTimeOfASuspend(t *testing.T) {
	sent := time.Now()
	h := Held{Record: Record{Owner: "a", Fence: 1}, Sent: sent, TTL: 6 * time.Second}
	// A reading without a monotonic part compares by wall time alone:
	// what a resume looks like to the wall clock.
	if !h.Valid(sent.Add(time.Second)) {
		t.Fatalf("Valid(1 s later) = false; want true")
	}
	if h.Valid(sent.Round(0).Add(time.Hour)) {
		t.Errorf("Valid(wall clock 1 h later) = true; want false")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	r := Record{Owner: "0123abcd", Addr: "10.0.0.7:8700", Fence: 42}
	got, ok := parseRecord(r.value())
	if !ok || got != r {
		t.Fatalf("parseRecord(%q) = %+v, %v; want %+v, true", r.value(), got, ok, r)
	}
	for _, bad := range []string{"", "x", "0 a b", "-1 a b", "1  b", "nofence a b"} {
		if got, ok := parseRecord(bad); ok {
			t.Errorf("parseRecord(%q) = %+v, true; want false", bad, got)
		}
	}
}

func newLease(t *testing.T, client goredis.UniversalClient, ttl time.Duration) *Lease {
	t.Helper()
	return NewLease(client, testredis.Prefix(t), "kis:mock:abc", "u1", ttl)
}

func TestLeaseIsExclusiveAndFenceGrows(t *testing.T) {
	ctx := context.Background()
	c := testredis.Client(t)
	l := newLease(t, c, 300*time.Millisecond)
	a, ok, err := l.Acquire(ctx, "agentA", "127.0.0.1:1")
	if err != nil || !ok {
		t.Fatalf("Acquire(A) = %v, %v; want the lease", ok, err)
	}
	if _, ok, err := l.Acquire(ctx, "agentB", "127.0.0.1:2"); err != nil || ok {
		t.Fatalf("Acquire(B) while A holds it = %v, %v; want false", ok, err)
	}
	if got, ok, err := l.Read(ctx); err != nil || !ok || got != a {
		t.Fatalf("Read() = %+v, %v, %v; want %+v", got, ok, err, a)
	}
	// A lets it lapse; B takes it with a greater fence, and A can neither
	// renew nor release B's lease.
	time.Sleep(450 * time.Millisecond)
	b, ok, err := l.Acquire(ctx, "agentB", "127.0.0.1:2")
	if err != nil || !ok {
		t.Fatalf("Acquire(B) after A's lapsed = %v, %v; want the lease", ok, err)
	}
	if b.Fence <= a.Fence {
		t.Errorf("fence after the lapse = %d; want more than %d", b.Fence, a.Fence)
	}
	if ok, err := l.Renew(ctx, a); err != nil || ok {
		t.Errorf("Renew(A's lapsed lease) = %v, %v; want false", ok, err)
	}
	if err := l.Release(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := l.Read(ctx); !ok || got != b {
		t.Fatalf("after A's Release, Read() = %+v, %v; want B's %+v", got, ok, b)
	}
	// B releases: the next holder need not wait, and its fence grows again.
	if err := l.Release(ctx, b); err != nil {
		t.Fatal(err)
	}
	a2, ok, err := l.Acquire(ctx, "agentA", "127.0.0.1:1")
	if err != nil || !ok || a2.Fence <= b.Fence {
		t.Fatalf("Acquire after Release = %+v, %v, %v; want the lease with fence > %d", a2, ok, err, b.Fence)
	}
}

func TestLeaseRefusesBadOwner(t *testing.T) {
	l := newLease(t, testredis.Client(t), 0)
	if l.TTL() != DefaultTTL {
		t.Errorf("TTL() = %v; want DefaultTTL", l.TTL())
	}
	for _, owner := range []string{"", "a b"} {
		if _, ok, err := l.Acquire(context.Background(), owner, "x:1"); err == nil || ok {
			t.Errorf("Acquire(%q) = %v, %v; want an error", owner, ok, err)
		}
	}
}

// keep takes l for owner and keeps it.
func keep(t *testing.T, l *Lease, owner string) *Hold {
	t.Helper()
	sent := time.Now()
	r, ok, err := l.Acquire(context.Background(), owner, "127.0.0.1:1")
	if err != nil || !ok {
		t.Fatalf("Acquire(%s) = %v, %v", owner, ok, err)
	}
	k := l.Keep(Held{Record: r, Sent: sent, TTL: l.TTL()}, nil)
	t.Cleanup(func() { k.Release(context.Background()) })
	return k
}

func TestHoldRenewsPastTheTTL(t *testing.T) {
	c := testredis.Client(t)
	l := newLease(t, c, 600*time.Millisecond)
	k := keep(t, l, "agentA")
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-k.Lost():
			t.Fatal("Lost closed while Redis answers")
		case <-time.After(100 * time.Millisecond):
		}
		if _, ok, err := l.Acquire(context.Background(), "agentB", "127.0.0.1:2"); err != nil || ok {
			t.Fatalf("another agent took the kept lease: %v, %v", ok, err)
		}
	}
	// Release frees it at once.
	k.Release(context.Background())
	select {
	case <-k.Lost():
	default:
		t.Error("Lost still open after Release")
	}
	if _, ok, err := l.Acquire(context.Background(), "agentB", "127.0.0.1:2"); err != nil || !ok {
		t.Errorf("Acquire after Release = %v, %v; want the lease", ok, err)
	}
}

func TestHoldLostWhenAnotherHoldsIt(t *testing.T) {
	c := testredis.Client(t)
	l := newLease(t, c, 600*time.Millisecond)
	k := keep(t, l, "agentA")
	// Someone overwrote it (an operator, a flushed and re-granted key).
	if err := c.Set(context.Background(), l.key, Record{Owner: "agentB", Addr: "x:1", Fence: 99}.value(), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-k.Lost():
	case <-time.After(time.Second):
		t.Fatal("Lost not closed after the lease went to another")
	}
}

// A holder cut off from Redis (cut, or stalled: open but silent) gives the
// lease up before it can have expired in Redis, so that no successor can
// ever hold it while it still believes it does.
func TestHoldLostBeforeExpiryWhenRedisIsUnreachable(t *testing.T) {
	for _, fault := range []string{"cut", "stall"} {
		t.Run(fault, func(t *testing.T) {
			direct := testredis.Client(t)
			p, err := tcpproxy.New(testredis.Addr(t))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			o := testredis.Options(t)
			o.Addr = p.Addr()
			o.MaxRetries = -1
			proxied := goredis.NewClient(o)
			defer proxied.Close()
			const ttl = 900 * time.Millisecond
			prefix := testredis.Prefix(t)
			l := NewLease(proxied, prefix, "kis:mock:abc", "u1", ttl)
			watch := NewLease(direct, prefix, "kis:mock:abc", "u1", ttl)
			k := keep(t, l, "agentA")
			time.Sleep(ttl / 2) // a renewal or so went through
			began := time.Now()
			if fault == "cut" {
				p.Cut()
			} else {
				p.Stall()
			}
			defer p.Restore()
			select {
			case <-k.Lost():
			case <-time.After(2 * ttl):
				t.Fatalf("Lost not closed %v after the %s", 2*ttl, fault)
			}
			took := time.Since(began)
			if took > ttl/2+100*time.Millisecond {
				t.Errorf("Lost after %v; want within TTL/2 (%v) of the last renewal", took, ttl/2)
			}
			// Nobody else can have it yet: it is still in Redis.
			if _, ok, err := watch.Acquire(context.Background(), "agentB", "x:2"); err != nil || ok {
				t.Errorf("when Lost closed, Acquire(B) = %v, %v; want the lease still held in Redis", ok, err)
			}
		})
	}
}
