package kauth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kis"
	"github.com/kauth/kauth/kiwoom"
)

func TestMain(m *testing.M) {
	if os.Getenv(envFrozenChild) != "" {
		os.Exit(frozenChild())
	}
	goleak.VerifyTestMain(m)
}

// vclock drives the Manager from the simulator's virtual clock: a Sleep
// advances the simulator instead of waiting, so a minute-long wait for KIS's
// issuance interval costs nothing.
type vclock struct{ sim *brokersim.Server }

func (c vclock) Now() time.Time { return c.sim.Now() }

func (c vclock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sim.Advance(d)
	return nil
}

type rig struct {
	sim *brokersim.Server
	ts  *httptest.Server
}

func newRig(t *testing.T) *rig {
	t.Helper()
	sim := brokersim.New()
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return &rig{sim: sim, ts: ts}
}

func (r *rig) provider(b kauth.Broker, e kauth.Env) kauth.Provider {
	url := brokersim.BaseURL(r.ts.URL, b, e)
	if b == kauth.KIS {
		return &kis.Provider{BaseURL: url, Now: r.sim.Now, HTTPClient: r.ts.Client()}
	}
	return &kiwoom.Provider{BaseURL: url, Now: r.sim.Now, HTTPClient: r.ts.Client()}
}

// manager builds a Manager for the demo app of b/e on its own memory store.
func (r *rig) manager(t *testing.T, app brokersim.App, edit ...func(*kauth.Config)) *kauth.Manager {
	t.Helper()
	cfg := kauth.Config{
		Credentials: app.Credentials(),
		Provider:    r.provider(app.Broker, app.Env),
		Store:       kauth.NewMemoryStore(),
		Clock:       vclock{r.sim},
		Logger:      discardLogger(),
	}
	for _, f := range edit {
		f(&cfg)
	}
	m, err := kauth.NewManager(cfg)
	if err != nil {
		t.Fatalf("NewManager() = %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func (r *rig) issued(app brokersim.App) int { return r.sim.Issued(app.Broker, app.Env, app.AppKey) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var allApps = []brokersim.App{brokersim.DemoKISReal, brokersim.DemoKISMock, brokersim.DemoKiwoomReal, brokersim.DemoKiwoomMock}

func TestColdStormIssuesOnce(t *testing.T) {
	for _, app := range allApps {
		t.Run(app.String(), func(t *testing.T) {
			r := newRig(t)
			m := r.manager(t, app)
			const callers = 10000
			var wg sync.WaitGroup
			tokens := make([]string, callers)
			errs := make([]error, callers)
			start := make(chan struct{})
			for i := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					tok, err := m.Token(context.Background())
					tokens[i], errs[i] = tok.AccessToken, err
				}()
			}
			close(start)
			wg.Wait()
			for i := range callers {
				if errs[i] != nil || tokens[i] == "" || tokens[i] != tokens[0] {
					t.Fatalf("caller %d: Token() = %.8q, %v; want the shared token", i, tokens[i], errs[i])
				}
			}
			if got := r.issued(app); got != 1 {
				t.Errorf("issuances at the simulator = %d; want 1", got)
			}
		})
	}
}

func TestTokenIsCachedAndValid(t *testing.T) {
	r := newRig(t)
	app := brokersim.DemoKISMock
	m := r.manager(t, app)
	ctx := context.Background()
	first, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Type != "Bearer" || !first.Valid(r.sim.Now()) {
		t.Errorf("Token() = %v, type %q; want a valid Bearer token", first, first.Type)
	}
	if want, _, _ := r.sim.CurrentToken(app.Broker, app.Env, app.AppKey); first.AccessToken != want {
		t.Errorf("Token() is not the simulator's current token")
	}
	if d := first.ExpiresAt.Sub(r.sim.Now()); d < 23*time.Hour || d > 24*time.Hour {
		t.Errorf("token lives %v; want about 24h", d)
	}
	r.sim.Advance(20 * time.Hour)
	again, err := m.Token(ctx)
	if err != nil || again.AccessToken != first.AccessToken {
		t.Errorf("Token() after 20h = %v, %v; want the cached token", again, err)
	}
	if got := r.issued(app); got != 1 {
		t.Errorf("issuances = %d; want 1", got)
	}
}

// TestVirtualDays walks several days in one-minute steps with refresh ahead
// and counts issuances: one per validity period, none needless, no caller
// ever handed an expired token, and no EGW00133.
func TestVirtualDays(t *testing.T) {
	for _, app := range []brokersim.App{brokersim.DemoKISReal, brokersim.DemoKiwoomReal} {
		t.Run(app.String(), func(t *testing.T) {
			r := newRig(t)
			if app.Broker == kauth.Kiwoom {
				r.sim.KiwoomTokenLifetime = 20 * time.Hour // Kiwoom lifetimes vary; trust expires_dt
			}
			var failed, refreshed atomic.Int64
			m := r.manager(t, app, func(c *kauth.Config) {
				c.OnEvent = func(ev kauth.Event) {
					switch ev.Kind {
					case kauth.EventFailed:
						failed.Add(1)
					case kauth.EventRefreshed:
						refreshed.Add(1)
					}
				}
			})
			ctx := context.Background()
			const days = 3
			start := r.sim.Now()
			for r.sim.Now().Sub(start) < days*24*time.Hour {
				tok, err := m.Token(ctx)
				if err != nil {
					t.Fatalf("Token() at +%v = %v", r.sim.Now().Sub(start), err)
				}
				if !tok.Valid(r.sim.Now()) {
					t.Fatalf("Token() at +%v handed out an expired token", r.sim.Now().Sub(start))
				}
				m.WaitIdle()
				r.sim.Advance(time.Minute)
			}
			lifetime := 24 * time.Hour
			if app.Broker == kauth.Kiwoom {
				lifetime = 20 * time.Hour
			}
			want := int(days*24*time.Hour/lifetime) + 1
			if got := r.issued(app); got != want {
				t.Errorf("issuances in %d days = %d; want %d (one per %v)", days, got, want, lifetime)
			}
			if failed.Load() != 0 {
				t.Errorf("failed events = %d; want 0", failed.Load())
			}
			st := r.sim.Stats()
			if st.Rejected != 0 {
				t.Errorf("simulator answered %d errors (e.g. EGW00133); want 0", st.Rejected)
			}
			if app.Broker == kauth.KIS && refreshed.Load() == 0 {
				t.Errorf("no refresh ahead happened")
			}
		})
	}
}

// TestKiwoomSameTokenDoesNotStorm: Kiwoom answers a re-issue with the same
// token while it is valid, so refresh ahead cannot get a new one early. The
// Manager must accept that quietly and not ask on every call.
func TestKiwoomSameTokenDoesNotStorm(t *testing.T) {
	r := newRig(t)
	app := brokersim.DemoKiwoomMock
	m := r.manager(t, app)
	ctx := context.Background()
	first, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Advance(24*time.Hour - 20*time.Minute) // inside the refresh-ahead window
	before := r.sim.Stats().Requests
	for range 1000 {
		tok, err := m.Token(ctx)
		if err != nil || tok.AccessToken != first.AccessToken {
			t.Fatalf("Token() = %v, %v; want the same valid token", tok, err)
		}
		m.WaitIdle()
		r.sim.Advance(time.Second)
	}
	if calls := r.sim.Stats().Requests - before; calls > 5 {
		t.Errorf("upstream calls during 1000 Token() calls in the window = %d; want a handful", calls)
	}
	r.sim.Advance(5 * time.Minute) // past expiry: a new token
	tok, err := m.Token(ctx)
	if err != nil || tok.AccessToken == first.AccessToken {
		t.Fatalf("Token() after expiry = %v, %v; want a new token", tok, err)
	}
	if got := r.issued(app); got != 2 {
		t.Errorf("issuances = %d; want 2", got)
	}
}

func TestKISIssuanceIntervalIsKept(t *testing.T) {
	r := newRig(t)
	app := brokersim.DemoKISMock
	var waits atomic.Int64
	m := r.manager(t, app, func(c *kauth.Config) {
		c.OnEvent = func(ev kauth.Event) {
			if ev.Kind == kauth.EventWaiting && ev.Duration > 0 {
				waits.Add(1)
			}
		}
	})
	ctx := context.Background()
	tok, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The broker rejects the token 10 s later; a new one may be issued only
	// after the minute is out, and the Manager waits for it (on the virtual
	// clock) rather than earning EGW00133.
	r.sim.Advance(10 * time.Second)
	r.sim.InvalidateToken(tok.AccessToken)
	at := r.sim.Now()
	m.Invalidate(tok.AccessToken)
	fresh, err := m.Token(ctx)
	if err != nil {
		t.Fatalf("Token() after Invalidate = %v", err)
	}
	if fresh.AccessToken == tok.AccessToken {
		t.Fatal("Token() after Invalidate returned the rejected token")
	}
	if waited := r.sim.Now().Sub(at); waited < 50*time.Second {
		t.Errorf("waited %v before re-issuing; want the rest of KIS's minute", waited)
	}
	if st := r.sim.Stats(); st.Rejected != 0 {
		t.Errorf("simulator answered %d errors; want 0 (no EGW00133)", st.Rejected)
	}
	if waits.Load() != 1 {
		t.Errorf("waiting events = %d; want 1", waits.Load())
	}
}

func TestRateLimitAnswerIsWaitedOut(t *testing.T) {
	r := newRig(t)
	app := brokersim.DemoKISReal
	r.sim.Inject(brokersim.Fault{Broker: app.Broker, Env: app.Env, Path: "/oauth2/tokenP", Kind: brokersim.RateLimit})
	m := r.manager(t, app)
	start := r.sim.Now()
	tok, err := m.Token(context.Background())
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("Token() = %v, %v; want a token after waiting out EGW00133", tok, err)
	}
	if waited := r.sim.Now().Sub(start); waited < time.Minute {
		t.Errorf("retried after %v; want at least a minute after EGW00133", waited)
	}
	if got := r.issued(app); got != 1 {
		t.Errorf("issuances = %d; want 1", got)
	}
}

