package kauth_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// Close is a real closed state, and Token racing Close is safe.
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

// On the system clock, closing one Manager does not freeze the
// clock of another, and once the last one is closed no Manager serves a
// token past its time.
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
