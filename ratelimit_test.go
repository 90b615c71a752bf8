package kauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kiwoom"
	"github.com/kauth/kauth/store/file"
)

// tokenRequests records the simulator's time of every request to a token
// endpoint.
type tokenRequests struct {
	sim *brokersim.Server
	mu  sync.Mutex
	at  []time.Time
}

func (tr *tokenRequests) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/oauth2/token") {
		tr.mu.Lock()
		tr.at = append(tr.at, tr.sim.Now())
		tr.mu.Unlock()
	}
	tr.sim.ServeHTTP(w, r)
}

func (tr *tokenRequests) since(i int) []time.Time {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]time.Time(nil), tr.at[i:]...)
}

func (tr *tokenRequests) count() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.at)
}

// TestRateLimitedIssuanceHoldsEveryCaller: once an issuance gave up on the
// broker's rate limit (Kiwoom 1700 under a storm of them), no caller of
// that Manager, nor a Manager of another process sharing its file store,
// sends another token request before the wait the broker and the backoff
// asked for is over. Callers whose deadline ends sooner are told at once,
// in one line naming the broker, the env and when the next request is
// allowed.
func TestRateLimitedIssuanceHoldsEveryCaller(t *testing.T) {
	sim := brokersim.New()
	reqs := &tokenRequests{sim: sim}
	ts := httptest.NewServer(reqs)
	t.Cleanup(ts.Close)
	app := brokersim.DemoKiwoomReal
	sim.Inject(brokersim.Fault{Broker: app.Broker, Env: app.Env, Path: "/oauth2/token", Kind: brokersim.RateLimit, Count: 1000})

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	manager := func(budget time.Duration) *kauth.Manager {
		// Each Manager opens the directory on its own, as another process
		// would.
		store, err := file.New(dir, file.WithKey(key))
		if err != nil {
			t.Fatal(err)
		}
		m, err := kauth.NewManager(kauth.Config{
			Credentials:  app.Credentials(),
			Provider:     &kiwoom.Provider{BaseURL: brokersim.BaseURL(ts.URL, app.Broker, app.Env), Now: sim.Now, HTTPClient: ts.Client()},
			Store:        store,
			Clock:        vclock{sim},
			Logger:       discardLogger(),
			IssueTimeout: budget,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	storm := func(m *kauth.Manager, callers int, deadline time.Duration) []error {
		errs := make([]error, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				_, errs[i] = m.Token(ctx)
			})
		}
		wg.Wait()
		return errs
	}

	// A storm of callers on one Manager: one issuance, which retries the
	// rate limit until its budget is spent.
	a := manager(20 * time.Second)
	limited := 0
	for _, err := range storm(a, 100, time.Second) {
		switch {
		case errors.Is(err, kauth.ErrRateLimited):
			limited++
		case errors.Is(err, context.DeadlineExceeded):
			// A caller that joined the issuance, on a machine too busy to
			// finish its retries within the second.
		default:
			t.Fatalf("Token() under a rate-limit storm = %v; want ErrRateLimited", err)
		}
	}
	if limited == 0 {
		t.Fatal("no caller was told of the rate limit")
	}
	first := reqs.count()
	if first == 0 || first > 10 {
		t.Fatalf("token requests of one issuance = %d; want 1 to 10", first)
	}

	// The Manager says when the broker allows the next request.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err := a.Token(ctx)
	cancel()
	var ke *kauth.Error
	if !errors.As(err, &ke) || !errors.Is(err, kauth.ErrRateLimited) || ke.RetryAfter <= time.Second {
		t.Fatalf("Token() after the issuance gave up = %v; want ErrRateLimited with a RetryAfter beyond the 1 s spacing", err)
	}
	next := sim.Now().Add(ke.RetryAfter)
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "kiwoom real") || !strings.Contains(msg, next.In(kauth.KST).Format("15:04:05")) {
		t.Errorf("error = %q; want one line naming kiwoom real and the time of the next request (%s)", msg, next.In(kauth.KST).Format("15:04:05"))
	}

	// Past the broker's own spacing (1 s) and Retry-After (1 s), but
	// before the next request is allowed: callers of this Manager are
	// told so at once, and no token request goes out.
	sim.Advance(next.Sub(sim.Now()) / 2)
	for _, err := range storm(a, 100, time.Second) {
		if !errors.Is(err, kauth.ErrRateLimited) || !strings.Contains(err.Error(), "allowed at") {
			t.Fatalf("Token() before the next request is allowed = %v; want ErrRateLimited saying when", err)
		}
	}
	if got := reqs.count(); got != first {
		t.Errorf("token requests before the next is allowed = %d more; want none", got-first)
	}

	// Another process on the same store, whose budget ends before the
	// next request is allowed: told so, without a request.
	b := manager(next.Sub(sim.Now()) / 2)
	if _, err := b.Token(context.Background()); !errors.Is(err, kauth.ErrRateLimited) || !strings.Contains(err.Error(), "allowed at") {
		t.Errorf("Token() of another process before the next request is allowed = %v; want ErrRateLimited saying when", err)
	}
	if got := reqs.count(); got != first {
		t.Errorf("token requests by another process before the next is allowed = %d more; want none", got-first)
	}

	// Another process with time to wait: it waits out the broker's wait,
	// then asks.
	c := manager(time.Minute)
	c.Token(context.Background())
	later := reqs.since(first)
	if len(later) == 0 {
		t.Fatal("no token request once the wait was over; want the issuance to go on")
	}
	if later[0].Before(next) {
		t.Errorf("another process asked for a token %v before the next request was allowed", next.Sub(later[0]))
	}
}

// TestRateLimitAfterClockStepBack: a rate limit heard before the clock
// stepped back an hour does not hold issuance back for that hour; the
// store's record still holds for the wait its writer recorded: the
// retry's backoff after its last refusal, jittered and at most 30 s, which
// the budget of one minute always covers. (With a budget of 10 s, a last
// backoff jittered past 10 s made the second call give up at once.)
func TestRateLimitAfterClockStepBack(t *testing.T) {
	r := newRig(t)
	app := brokersim.DemoKiwoomReal
	r.sim.Inject(brokersim.Fault{Broker: app.Broker, Env: app.Env, Path: "/oauth2/token", Kind: brokersim.RateLimit, Count: 1000})
	m := r.manager(t, app, func(c *kauth.Config) { c.IssueTimeout = time.Minute })
	if _, err := m.Token(context.Background()); !errors.Is(err, kauth.ErrRateLimited) {
		t.Fatalf("Token() under a rate-limit storm = %v; want ErrRateLimited", err)
	}
	r.sim.ClearFaults()
	r.sim.Advance(-time.Hour)
	start := r.sim.Now()
	if _, err := m.Token(context.Background()); err != nil {
		t.Fatalf("Token() once the clock stepped back = %v; want a token after the recorded wait at most", err)
	}
	if waited := r.sim.Now().Sub(start); waited > 31*time.Second {
		t.Errorf("waited %v after the clock stepped back; want the recorded wait (at most 30 s) at most, not the hour", waited)
	}
}