func TestBadCredentialsStopAtOnce(t *testing.T) {
	for _, app := range []brokersim.App{brokersim.DemoKISMock, brokersim.DemoKiwoomMock} {
		t.Run(app.String(), func(t *testing.T) {
			r := newRig(t)
			bad := app
			bad.Secret = "wrong-" + app.Secret[:10]
			var failures atomic.Int64
			m := r.manager(t, bad, func(c *kauth.Config) {
				c.OnEvent = func(ev kauth.Event) {
					if ev.Kind == kauth.EventFailed {
						failures.Add(1)
					}
				}
			})
			ctx := context.Background()
			before := r.sim.Stats().Requests
			for range 50 {
				_, err := m.Token(ctx)
				if !errors.Is(err, kauth.ErrCredentials) {
					t.Fatalf("Token() = %v; want ErrCredentials", err)
				}
				if strings.Contains(err.Error(), bad.Secret) || strings.Contains(err.Error(), bad.AppKey) {
					t.Fatalf("error %q reveals a credential", err)
				}
			}
			if calls := r.sim.Stats().Requests - before; calls != 1 {
				t.Errorf("upstream calls for 50 Token() calls with bad credentials = %d; want 1", calls)
			}
			if failures.Load() != 1 {
				t.Errorf("failed events = %d; want 1", failures.Load())
			}
		})
	}
}

