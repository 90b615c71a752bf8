package kauth_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kiwoom"
)

// Test doubles for the edges of issue 9: a provider whose answers the
// test scripts, and a store whose writes fail or whose leases lapse on
// command.

// scripted is a Provider whose answers the test decides: it hands out
// tokens in order (the last one again and again), each with the expiry it
// got when first handed out, as a broker that answers with the same token
// does.
type scripted struct {
	now  func() time.Time
	life time.Duration

	mu      sync.Mutex
	tokens  []string
	n       int
	expiry  map[string]time.Time
	gate    chan struct{} // if set, Issue waits for it to close
	entered chan struct{} // if set, Issue sends on it when it starts
	revoked []string
}

func (p *scripted) Issue(ctx context.Context, c kauth.Credentials) (kauth.Token, error) {
	p.mu.Lock()
	gate, entered := p.gate, p.entered
	p.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return kauth.Token{}, ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.tokens[min(p.n, len(p.tokens)-1)]
	p.n++
	if p.expiry == nil {
		p.expiry = map[string]time.Time{}
	}
	now := p.now()
	exp, ok := p.expiry[v]
	if !ok {
		exp = now.Add(p.life)
		p.expiry[v] = exp
	}
	return kauth.Token{AccessToken: v, Type: "Bearer", IssuedAt: now, ExpiresAt: exp}, nil
}

func (p *scripted) Revoke(ctx context.Context, c kauth.Credentials, token string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revoked = append(p.revoked, token)
	return nil
}

// block makes the next Issue calls wait until the returned func is called.
func (p *scripted) block() (entered <-chan struct{}, release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	gate, in := make(chan struct{}), make(chan struct{}, 8)
	p.gate, p.entered = gate, in
	return in, func() {
		p.mu.Lock()
		p.gate, p.entered = nil, nil
		p.mu.Unlock()
		close(gate)
	}
}

func (p *scripted) issued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// scriptedManager builds a Manager on p, the simulator's virtual clock and
// store.
func scriptedManager(t *testing.T, sim *brokersim.Server, p kauth.Provider, store kauth.Store, edit ...func(*kauth.Config)) *kauth.Manager {
	t.Helper()
	cfg := kauth.Config{
		Credentials: brokersim.DemoKiwoomMock.Credentials(),
		Provider:    p,
		Store:       store,
		Clock:       vclock{sim},
		Logger:      discardLogger(),
	}
	for _, f := range edit {
		f(&cfg)
	}
	m, err := kauth.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// probeStore is a MemoryStore whose writes can be made to fail (a full or
// read-only disk) and whose leases the test can take away (a Redis lease
// that lapsed).
type probeStore struct {
	*kauth.MemoryStore
	mu                   sync.Mutex
	failSave, failDelete bool
	leases               []*probeLease
	lockGate             chan struct{}
}

func newProbeStore(inner *kauth.MemoryStore) *probeStore {
	if inner == nil {
		inner = kauth.NewMemoryStore()
	}
	return &probeStore{MemoryStore: inner}
}

var errDiskFull = fmt.Errorf("%w: write cache: no space left on device", kauth.ErrStoreUnwritable)

func (s *probeStore) fail(save, del bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failSave, s.failDelete = save, del
}

func (s *probeStore) saveFails() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failSave
}

func (s *probeStore) Save(ctx context.Context, key kauth.Key, e kauth.Entry) error {
	if s.saveFails() {
		return errDiskFull
	}
	return s.MemoryStore.Save(ctx, key, e)
}

func (s *probeStore) Delete(ctx context.Context, key kauth.Key) error {
	s.mu.Lock()
	fail := s.failDelete
	s.mu.Unlock()
	if fail {
		return errDiskFull
	}
	return s.MemoryStore.Delete(ctx, key)
}

// gateLocks makes Lock wait until the returned func is called.
func (s *probeStore) gateLocks() (open func()) {
	gate := make(chan struct{})
	s.mu.Lock()
	s.lockGate = gate
	s.mu.Unlock()
	return func() { close(gate) }
}

func (s *probeStore) Lock(ctx context.Context, key kauth.Key) (kauth.Lease, error) {
	s.mu.Lock()
	gate := s.lockGate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	inner, err := s.MemoryStore.Lock(ctx, key)
	if err != nil {
		return nil, err
	}
	l := &probeLease{LeaseState: kauth.NewLeaseState(key, inner.Fence()), inner: inner, store: s}
	s.mu.Lock()
	s.leases = append(s.leases, l)
	s.mu.Unlock()
	return l, nil
}

// loseLeases takes away every lease held: they report the loss, and the
// lock is free for another holder.
func (s *probeStore) loseLeases() {
	s.mu.Lock()
	ls := s.leases
	s.leases = nil
	s.mu.Unlock()
	for _, l := range ls {
		if l.Lost("taken away by the test") {
			l.inner.Unlock()
		}
	}
}

type probeLease struct {
	*kauth.LeaseState
	inner kauth.Lease
	store *probeStore
}

func (l *probeLease) Save(ctx context.Context, e kauth.Entry) error {
	if err := l.Err(); err != nil {
		return err
	}
	if l.store.saveFails() {
		return errDiskFull
	}
	return l.inner.Save(ctx, e)
}

func (l *probeLease) Unlock() {
	if l.End(context.Canceled) {
		l.inner.Unlock()
	}
}

func newSimServer(t *testing.T, sim *brokersim.Server) *httptest.Server {
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return ts
}

func kiwoomProvider(ts *httptest.Server, env kauth.Env) kauth.Provider {
	return &kiwoom.Provider{BaseURL: brokersim.BaseURL(ts.URL, kauth.Kiwoom, env)}
}
