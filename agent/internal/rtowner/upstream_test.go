package rtowner

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth/internal/testredis"
)

// A holder whose relay refused once (it may have been taking the lease
// still) is tried again within TTL/2, though the lease has not changed: a
// live holder's lease never does.
func TestRouteRetriesAHolderThatRefusedOnce(t *testing.T) {
	const ttl = 800 * time.Millisecond
	l := newLease(t, testredis.Client(t), ttl)
	b := keep(t, l, "agentB")
	u := New(Config{Lease: l, ID: "u1", Self: "agentA", Addr: func() string { return "127.0.0.1:2" }, Secret: []byte("s")})
	defer u.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := u.Route(ctx)
	if err != nil || !r.Relay || !strings.Contains(r.URL, b.Record().Addr+RelayPath("u1")) {
		t.Fatalf("Route() = %+v, %v; want the relay to agentB", r, err)
	}
	r.Ended(false)
	began := time.Now()
	r, err = u.Route(ctx)
	if err != nil || !r.Relay {
		t.Fatalf("Route() after a refusal = %+v, %v; want the relay again", r, err)
	}
	if d := time.Since(began); d > ttl {
		t.Errorf("Route() tried the live holder again after %v; want within TTL/2 (%v)", d, ttl/2)
	}
	r.Ended(true)
	if _, _, ok := u.Holding(); ok {
		t.Error("agentA holds a lease agentB keeps")
	}
}

// With nobody holding the lease, Route takes it and routes to the broker;
// the route ends when the lease is lost, and Close releases it for the
// next holder at once.
func TestRouteTakesAFreeLease(t *testing.T) {
	c := testredis.Client(t)
	l := newLease(t, c, 900*time.Millisecond)
	u := New(Config{Lease: l, ID: "u1", Self: "agentA", Addr: func() string { return "127.0.0.1:1" }, Secret: []byte("s")})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := u.Route(ctx)
	if err != nil || r.Relay || r.URL != "" || r.Done == nil {
		t.Fatalf("Route() = %+v, %v; want the broker, ended by the lease", r, err)
	}
	rec, _, ok := u.Holding()
	if !ok || rec.Owner != "agentA" {
		t.Fatalf("Holding() = %+v, %v; want agentA's lease", rec, ok)
	}
	// Another agent overwrites the lease: the route ends.
	if err := c.Set(ctx, l.key, Record{Owner: "agentB", Addr: "x:1", Fence: rec.Fence + 1}.value(), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Done:
	case <-time.After(2 * time.Second):
		t.Fatal("the broker route did not end when the lease went to another")
	}
	c.Del(ctx, l.key)
	if _, err := u.Route(ctx); err != nil {
		t.Fatal(err)
	}
	u.Close()
	if _, held, err := l.Read(ctx); err != nil || held {
		t.Errorf("after Close the lease is still held (%v)", err)
	}
	if _, err := u.Route(ctx); err == nil {
		t.Error("Route() after Close succeeded")
	}
}
