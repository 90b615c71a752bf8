package kauth_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kis"
)

// Item 2: a LastIssue in the future (a peer whose clock runs ahead, an NTP
// step back) delays an issuance by MinIssueInterval at most, never past
// IssueTimeout, and a wait cut short is not remembered as a failure.
func TestFutureLastIssue(t *testing.T) {
	app := brokersim.DemoKISMock
	interval := kauth.MinIssueInterval(kis.New())
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

// The clock moves while a re-issue is on the way (another holder or the
// caller's own steps): Kiwoom hands back the same token, valid when it
// answered, that has expired by the time the answer is read. That is no
// outage and no failure to remember: the Manager issues again, and the
// broker, its token expired, mints a new one.
func TestSameTokenExpiredOnTheWay(t *testing.T) {
	for _, tc := range []struct {
		name string
		left time.Duration // life left in the first token when it is refreshed
	}{
		{"in its last margin", 30 * time.Second},
		{"refreshed ahead", 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			app := brokersim.DemoKiwoomMock
			slow := &advanceOnIssue{sim: r.sim}
			var mu sync.Mutex
			var failed []error
			m := r.manager(t, app, func(c *kauth.Config) {
				slow.Provider = c.Provider
				c.Provider = slow
				c.OnEvent = func(ev kauth.Event) {
					if ev.Kind == kauth.EventFailed {
						mu.Lock()
						failed = append(failed, ev.Err)
						mu.Unlock()
					}
				}
			})
			ctx := context.Background()
			first, err := m.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			r.sim.Advance(first.ExpiresAt.Sub(r.sim.Now()) - tc.left)
			slow.arm(tc.left + time.Second) // the answer arrives once the token has expired
			if _, err := m.Token(ctx); err != nil {
				t.Fatalf("Token() with %v left = %v; want a token", tc.left, err)
			}
			m.WaitIdle()
			tok, err := m.Token(ctx)
			if err != nil {
				t.Fatalf("Token() after a same-token answer that expired on the way = %v; want a new token", err)
			}
			if tok.AccessToken == first.AccessToken {
				t.Fatal("Token() handed out the expired token")
			}
			if left := tok.ExpiresAt.Sub(r.sim.Now()); left < 23*time.Hour {
				t.Errorf("new token has %v left; want a fresh one", left)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(failed) != 0 {
				t.Errorf("failed events = %v; want none", failed)
			}
		})
	}
}

// advanceOnIssue moves the simulator's clock by d while the next Issue is
// answered, once armed.
type advanceOnIssue struct {
	kauth.Provider
	sim *brokersim.Server
	mu  sync.Mutex
	d   time.Duration
}

func (p *advanceOnIssue) arm(d time.Duration) {
	p.mu.Lock()
	p.d = d
	p.mu.Unlock()
}

func (p *advanceOnIssue) Issue(ctx context.Context, c kauth.Credentials) (kauth.Token, error) {
	tok, err := p.Provider.Issue(ctx, c)
	p.mu.Lock()
	d := p.d
	p.d = 0
	p.mu.Unlock()
	p.sim.Advance(d)
	return tok, err
}