func TestFaultsAreRetried(t *testing.T) {
	faults := []brokersim.Fault{
		{Kind: brokersim.ServerError, Count: 2},
		{Kind: brokersim.ServerError, Status: 502, Count: 1},
		{Kind: brokersim.Reset, Count: 2},
		{Kind: brokersim.MalformedJSON, Count: 1},
		{Kind: brokersim.HTMLPage, Count: 1},
		{Kind: brokersim.Latency, Delay: 50 * time.Millisecond, Count: 1},
		{Kind: brokersim.RateLimit, Count: 1},
	}
	for _, app := range []brokersim.App{brokersim.DemoKISMock, brokersim.DemoKiwoomMock} {
		for _, f := range faults {
			t.Run(app.String()+"/"+f.Kind.String(), func(t *testing.T) {
				r := newRig(t)
				f.Broker, f.Env = app.Broker, app.Env
				r.sim.Inject(f)
				m := r.manager(t, app)
				tok, err := m.Token(context.Background())
				if err != nil || !tok.Valid(r.sim.Now()) {
					t.Fatalf("Token() = %v, %v; want a token after the fault", tok, err)
				}
				if got := r.issued(app); got != 1 {
					t.Errorf("issuances = %d; want 1", got)
				}
			})
		}
	}
}

func TestHangIsBoundedByCallerContext(t *testing.T) {
	r := newRig(t)
	app := brokersim.DemoKiwoomMock
	r.sim.Inject(brokersim.Fault{Broker: app.Broker, Env: app.Env, Kind: brokersim.Hang, Count: 1})
	m := r.manager(t, app, func(c *kauth.Config) {
		c.IssueTimeout = 5 * time.Second
		c.AttemptTimeout = 300 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := m.Token(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Token() with a hung broker = %v; want the caller's deadline", err)
	}
	// The shared issuance goes on without the caller: the hung attempt times
	// out and is retried, and the next caller gets a token.
	tok, err := m.Token(context.Background())
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("Token() after the hang = %v, %v", tok, err)
	}
}

func TestUnavailableGivesUpWithTypedError(t *testing.T) {
	r := newRig(t)
	app := brokersim.DemoKISMock
	r.sim.Inject(brokersim.Fault{Broker: app.Broker, Env: app.Env, Kind: brokersim.ServerError, Count: 1000})
	m := r.manager(t, app, func(c *kauth.Config) { c.IssueTimeout = 200 * time.Millisecond })
	_, err := m.Token(context.Background())
	if !errors.Is(err, kauth.ErrUnavailable) {
		t.Fatalf("Token() = %v; want ErrUnavailable", err)
	}
	var kerr *kauth.Error
	if !errors.As(err, &kerr) || kerr.Broker != kauth.KIS || kerr.Env != kauth.Mock {
		t.Errorf("error %v does not name the broker and env", err)
	}
}

func TestTransportHealsRejectedToken(t *testing.T) {
	for _, app := range []brokersim.App{brokersim.DemoKISReal, brokersim.DemoKiwoomReal} {
		t.Run(app.String(), func(t *testing.T) {
			r := newRig(t)
			m := r.manager(t, app)
			client := &http.Client{Transport: &kauth.Transport{Manager: m, Base: r.ts.Client().Transport}}
			first := protectedCall(t, client, r.ts.URL, app)
			if !first.ok {
				t.Fatalf("protected call = %s; want success", first.body)
			}
			tok, _ := m.Cached()
			r.sim.InvalidateToken(tok.AccessToken) // revoked behind our back
			second := protectedCall(t, client, r.ts.URL, app)
			if !second.ok {
				t.Fatalf("protected call after the token was revoked = %s; want a transparent retry", second.body)
			}
			if fresh, _ := m.Cached(); fresh.AccessToken == tok.AccessToken {
				t.Error("the rejected token is still cached")
			}
			if got := r.issued(app); got != 2 {
				t.Errorf("issuances = %d; want 2", got)
			}
		})
	}
}

func TestRejectedTokenHandedBackStops(t *testing.T) {
	r := newRig(t)
	r.sim.ReissueInvalidated = true
	app := brokersim.DemoKISMock
	m := r.manager(t, app)
	client := &http.Client{Transport: &kauth.Transport{Manager: m, Base: r.ts.Client().Transport}}
	if res := protectedCall(t, client, r.ts.URL, app); !res.ok {
		t.Fatalf("protected call = %s", res.body)
	}
	tok, _ := m.Cached()
	r.sim.InvalidateToken(tok.AccessToken)
	before := r.sim.Stats().Requests
	req := newProtectedRequest(t, r.ts.URL, app)
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("protected call with a token the broker keeps re-issuing succeeded; want ErrTokenReturnedAgain")
	}
	if !errors.Is(err, kauth.ErrTokenReturnedAgain) {
		t.Fatalf("protected call = %v; want ErrTokenReturnedAgain", err)
	}
	// One failed call, one re-issue, no loop.
	if calls := r.sim.Stats().Requests - before; calls != 2 {
		t.Errorf("upstream calls = %d; want 2 (the rejected call and one re-issue)", calls)
	}
	// Callers right after get the same clear error without another call.
	if _, err := m.Token(context.Background()); !errors.Is(err, kauth.ErrTokenReturnedAgain) {
		t.Errorf("Token() right after = %v; want the remembered ErrTokenReturnedAgain", err)
	}
	if calls := r.sim.Stats().Requests - before; calls != 2 {
		t.Errorf("upstream calls = %d; want still 2", calls)
	}
	// Once the broker accepts the token again (the rejection was a glitch),
	// the Manager heals after the remembered failure expires.
	r.sim.ReissueInvalidated = false
	r.sim.Advance(2 * time.Minute)
	if res := protectedCall(t, client, r.ts.URL, app); !res.ok {
		t.Errorf("protected call after the glitch = %s; want success", res.body)
	}
}

