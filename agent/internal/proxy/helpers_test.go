package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kis"
	"github.com/kauth/kauth/kiwoom"
)

// testAccount is an account as the agent hands it to the proxy: a real
// Manager of a simulator's app.
type testAccount struct {
	name       string
	creds      kauth.Credentials
	mgr        *kauth.Manager
	pace       Pacing
	revokePass bool
}

func (a *testAccount) Name() string                   { return a.name }
func (a *testAccount) Credentials() kauth.Credentials { return a.creds }
func (a *testAccount) Manager() *kauth.Manager        { return a.mgr }
func (a *testAccount) Pacing() Pacing                 { return a.pace }
func (a *testAccount) RevokePass() bool               { return a.revokePass }

type principalKey struct{}

// testHost serves a fixed set of accounts: the agent key opens them all,
// a client key those it lists. It counts the accounts opened and not yet
// done, which must be none once a request is answered.
type testHost struct {
	agentKey string
	clients  map[string][]string // client key → the accounts it may use
	relays   map[string]*Relay
	open     atomic.Int64
	ixOnce   sync.Once
	ix       *Index
	upgrades atomic.Int64 // port upgrades marked for the gateway's check
}

func (h *testHost) may(key, name string) bool {
	if key == h.agentKey {
		return true
	}
	accs, ok := h.clients[key]
	return ok && slices.Contains(accs, name)
}

func (h *testHost) Authorize(r *http.Request, key string) *http.Request {
	if key != h.agentKey && h.clients[key] == nil {
		return nil
	}
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, key))
}

func (h *testHost) Open(w http.ResponseWriter, r *http.Request, name string) *Relay {
	key, _ := r.Context().Value(principalKey{}).(string)
	if key != "" && !h.may(key, name) {
		testAPI{}.Error(w, http.StatusForbidden, "forbidden_account", "may not use "+name)
		return nil
	}
	rl := h.Lookup(name)
	if rl == nil {
		testAPI{}.Error(w, http.StatusNotFound, "not_found", "no account "+name)
	}
	return rl
}

func (h *testHost) Lookup(name string) *Relay {
	rl := h.relays[name]
	if rl != nil {
		h.open.Add(1)
	}
	return rl
}

func (h *testHost) Release(rl *Relay) {
	if h.open.Add(-1) < 0 {
		panic("an account released more often than opened")
	}
}

func (h *testHost) Index() *Index {
	h.ixOnce.Do(func() {
		var accts []Account
		for _, rl := range h.relays {
			accts = append(accts, rl.Account())
		}
		h.ix = NewIndex(accts)
	})
	return h.ix
}

func (h *testHost) AgentKey() (string, error) { return h.agentKey, nil }
func (h *testHost) May(key, name string) bool { return h.may(key, name) }
func (h *testHost) Upgrade(r *http.Request, name string) *http.Request {
	h.upgrades.Add(1)
	return r
}

// testAPI answers as the agent's API does: {"error", "code"}.
type testAPI struct{}

func (testAPI) JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (a testAPI) Error(w http.ResponseWriter, status int, code, msg string) {
	a.JSON(w, status, map[string]string{"error": msg, "code": code})
}

func (a testAPI) KauthError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadGateway
	if kind(err) == "rate_limited" {
		status = http.StatusServiceUnavailable
	}
	a.Error(w, status, kind(err), err.Error())
}

func kind(err error) string {
	var ke *kauth.Error
	switch {
	case err == nil:
		return ""
	case errorsAs(err, &ke) && ke.Kind == kauth.ErrUnavailable:
		return "unavailable"
	case errorsAs(err, &ke) && ke.Kind == kauth.ErrRateLimited:
		return "rate_limited"
	case errorsAs(err, &ke) && ke.Kind == kauth.ErrCredentials:
		return "credentials"
	}
	return "other"
}

// testMetrics records what the proxy reports.
type testMetrics struct {
	mu      sync.Mutex
	proxied []int // statuses
	sent    int
	waits   int
}

func (m *testMetrics) Proxied(account string, status int, seconds float64, sent bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.proxied = append(m.proxied, status)
	if sent {
		m.sent++
	}
}

func (m *testMetrics) Waited(account string, seconds float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.waits++
}

// testRealtime is the gateway's side the facade reaches: approval keys
// from the broker's own approval Manager, and the WebSocket clients it
// was handed.
type testRealtime struct {
	store    kauth.Store
	mu       sync.Mutex
	managers map[string]*kauth.Manager
	served   []string // accounts whose WebSocket clients it served
}

