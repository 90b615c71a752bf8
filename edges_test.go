package kauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kiwoom"
)

// This file holds the edges of issue 9: clocks that disagree, Close, the
// end of a same-token period, rejections, siblings on one Store, lost
// leases, reloads, store failures and transient broker answers.

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

// Item 2: a LastIssue in the future (a peer whose clock runs ahead, an NTP
// step back) delays an issuance by MinIssueInterval at most, never past
// IssueTimeout, and a wait cut short is not remembered as a failure.
func TestFutureLastIssue(t *testing.T) {
	app := brokersim.DemoKISMock
	interval := kauth.MinIssueInterval(app.Broker)
	t.Run("waits at most the interval", func(t *testing.T) {
		r := newRig(t)
		store := kauth.NewMemoryStore()
		ctx := context.Background()
		store.Save(ctx, app.Credentials().Key(), kauth.Entry{LastIssue: r.sim.Now().Add(5 * time.Minute)})
		m := r.manager(t, app, func(c *kauth.Config) { c.Store = store })
		start := r.sim.Now()
		if _, err := m.Token(ctx); err != nil {
			t.Fatalf("Token() = %v", err)
		}
		if waited := r.sim.Now().Sub(start); waited > interval+time.Second {
			t.Errorf("waited %v for a LastIssue 5 min in the future; want at most %v", waited, interval)
		}
		e, _ := store.Load(ctx, app.Credentials().Key())
		if e.LastIssue.After(r.sim.Now()) {
			t.Errorf("LastIssue after the issuance = %v in the future; want the local time of the attempt", e.LastIssue.Sub(r.sim.Now()))
		}
	})
	t.Run("bounded by IssueTimeout and not cached", func(t *testing.T) {
		r := newRig(t)
		store := kauth.NewMemoryStore()
		ctx := context.Background()
		store.Save(ctx, app.Credentials().Key(), kauth.Entry{LastIssue: r.sim.Now().Add(5 * time.Minute)})
		m := r.manager(t, app, func(c *kauth.Config) { c.Store = store; c.IssueTimeout = 20 * time.Second })
		start := r.sim.Now()
		_, err := m.Token(ctx)
		if err == nil {
			t.Fatal("Token() succeeded though the issuance spacing outlasts IssueTimeout")
		}
		if !errors.Is(err, kauth.ErrRateLimited) {
			t.Errorf("Token() = %v; want ErrRateLimited (the spacing)", err)
		}
		if waited := r.sim.Now().Sub(start); waited > 20*time.Second {
			t.Errorf("waited %v; want no more than IssueTimeout (20s)", waited)
		}
		r.sim.Advance(interval)
		if _, err := m.Token(ctx); err != nil {
			t.Errorf("Token() once the spacing is over = %v; want a token (the wait is not a cached failure)", err)
		}
	})
}

// Item 3: Close is a real closed state, and Token racing Close is safe.
func TestCloseIsFinal(t *testing.T) {
	r := newRig(t)
	app := brokersim.DemoKiwoomMock
	m := r.manager(t, app)
	ctx := context.Background()
	tok, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range 50 {
				if cur, ok := m.Cached(); ok {
					m.Invalidate(cur.AccessToken) // every call takes the slow path
				}
				got, err := m.Token(ctx)
				if err != nil && !errors.Is(err, kauth.ErrClosed) {
					t.Errorf("Token() racing Close = %v; want a token or ErrClosed", err)
					return
				}
				if err == nil && !got.Valid(r.sim.Now()) {
					t.Errorf("Token() racing Close handed out an expired token")
					return
				}
			}
		}()
	}
	close(start)
	m.Close()
	wg.Wait()

	r.sim.Advance(25 * time.Hour)
	if got, err := m.Token(ctx); !errors.Is(err, kauth.ErrClosed) {
		t.Errorf("Token() after Close with an expired token = %v, %v; want ErrClosed", got, err)
	}
	if err := m.Revoke(ctx); !errors.Is(err, kauth.ErrClosed) {
		t.Errorf("Revoke() after Close = %v; want ErrClosed", err)
	}
	_ = tok
}