func TestInvalidateLeavesNewerToken(t *testing.T) {
	r := newRig(t)
	app := brokersim.DemoKiwoomMock
	m := r.manager(t, app)
	ctx := context.Background()
	old, _ := m.Token(ctx)
	if !m.Invalidate(old.AccessToken) {
		t.Fatal("Invalidate(current) = false")
	}
	r.sim.InvalidateToken(old.AccessToken)
	fresh, err := m.Token(ctx)
	if err != nil || fresh.AccessToken == old.AccessToken {
		t.Fatalf("Token() = %v, %v", fresh, err)
	}
	// A late report about the old token must not throw the new one away.
	if m.Invalidate(old.AccessToken) {
		t.Error("Invalidate(old) dropped the newer token")
	}
	if got, _ := m.Token(ctx); got.AccessToken != fresh.AccessToken {
		t.Error("Token() changed after a stale Invalidate")
	}
	if got := r.issued(app); got != 2 {
		t.Errorf("issuances = %d; want 2", got)
	}
}

func TestRevoke(t *testing.T) {
	for _, app := range []brokersim.App{brokersim.DemoKISMock, brokersim.DemoKiwoomMock} {
		t.Run(app.String(), func(t *testing.T) {
			r := newRig(t)
			store := kauth.NewMemoryStore()
			m := r.manager(t, app, func(c *kauth.Config) { c.Store = store })
			ctx := context.Background()
			tok, _ := m.Token(ctx)
			if err := m.Revoke(ctx); err != nil {
				t.Fatalf("Revoke() = %v", err)
			}
			if st := r.sim.Stats(); st.Revoked != 1 {
				t.Errorf("revocations = %d; want 1", st.Revoked)
			}
			if _, ok := m.Cached(); ok {
				t.Error("token still cached after Revoke")
			}
			if e, err := store.Load(ctx, m.Key()); err != nil || e.Token.AccessToken != "" {
				t.Errorf("store after Revoke = %v, %v; want no token", e.Token, err)
			}
			r.sim.Advance(2 * time.Minute)
			fresh, err := m.Token(ctx)
			if err != nil || fresh.AccessToken == tok.AccessToken {
				t.Fatalf("Token() after Revoke = %v, %v; want a new token", fresh, err)
			}
		})
	}
}