func (g *testRealtime) Serve(w http.ResponseWriter, r *http.Request, acct Account) {
	g.mu.Lock()
	g.served = append(g.served, acct.Name())
	g.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (g *testRealtime) ApprovalManager(acct Account) (*kauth.Manager, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m := g.managers[acct.Name()]; m != nil {
		return m, nil
	}
	p, ok := acct.Manager().Provider().(*kis.Provider)
	if !ok {
		return nil, &kauth.Error{Broker: acct.Credentials().Broker, Op: "approval", Kind: kauth.ErrBadRequest}
	}
	m, err := kis.NewApprovalManager(p, kauth.Config{Credentials: acct.Credentials(), Store: g.store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	g.managers[acct.Name()] = m
	return m, nil
}

// env is a Proxy serving three accounts of a simulator: kis-mock,
// kis-real and kiwoom-mock.
type env struct {
	t       *testing.T
	sim     *brokersim.Server
	simURL  string
	p       *Proxy
	host    *testHost
	metrics *testMetrics
	rt      *testRealtime
	logs    *bytes.Buffer
	limits  Limits
	accts   map[string]*testAccount
	// now is the proxy's clock (Config.Now); tune may replace it.
	now func() time.Time
}

const testAgentKey = "agentkey-0123456789abcdef0123456789abcdef"

func newEnv(t *testing.T, tune func(*env)) *env {
	t.Helper()
	e := &env{t: t, sim: brokersim.New(), metrics: &testMetrics{}, logs: new(bytes.Buffer),
		limits: Limits{MaxInFlight: 64, MaxBody: 1 << 20, BodyTimeout: 5 * time.Second},
		accts:  map[string]*testAccount{}, now: time.Now}
	e.sim.KISMockCallsPerSecond = 100
	srv := httptest.NewServer(e.sim)
	t.Cleanup(srv.Close)
	e.simURL = srv.URL
	store := kauth.NewMemoryStore()
	e.rt = &testRealtime{store: store, managers: map[string]*kauth.Manager{}}
	t.Cleanup(func() {
		for _, m := range e.rt.managers {
			m.Close()
		}
	})
	e.host = &testHost{agentKey: testAgentKey, clients: map[string][]string{"clientkey-kis-only": {"kis-mock"}}, relays: map[string]*Relay{}}
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.p = New(Config{
		Upstream: srv.Client().Transport,
		Log:      log,
		Metrics:  e.metrics,
		API:      testAPI{},
		Limits:   func() Limits { return e.limits },
		Kind:     kind,
		Client:   func(r *http.Request) string { return "conn" },
		Now:      func() time.Time { return e.now() },
		Host:     e.host,
		Realtime: e.rt,
	})
	for _, spec := range []struct {
		name string
		app  brokersim.App
		prov kauth.Provider
	}{
		{"kis-mock", brokersim.DemoKISMock, &kis.Provider{BaseURL: brokersim.BaseURL(srv.URL, kauth.KIS, kauth.Mock), HTTPClient: srv.Client()}},
		{"kis-real", brokersim.DemoKISReal, &kis.Provider{BaseURL: brokersim.BaseURL(srv.URL, kauth.KIS, kauth.Real), HTTPClient: srv.Client()}},
		{"kiwoom-mock", brokersim.DemoKiwoomMock, &kiwoom.Provider{BaseURL: brokersim.BaseURL(srv.URL, kauth.Kiwoom, kauth.Mock), HTTPClient: srv.Client()}},
	} {
		creds := spec.app.Credentials()
		mgr, err := kauth.NewManager(kauth.Config{Credentials: creds, Provider: spec.prov, Store: store, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mgr.Close() })
		acct := &testAccount{name: spec.name, creds: creds, mgr: mgr, pace: Pacing{Limiter: rate.NewLimiter(rate.Inf, 1)}}
		e.accts[spec.name] = acct
		base, _ := url.Parse(brokersim.BaseURL(srv.URL, creds.Broker, creds.Env))
		e.host.relays[spec.name] = e.p.Relay(acct, base)
	}
	if tune != nil {
		tune(e)
	}
	t.Cleanup(func() {
		if n := e.host.open.Load(); n != 0 {
			t.Errorf("%d accounts still opened after the requests were answered", n)
		}
		for _, app := range []brokersim.App{brokersim.DemoKISMock, brokersim.DemoKISReal, brokersim.DemoKiwoomMock} {
			if strings.Contains(e.logs.String(), app.Secret) || strings.Contains(e.logs.String(), app.AppKey) {
				t.Errorf("the logs hold a credential of %s", app)
			}
		}
	})
	return e
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) field(t *testing.T, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %s", a.status, a.body)
	}
	s, _ := m[name].(string)
	return s
}

// do serves one request through h.
func do(h http.Handler, method, target string, body string, hdr http.Header) answer {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	for k, vs := range hdr {
		r.Header[k] = vs
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return answer{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

func (e *env) proxy(method, target, body string, hdr http.Header) answer {
	return do(http.HandlerFunc(e.p.ServeProxy), method, target, body, hdr)
}

func (e *env) facade(method, target, body string, hdr http.Header) answer {
	return do(http.HandlerFunc(e.p.ServeFacade), method, target, body, hdr)
}

const kisPrice = "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930"

func errorsAs(err error, target any) bool { return errors.As(err, target) }