// Item 3: on the system clock, closing one Manager does not freeze the
// coarse clock under another, and once the last one is closed no Manager
// serves a token past its time.
func TestClosedManagersNeverServePastExpiry(t *testing.T) {
	sim := brokersim.New()
	// Kiwoom prints expiries to the second: 2 s leaves at least one.
	sim.KiwoomTokenLifetime = 2 * time.Second
	ts := newSimServer(t, sim)
	newM := func(app brokersim.App) *kauth.Manager {
		m, err := kauth.NewManager(kauth.Config{
			Credentials:  app.Credentials(),
			Provider:     kiwoomProvider(ts, app.Env),
			Store:        kauth.NewMemoryStore(),
			RefreshAhead: -1,
			ExpiryMargin: 100 * time.Millisecond,
			Logger:       discardLogger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	ctx := context.Background()
	a, b := newM(brokersim.DemoKiwoomMock), newM(brokersim.DemoKiwoomReal)
	ta, err := a.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	time.Sleep(time.Until(later(ta.ExpiresAt, tb.ExpiresAt)))
	if got, err := a.Token(ctx); !errors.Is(err, kauth.ErrClosed) {
		t.Errorf("closed Manager: Token() past expiry = %v, %v; want ErrClosed", got, err)
	}
	tb2, err := b.Token(ctx)
	if err != nil || tb2.AccessToken == tb.AccessToken {
		t.Fatalf("live Manager after its sibling closed: Token() past expiry = %v, %v; want a new token", tb2, err)
	}
	b.Close() // the last Manager on the system clock
	time.Sleep(time.Until(tb2.ExpiresAt))
	if got, err := b.Token(ctx); !errors.Is(err, kauth.ErrClosed) {
		t.Errorf("after the last Close: Token() past expiry = %v, %v; want ErrClosed", got, err)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Item 4: no token is handed out in its last ExpiryMargin, not even when
// the broker answers a re-issue with the same token (Kiwoom while valid):
// then the Manager revokes it under the lock and issues a new one.
func TestSameTokenNeverInItsLastMargin(t *testing.T) {
	r := newRig(t)
	app := brokersim.DemoKiwoomMock
	var revoked atomic.Int64
	m := r.manager(t, app, func(c *kauth.Config) {
		c.OnEvent = func(ev kauth.Event) {
			if ev.Kind == kauth.EventRevoked {
				revoked.Add(1)
			}
		}
	})
	ctx := context.Background()
	first, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Advance(first.ExpiresAt.Sub(r.sim.Now()) - 35*time.Minute)
	for end := first.ExpiresAt.Add(10 * time.Minute); r.sim.Now().Before(end); r.sim.Advance(10 * time.Second) {
		tok, err := m.Token(ctx)
		if err != nil {
			t.Fatalf("Token() %v before the first token's expiry = %v", first.ExpiresAt.Sub(r.sim.Now()), err)
		}
		if left := tok.ExpiresAt.Sub(r.sim.Now()); left < kauth.DefaultExpiryMargin {
			t.Fatalf("Token() handed out a token with %v left; want none in its last %v", left, kauth.DefaultExpiryMargin)
		}
		m.WaitIdle()
	}
	if got := r.issued(app); got != 2 {
		t.Errorf("issuances = %d; want 2", got)
	}
	if st := r.sim.Stats(); st.Revoked != 1 || revoked.Load() != 1 {
		t.Errorf("revoked at the broker %d, revoked events %d; want 1 each (the same token at its end)", st.Revoked, revoked.Load())
	}
}

// Item 5: a late Invalidate of an older token does not let the next
// refresh adopt a token rejected before it.
func TestLateInvalidateKeepsEarlierRejection(t *testing.T) {
	sim := brokersim.New()
	p := &scripted{now: sim.Now, life: 24 * time.Hour, tokens: []string{"tok-A", "tok-B", "tok-C"}}
	m := scriptedManager(t, sim, p, kauth.NewMemoryStore())
	ctx := context.Background()
	want := func(v string) {
		t.Helper()
		tok, err := m.Token(ctx)
		if err != nil || tok.AccessToken != v {
			t.Fatalf("Token() = %q, %v; want %q", tok.AccessToken, err, v)
		}
	}
	want("tok-A")
	m.Invalidate("tok-A")
	sim.Advance(2 * time.Second)
	want("tok-B")
	m.Invalidate("tok-B")
	m.Invalidate("tok-A") // late: about a token replaced long ago
	sim.Advance(2 * time.Second)
	want("tok-C")
}

// Item 5: an Invalidate that arrives while a background refresh is running
// is not overwritten by the refresh's answer.
func TestInvalidateDuringBackgroundRefresh(t *testing.T) {
	sim := brokersim.New()
	p := &scripted{now: sim.Now, life: 24 * time.Hour, tokens: []string{"tok-A"}} // the same token while valid
	m := scriptedManager(t, sim, p, kauth.NewMemoryStore())
	ctx := context.Background()
	if _, err := m.Token(ctx); err != nil {
		t.Fatal(err)
	}
	sim.Advance(24*time.Hour - 20*time.Minute) // inside the refresh-ahead window
	entered, release := p.block()
	if _, err := m.Token(ctx); err != nil { // serves tok-A, refreshes in the background
		t.Fatal(err)
	}
	<-entered
	if !m.Invalidate("tok-A") {
		t.Fatal("Invalidate(served token) = false")
	}
	release()
	m.WaitIdle()
	if tok, ok := m.Cached(); ok && tok.AccessToken == "tok-A" {
		t.Error("the background refresh brought back the token invalidated while it ran")
	}
	if tok, err := m.Token(ctx); err == nil && tok.AccessToken == "tok-A" {
		t.Error("Token() after Invalidate handed out the rejected token")
	}
}

// Item 6: a revoke, an invalidation and a new token reach the sibling
// Managers on the same Store value (two agent accounts on one app key; two
// nil-Store Managers in one process).
func TestSiblingsOnOneStore(t *testing.T) {
	for _, shared := range []string{"one Store value", "nil Store"} {
		t.Run(shared, func(t *testing.T) {
			r := newRig(t)
			app := brokersim.DemoKISMock
			store := kauth.Store(kauth.NewMemoryStore())
			if shared == "nil Store" {
				store = nil
			}
			m1 := r.manager(t, app, func(c *kauth.Config) { c.Store = store })
			m2 := r.manager(t, app, func(c *kauth.Config) { c.Store = store })
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

// Item 7: a lease lost during a refresh: the old holder does not write
// over the new holder's entry, and adopts what the new holder wrote.
func TestLeaseLostDuringRefresh(t *testing.T) {
	sim := brokersim.New()
	shared := kauth.NewMemoryStore()
	storeA, storeB := newProbeStore(shared), newProbeStore(shared) // two processes
	pA := &scripted{now: sim.Now, life: 24 * time.Hour, tokens: []string{"tok-A"}}
	pB := &scripted{now: sim.Now, life: 24 * time.Hour, tokens: []string{"tok-B"}}
	mA := scriptedManager(t, sim, pA, storeA)
	mB := scriptedManager(t, sim, pB, storeB)
	ctx := context.Background()

	enteredA, releaseA := pA.block()
	defer releaseA()
	type result struct {
		tok kauth.Token
		err error
	}
	doneA, doneB := make(chan result, 1), make(chan result, 1)
	go func() {
		tok, err := mA.Token(ctx)
		doneA <- result{tok, err}
	}()
	<-enteredA
	// B waits for the lock that A holds; A's next Lock waits until B has it.
	openA := storeA.gateLocks()
	enteredB, releaseB := pB.block()
	go func() {
		tok, err := mB.Token(ctx)
		doneB <- result{tok, err}
	}()
	sim.Advance(2 * time.Second)
	storeA.loseLeases() // A's lease lapses while its issuance is in flight
	<-enteredB
	openA()
	releaseB()
	if res := <-doneB; res.err != nil || res.tok.AccessToken != "tok-B" {
		t.Fatalf("new holder: Token() = %q, %v; want tok-B", res.tok.AccessToken, res.err)
	}
	res := <-doneA
	if res.err != nil || res.tok.AccessToken != "tok-B" {
		t.Errorf("old holder: Token() = %q, %v; want tok-B, adopted from the new holder", res.tok.AccessToken, res.err)
	}
	if e, _ := shared.Load(ctx, brokersim.DemoKiwoomMock.Credentials().Key()); e.Token.AccessToken != "tok-B" {
		t.Errorf("stored token = %q; want tok-B (the old holder must not write over it)", e.Token.AccessToken)
	}
}

// Item 7: a lease lost after the broker answered, before the token was
// written: nothing is written under the lost lease, and the token the
// broker gave is kept (saved under a new lease) rather than issued again.
func TestLeaseLostAfterTheAnswer(t *testing.T) {
	sim := brokersim.New()
	store := newProbeStore(nil)
	p := &scripted{now: sim.Now, life: 24 * time.Hour, tokens: []string{"tok-A", "tok-B"}}
	lossy := &loseOnIssue{Provider: p, lose: store.loseLeases}
	m := scriptedManager(t, sim, lossy, store)
	ctx := context.Background()
	tok, err := m.Token(ctx)
	if err != nil || tok.AccessToken != "tok-A" {
		t.Fatalf("Token() = %q, %v; want tok-A, kept from the answer", tok.AccessToken, err)
	}
	if n := p.issued(); n != 1 {
		t.Errorf("issuances = %d; want 1", n)
	}
	if e, _ := store.Load(ctx, brokersim.DemoKiwoomMock.Credentials().Key()); e.Token.AccessToken != "tok-A" {
		t.Errorf("stored token = %q; want tok-A, written under the new lease", e.Token.AccessToken)
	}
}

// loseOnIssue takes the lease away while the first Issue is answered.
type loseOnIssue struct {
	kauth.Provider
	once sync.Once
	lose func()
}

func (p *loseOnIssue) Issue(ctx context.Context, c kauth.Credentials) (kauth.Token, error) {
	tok, err := p.Provider.Issue(ctx, c)
	p.once.Do(p.lose)
	return tok, err
}

// gatedStore is a Watcher whose changes the test sends, and whose next Load
// can be held after it has read the entry, to interleave a reload with a
// refresh.
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

// Item 8: a reload that read the store before a refresh wrote it never
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

// Item 9: a store that cannot be written is reported, and a revoke whose
// store write failed leaves the revoked token servable nowhere it can
// reach.
func TestStoreWriteFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		delete  bool // whether Delete still works (a full disk can unlink)
		wantErr bool
	}{
		{"full disk", true, false},
		{"read-only", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			app := brokersim.DemoKISMock
			store := newProbeStore(nil)
			var mu sync.Mutex
			var events []kauth.Event
			m := r.manager(t, app, func(c *kauth.Config) {
				c.Store = store
				c.OnEvent = func(ev kauth.Event) {
					mu.Lock()
					events = append(events, ev)
					mu.Unlock()
				}
			})
			storeFailed := func() int {
				mu.Lock()
				defer mu.Unlock()
				n := 0
				for _, ev := range events {
					if ev.Kind == kauth.EventStoreFailed {
						if !errors.Is(ev.Err, kauth.ErrStoreUnwritable) {
							t.Errorf("store_failed event Err = %v; want ErrStoreUnwritable", ev.Err)
						}
						n++
					}
				}
				return n
			}
			ctx := context.Background()
			tok, err := m.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			store.fail(true, !tc.delete)
			err = m.Revoke(ctx)
			if tc.wantErr != (err != nil) {
				t.Fatalf("Revoke() with the store failing = %v; want error: %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, kauth.ErrStoreUnwritable) {
				t.Errorf("Revoke() = %v; want it to wrap ErrStoreUnwritable", err)
			}
			if storeFailed() == 0 {
				t.Error("no store_failed event for a store write that failed")
			}
			if got, ok := m.Cached(); ok && got.AccessToken == tok.AccessToken {
				t.Error("the revoked token is still served from memory")
			}
			e, _ := store.Load(ctx, app.Credentials().Key())
			if tc.delete && e.Token.AccessToken != "" {
				t.Error("the store still holds the revoked token though Delete works")
			}
			r.sim.Advance(time.Minute)
			if got, err := m.Token(ctx); err == nil && got.AccessToken == tok.AccessToken {
				t.Error("Token() after the revoke handed out the revoked token")
			}

			// A Token whose result cannot be saved says so.
			before := storeFailed()
			cur, _ := m.Cached()
			r.sim.InvalidateToken(cur.AccessToken)
			m.Invalidate(cur.AccessToken)
			r.sim.Advance(time.Minute)
			if _, err := m.Token(ctx); err != nil {
				t.Errorf("Token() with an unwritable store = %v; want the token, served anyway", err)
			}
			if storeFailed() == before {
				t.Error("no store_failed event for an issuance that could not be saved")
			}
		})
	}
}

// Item 10: transient answers (5xx, HTML page, reset, malformed body) cost
// seconds, not the minute's spacing, and do not count as an issuance.
func TestTransientAnswersRetriedQuickly(t *testing.T) {
	for _, f := range []brokersim.Fault{
		{Kind: brokersim.HTMLPage, Count: 2},
		{Kind: brokersim.ServerError, Status: 502, Count: 2},
		{Kind: brokersim.Reset, Count: 2},
		{Kind: brokersim.MalformedJSON, Count: 2},
	} {
		t.Run(f.Kind.String(), func(t *testing.T) {
			r := newRig(t)
			app := brokersim.DemoKISReal
			f.Broker, f.Env, f.Path = app.Broker, app.Env, "/oauth2/tokenP"
			r.sim.Inject(f)
			store := kauth.NewMemoryStore()
			m := r.manager(t, app, func(c *kauth.Config) { c.Store = store })
			start := r.sim.Now()
			if _, err := m.Token(context.Background()); err != nil {
				t.Fatalf("Token() after two %v answers = %v", f.Kind, err)
			}
			if waited := r.sim.Now().Sub(start); waited > 10*time.Second {
				t.Errorf("two %v answers cost %v; want seconds", f.Kind, waited)
			}
			if got := r.issued(app); got != 1 {
				t.Errorf("issuances = %d; want 1", got)
			}
		})
	}
	t.Run("give up", func(t *testing.T) {
		r := newRig(t)
		app := brokersim.DemoKISReal
		r.sim.Inject(brokersim.Fault{Broker: app.Broker, Env: app.Env, Path: "/oauth2/tokenP", Kind: brokersim.ServerError, Count: 1000})
		store := kauth.NewMemoryStore()
		m := r.manager(t, app, func(c *kauth.Config) { c.Store = store; c.IssueTimeout = 30 * time.Second })
		if _, err := m.Token(context.Background()); !errors.Is(err, kauth.ErrUnavailable) {
			t.Fatalf("Token() against a down broker = %v; want ErrUnavailable", err)
		}
		e, _ := store.Load(context.Background(), app.Credentials().Key())
		if !e.LastIssue.IsZero() {
			t.Errorf("LastIssue = %v after only transient failures; want none recorded (none counted at the broker)", e.LastIssue)
		}
		// The failure is answered from memory for 5 s, then tried again.
		r.sim.ClearFaults()
		before := r.sim.Stats().Requests
		if _, err := m.Token(context.Background()); !errors.Is(err, kauth.ErrUnavailable) {
			t.Errorf("Token() right after = %v; want the remembered ErrUnavailable", err)
		}
		if n := r.sim.Stats().Requests - before; n != 0 {
			t.Errorf("upstream calls right after the failure = %d; want 0", n)
		}
		r.sim.Advance(5 * time.Second)
		if _, err := m.Token(context.Background()); err != nil {
			t.Errorf("Token() 5 s later, the broker back = %v; want a token", err)
		}
	})
}

func newSimServer(t *testing.T, sim *brokersim.Server) *httptest.Server {
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return ts
}

func kiwoomProvider(ts *httptest.Server, env kauth.Env) kauth.Provider {
	return &kiwoom.Provider{BaseURL: brokersim.BaseURL(ts.URL, kauth.Kiwoom, env)}
}
