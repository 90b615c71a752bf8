package kauth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// A revoke, an invalidation and a new token reach the sibling
// Managers of one Group on the same Store value (two agent accounts on one
// app key; two nil-Store Managers of one Group).
func TestSiblingsOnOneStore(t *testing.T) {
	for _, shared := range []string{"one Store value", "nil Store"} {
		t.Run(shared, func(t *testing.T) {
			r := newRig(t)
			app := brokersim.DemoKISMock
			store := kauth.Store(kauth.NewMemoryStore())
			if shared == "nil Store" {
				store = nil
			}
			g := kauth.NewGroup()
			m1 := r.manager(t, app, func(c *kauth.Config) { c.Store, c.Group = store, g })
			m2 := r.manager(t, app, func(c *kauth.Config) { c.Store, c.Group = store, g })
			ctx := context.Background()
			t1, err := m1.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if t2, err := m2.Token(ctx); err != nil || t2.AccessToken != t1.AccessToken {
				t.Fatalf("sibling Token() = %v, %v; want the shared token", t2, err)
			}

			// An invalidation: m1 gets a new token; m2 follows.
			r.sim.InvalidateToken(t1.AccessToken)
			m1.Invalidate(t1.AccessToken)
			n1, err := m1.Token(ctx)
			if err != nil || n1.AccessToken == t1.AccessToken {
				t.Fatalf("Token() after Invalidate = %v, %v", n1, err)
			}
			m2.WaitIdle()
			if got, _ := m2.Cached(); got.AccessToken != n1.AccessToken {
				t.Errorf("sibling serves %v after the invalidation; want the new token %v", got, n1)
			}

			// A revoke: m2 loses the token at once.
			if err := m1.Revoke(ctx); err != nil {
				t.Fatal(err)
			}
			m2.WaitIdle()
			if got, ok := m2.Cached(); ok && got.AccessToken == n1.AccessToken {
				t.Error("sibling still serves the token revoked through the same Store")
			}
			if got, err := m2.Token(ctx); err == nil && got.AccessToken == n1.AccessToken {
				t.Error("sibling Token() handed out the revoked token")
			}
		})
	}
}

type gatedStore struct {
	*kauth.MemoryStore
	changes chan kauth.Change
	acks    chan struct{}

	mu      sync.Mutex
	armed   bool
	held    chan struct{} // closed when a held Load has read
	release chan struct{}
	freed   bool
}

func newGatedStore() *gatedStore {
	return &gatedStore{MemoryStore: kauth.NewMemoryStore(), changes: make(chan kauth.Change), acks: make(chan struct{})}
}

func (s *gatedStore) Watch(ctx context.Context, changed func(kauth.Change)) error {
	for {
		select {
		case c := <-s.changes:
			changed(c)
			s.acks <- struct{}{}
		case <-ctx.Done():
			return nil
		}
	}
}

// send reports c and waits until the watch callback returned.
func (s *gatedStore) send(c kauth.Change) {
	s.changes <- c
	<-s.acks
}

// hold arms the gate: the next Load reads the entry, then waits.
func (s *gatedStore) hold() (held <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed, s.freed = true, false
	s.held, s.release = make(chan struct{}), make(chan struct{})
	return s.held
}

func (s *gatedStore) free() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.freed && s.release != nil {
		s.freed = true
		close(s.release)
	}
}

func (s *gatedStore) holding() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held != nil && !s.freed && !s.armed
}

func (s *gatedStore) Load(ctx context.Context, key kauth.Key) (kauth.Entry, error) {
	e, err := s.MemoryStore.Load(ctx, key)
	s.mu.Lock()
	armed := s.armed
	s.armed = false
	held, release := s.held, s.release
	s.mu.Unlock()
	if armed {
		close(held)
		<-release
	}
	return e, err
}

// Lock: while a Load is held, a Lock that cannot be had at once (the held
// reader holds it) frees the gate; one that can be had frees it when that
// lease is released.
func (s *gatedStore) Lock(ctx context.Context, key kauth.Key) (kauth.Lease, error) {
	if s.holding() {
		pctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		l, err := s.MemoryStore.Lock(pctx, key)
		cancel()
		if err == nil {
			return &freeOnUnlock{Lease: l, free: s.free}, nil
		}
		s.free()
	}
	return s.MemoryStore.Lock(ctx, key)
}

type freeOnUnlock struct {
	kauth.Lease
	free func()
}

func (l *freeOnUnlock) Unlock() {
	l.Lease.Unlock()
	l.free()
}

// A reload that read the store before a refresh wrote it never
// swaps the served token back to the older one; and a resync reloads.
func TestReloadNeverGoesBack(t *testing.T) {
	sim := brokersim.New()
	p := &scripted{now: sim.Now, life: 24 * time.Hour, tokens: []string{"tok-A", "tok-B"}}
	store := newGatedStore()
	m := scriptedManager(t, sim, p, store)
	ctx := context.Background()
	key := brokersim.DemoKiwoomMock.Credentials().Key()
	if _, err := m.Token(ctx); err != nil {
		t.Fatal(err)
	}
	sim.Advance(24*time.Hour - 20*time.Minute) // inside the refresh-ahead window

	held := store.hold()
	sent := make(chan struct{})
	go func() {
		store.send(kauth.Change{Key: key}) // a reload, whose Load reads tok-A and is held
		close(sent)
	}()
	<-held
	if _, err := m.Token(ctx); err != nil { // tok-A; refreshes to tok-B in the background
		t.Fatal(err)
	}
	<-sent
	m.WaitIdle()
	if got, _ := m.Cached(); got.AccessToken != "tok-B" {
		t.Errorf("served %q after the refresh and a stale reload; want tok-B", got.AccessToken)
	}

	// A resync: the entry changed behind the watch (revoked elsewhere).
	e, _ := store.MemoryStore.Load(ctx, key)
	e.Rejected, e.Token = e.Token.Fingerprint(), kauth.Token{}
	store.MemoryStore.Save(ctx, key, e)
	store.send(kauth.Change{Resync: true})
	m.WaitIdle()
	if got, ok := m.Cached(); ok && got.AccessToken == "tok-B" {
		t.Error("after a resync the Manager still serves the token revoked behind the watch")
	}
}