func TestManagersShareStore(t *testing.T) {
	r := newRig(t)
	app := brokersim.DemoKISReal
	store := kauth.NewMemoryStore()
	a := r.manager(t, app, func(c *kauth.Config) { c.Store = store })
	b := r.manager(t, app, func(c *kauth.Config) { c.Store = store })
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, m := range []*kauth.Manager{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := m.Token(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ta, _ := a.Cached()
	tb, _ := b.Cached()
	if ta.AccessToken != tb.AccessToken {
		t.Error("two Managers on one store hold different tokens")
	}
	if got := r.issued(app); got != 1 {
		t.Errorf("issuances = %d; want 1", got)
	}
}

func TestRealAndMockAreSeparate(t *testing.T) {
	r := newRig(t)
	store := kauth.NewMemoryStore()
	ctx := context.Background()
	real := r.manager(t, brokersim.DemoKISReal, func(c *kauth.Config) { c.Store = store })
	// The same app key registered for mock must not share the real token.
	mockApp := brokersim.DemoKISReal
	mockApp.Env = kauth.Mock
	r.sim.Register(mockApp.Broker, mockApp.Env, mockApp.AppKey, mockApp.Secret)
	mock := r.manager(t, mockApp, func(c *kauth.Config) { c.Store = store })
	tr, err1 := real.Token(ctx)
	tm, err2 := mock.Token(ctx)
	if err1 != nil || err2 != nil || tr.AccessToken == tm.AccessToken {
		t.Fatalf("real and mock tokens: %v, %v, same=%v", err1, err2, tr.AccessToken == tm.AccessToken)
	}
}

func TestOAuth2TokenSource(t *testing.T) {
	r := newRig(t)
	m := r.manager(t, brokersim.DemoKiwoomMock)
	ts := m.TokenSource(context.Background())
	ot, err := ts.Token()
	if err != nil || !ot.Valid() || ot.TokenType != "Bearer" {
		t.Fatalf("TokenSource().Token() = %+v, %v", ot, err)
	}
	tok, _ := m.Cached()
	if ot.AccessToken != tok.AccessToken || !ot.Expiry.Equal(tok.ExpiresAt) {
		t.Error("oauth2 token differs from the Manager's")
	}
}

func TestNewManagerValidates(t *testing.T) {
	if _, err := kauth.NewManager(kauth.Config{Credentials: brokersim.DemoKISMock.Credentials()}); err == nil {
		t.Error("NewManager without a Provider = nil error")
	}
	if _, err := kauth.NewManager(kauth.Config{Provider: kis.New()}); err == nil {
		t.Error("NewManager without credentials = nil error")
	}
}

type callResult struct {
	ok   bool
	body string
}

func newProtectedRequest(t *testing.T, root string, app brokersim.App) *http.Request {
	t.Helper()
	base := brokersim.BaseURL(root, app.Broker, app.Env)
	var req *http.Request
	var err error
	if app.Broker == kauth.KIS {
		req, err = http.NewRequest("GET", base+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
		if err == nil {
			req.Header.Set("tr_id", "FHKST01010100")
			req.Header.Set("custtype", "P")
		}
	} else {
		req, err = http.NewRequest("POST", base+"/api/dostk/stkinfo", strings.NewReader(`{"stk_cd":"005930"}`))
		if err == nil {
			req.Header.Set("api-id", "ka10001")
			req.Header.Set("Content-Type", "application/json;charset=UTF-8")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func protectedCall(t *testing.T, client *http.Client, root string, app brokersim.App) callResult {
	t.Helper()
	resp, err := client.Do(newProtectedRequest(t, root, app))
	if err != nil {
		t.Fatalf("protected call: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	s := string(body)
	ok := resp.StatusCode == 200 && (strings.Contains(s, `"rt_cd":"0"`) || strings.Contains(s, `"return_code":0`))
	return callResult{ok: ok, body: s}
}

func jsonBody(s string) io.Reader { return strings.NewReader(s) }

// TestNilStoreSharedPerURL: Managers built twice for one app key in one
// Group share a token when they talk to the same broker URL, and not
// otherwise; a Manager of another Group shares nothing with them.
func TestNilStoreSharedPerURL(t *testing.T) {
	r1, r2 := newRig(t), newRig(t)
	app := brokersim.DemoKiwoomMock
	g := kauth.NewGroup()
	nilStore := func(c *kauth.Config) { c.Store, c.Group = nil, g }
	a := r1.manager(t, app, nilStore)
	b := r1.manager(t, app, nilStore)
	c := r2.manager(t, app, nilStore)
	ctx := context.Background()
	ta, _ := a.Token(ctx)
	tb, _ := b.Token(ctx)
	tc, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	calls := func(r *rig) int {
		c := r.sim.Stats().App(app.Broker, app.Env, app.AppKey)
		return c.Issued + c.Reissued
	}
	if ta.AccessToken != tb.AccessToken || calls(r1) != 1 {
		t.Errorf("two Managers on one URL: same token %v, calls to the token endpoint %d; want true, 1", ta.AccessToken == tb.AccessToken, calls(r1))
	}
	if tc.AccessToken == ta.AccessToken || r2.issued(app) != 1 {
		t.Errorf("a Manager on another URL reused the first URL's token")
	}
	// Another Group (and no Group at all) keeps a memory store of its own:
	// nothing is shared through the process.
	for _, other := range []*kauth.Group{kauth.NewGroup(), nil} {
		d := r1.manager(t, app, func(c *kauth.Config) { c.Store, c.Group = nil, other })
		before := calls(r1)
		if _, err := d.Token(ctx); err != nil {
			t.Fatal(err)
		}
		if calls(r1) != before+1 {
			t.Errorf("a Manager of another Group (%p) took the group's token without asking the broker", other)
		}
	}
}

// TestSystemClockFastPathExpires: with the system clock the fast path reads
// the wall clock on its own (wallNs); it must still stop serving a token
// once its time is up.
func TestSystemClockFastPathExpires(t *testing.T) {
	t.Parallel()
	sim := brokersim.New()
	sim.KiwoomTokenLifetime = 2 * time.Second
	ts := httptest.NewServer(sim)
	defer ts.Close()
	m, err := kauth.NewManager(kauth.Config{
		Credentials:  brokersim.DemoKiwoomMock.Credentials(),
		Provider:     &kiwoom.Provider{BaseURL: brokersim.BaseURL(ts.URL, kauth.Kiwoom, kauth.Mock)},
		Store:        kauth.NewMemoryStore(),
		RefreshAhead: -1,
		ExpiryMargin: 200 * time.Millisecond,
		Logger:       discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	first, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(first.ExpiresAt.Add(50 * time.Millisecond)) {
		asked := time.Now()
		tok, err := m.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken == first.AccessToken && !asked.Before(first.ExpiresAt) {
			t.Fatalf("Token() asked %v after the token's expiry served it", asked.Sub(first.ExpiresAt))
		}
		time.Sleep(time.Millisecond)
	}
	next, err := m.Token(ctx)
	if err != nil || next.AccessToken == first.AccessToken {
		t.Fatalf("Token() after expiry = %v, %v; want a new token", next, err)
	}
}

// skewed is a clock running behind the broker's by lag.
type skewed struct {
	vclock
	lag time.Duration
}

func (c skewed) Now() time.Time { return c.sim.Now().Add(-c.lag) }

// TestTransportHealsExpiredToken: the host's clock runs two hours behind
// the broker's, so kauth still thinks a token fresh when the broker already
// answers EGW00123 / 8005 (expired). The Transport retries once with a new
// token and the caller sees success.
func TestTransportHealsExpiredToken(t *testing.T) {
	for _, app := range []brokersim.App{brokersim.DemoKISReal, brokersim.DemoKiwoomReal} {
		t.Run(app.String(), func(t *testing.T) {
			r := newRig(t)
			m := r.manager(t, app, func(c *kauth.Config) { c.Clock = skewed{vclock{r.sim}, 2 * time.Hour} })
			client := &http.Client{Transport: &kauth.Transport{Manager: m, Base: r.ts.Client().Transport}}
			if res := protectedCall(t, client, r.ts.URL, app); !res.ok {
				t.Fatalf("protected call = %s", res.body)
			}
			old, _ := m.Cached()
			r.sim.Advance(24*time.Hour + time.Minute) // expired at the broker, not by our clock
			before := r.sim.Stats()
			res := protectedCall(t, client, r.ts.URL, app)
			if !res.ok {
				t.Fatalf("protected call with a token the broker considers expired = %s; want a transparent retry", res.body)
			}
			after := r.sim.Stats()
			if got := after.TokenRejected - before.TokenRejected; got != 1 {
				t.Errorf("rejected calls = %d; want 1 (the expired token, then the retry succeeds)", got)
			}
			if fresh, _ := m.Cached(); fresh.AccessToken == old.AccessToken {
				t.Error("the expired token is still cached")
			}
			if got := r.issued(app); got != 2 {
				t.Errorf("issuances = %d; want 2", got)
			}
		})
	}
}
