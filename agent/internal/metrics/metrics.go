// Package metrics holds the agent's Prometheus series: the token events
// of each account's Manager, the proxied requests and their rate-limit
// waits, the shared budgets' fallbacks, the build, and at scrape time each
// account's token expiry, requests in flight and identity. Each Metrics has
// its own registry, so that several agents in one process do not collide.
// Labels carry account names and app key fingerprints, never a secret.
//
// The series are written by internal/promtext, not Prometheus's Go client:
// every kauth command links this package, and the client's initialization
// cost each `kauth token` a few milliseconds at start. Their descriptions
// are made in New, not at package initialization, for the same reason.
package metrics

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/buildinfo"
	"github.com/kauth/kauth/internal/promtext"
)

// Metrics are one agent's Prometheus series. Create them with New.
type Metrics struct {
	reg  promtext.Registry
	kind func(error) string
	// failureKinds are kind's answers: the kind label values of the
	// failure counter, each at zero from the start.
	failureKinds []string

	// token holds each account's token and wait counters. They are plain
	// atomics read at scrape time rather than labelled children of
	// CounterVecs: an account has about twenty of them from its start,
	// and a child costs several hundred bytes (its label pairs, a created
	// timestamp, a map entry), about 10 KiB an account in all.
	token    *tokenCollector
	requests *promtext.CounterVec
	latency  *promtext.HistogramVec
	fallback *promtext.GaugeVec
}

// Account is what the scrape-time series say of one account configured
// now.
type Account struct {
	Name, Broker, Env string
	App               string // the app key's fingerprint
	InFlight          int64  // proxied requests being served
	// Expires is when its token expires; zero when it has none.
	Expires time.Time
}

// Config is what Metrics need of the agent.
type Config struct {
	// Kind names the kind of a failure to get a token, the kind label of
	// kauth_token_failures_total; FailureKinds are all its answers.
	Kind         func(error) string
	FailureKinds []string
	// Accounts returns the accounts configured now, at each scrape.
	Accounts func() []Account
	// Now is the clock of the token expiry series.
	Now func() time.Time
}

// New returns the series of an agent, registered with a registry of their
// own.
func New(c Config) *Metrics {
	m := &Metrics{
		kind:         c.Kind,
		failureKinds: c.FailureKinds,
		token:        newTokenCollector(c.FailureKinds),
		requests: promtext.NewCounterVec("kauth_proxy_requests_total",
			"Proxied requests by account and the HTTP status returned to the caller.",
			"account", "status"),
		latency: promtext.NewHistogramVec("kauth_proxy_request_duration_seconds",
			"Time from the end of the rate-limit wait to the end of the proxied response, for requests that reached the broker.",
			[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
			"account"),
		fallback: promtext.NewGaugeVec("kauth_budget_fallback",
			"1 while an app key's shared call budget cannot be reached and this agent paces on its own share of it (budget_share), else 0.",
			"app"),
	}
	bi := buildinfo.Get()
	build := promtext.NewDesc(promtext.GaugeType, "kauth_build_info", "Always 1; its labels name the running kauth build.",
		"version", "commit", "goversion")
	m.reg.Register(
		promtext.CollectorFunc(func(b *promtext.Batch) { b.Add(build, 1, bi.Version, bi.CommitLabel(), bi.GoVersion) }),
		m.token, m.requests, m.latency, m.fallback,
		newAccountCollector(c.Accounts, c.Now),
		promtext.NewGoCollector(),
		promtext.NewProcessCollector(),
	)
	return m
}

// Handler serves the series in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promtext.Handler(&m.reg)
}

// Register adds collectors of the agent's other parts to the registry.
func (m *Metrics) Register(cs ...promtext.Collector) {
	m.reg.Register(cs...)
}

// OnEvent counts a Manager event for account name.
func (m *Metrics) OnEvent(name string, ev kauth.Event) {
	a := m.token.account(name)
	if i, ok := eventIndex[ev.Kind]; ok {
		a.events[i].Add(1)
	} else {
		a.add(&a.otherEvents, string(ev.Kind), 1)
	}
	switch ev.Kind {
	case kauth.EventIssued:
		a.issuances.Add(1)
	case kauth.EventRefreshed:
		a.refreshes.Add(1)
	case kauth.EventFailed:
		k := m.kind(ev.Err)
		if i := slices.Index(m.failureKinds, k); i >= 0 {
			a.failures[i].Add(1)
		} else {
			a.add(&a.otherFailures, k, 1)
		}
	}
}

// eventKinds are the event label values of the token events counter.
var eventKinds = [...]kauth.EventKind{kauth.EventIssued, kauth.EventRefreshed, kauth.EventReused, kauth.EventInvalidated,
	kauth.EventRevoked, kauth.EventFailed, kauth.EventWaiting, kauth.EventStoreFailed}

var eventIndex = func() map[kauth.EventKind]int {
	ix := make(map[kauth.EventKind]int, len(eventKinds))
	for i, k := range eventKinds {
		ix[k] = i
	}
	return ix
}()

// Account starts the series of account name at zero: a counter that first
// appears at 1 is invisible to increase() and rate(), so an alert on the
// first failure would never fire.
func (m *Metrics) Account(name string) {
	m.token.account(name)
}

// BudgetFallback records whether the app key's shared budget is on this
// agent's local share.
func (m *Metrics) BudgetFallback(app string, on bool) {
	v := 0.0
	if on {
		v = 1
	}
	m.fallback.With(app).Set(v)
}

// Forget drops the series of a removed account.
func (m *Metrics) Forget(name string) {
	m.token.forget(name)
	m.requests.DeleteMatch("account", name)
	m.latency.DeleteMatch("account", name)
}

// Proxied counts a proxied request, and its broker latency if it reached
// the broker.
func (m *Metrics) Proxied(name string, status int, seconds float64, sent bool) {
	m.requests.With(name, strconv.Itoa(status)).Inc()
	if sent {
		m.latency.With(name).Observe(seconds)
	}
}

// Waited counts an upstream call that waited seconds for its app key's
// rate limit.
func (m *Metrics) Waited(name string, seconds float64) {
	a := m.token.account(name)
	a.waits.Add(1)
	for {
		old := a.waitSeconds.Load()
		if a.waitSeconds.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+seconds)) {
			return
		}
	}
}

// tokenCollector reports each account's token and wait counters.
type tokenCollector struct {
	failureKinds []string
	mu           sync.RWMutex
	accounts     map[string]*accountSeries

	events, issuances, refreshes, failures, waits, waitSeconds *promtext.Desc
}

// accountSeries are one account's counters.
type accountSeries struct {
	events    [len(eventKinds)]atomic.Uint64 // by eventIndex
	failures  []atomic.Uint64                // by the index in failureKinds
	issuances atomic.Uint64
	refreshes atomic.Uint64
	waits     atomic.Uint64
	// waitSeconds holds the float64 bits of the seconds waited.
	waitSeconds atomic.Uint64
	// otherEvents and otherFailures count the label values outside
	// eventKinds and failureKinds, guarded by tokenMu; nil until one is
	// seen.
	otherEvents, otherFailures map[string]float64
}

func newTokenCollector(failureKinds []string) *tokenCollector {
	counter := func(name, help string, labels ...string) *promtext.Desc {
		return promtext.NewDesc(promtext.CounterType, name, help, labels...)
	}
	return &tokenCollector{failureKinds: failureKinds, accounts: map[string]*accountSeries{},
		events: counter("kauth_token_events_total",
			"Token events by account and kind: issued, refreshed, reused, invalidated, revoked, failed.",
			"account", "event"),
		issuances: counter("kauth_token_issuances_total",
			"New tokens the broker minted where none was usable.",
			"account"),
		refreshes: counter("kauth_token_refreshes_total",
			"New tokens that replaced a still valid one ahead of its expiry.",
			"account"),
		failures: counter("kauth_token_failures_total",
			"Failures to get a token, by kind: credentials, token_rejected, token_returned_again, rate_limited, unavailable, bad_request, malformed_token, canceled, other.",
			"account", "kind"),
		waits: counter("kauth_proxy_ratelimit_waits_total",
			"Upstream calls that waited in line for the app key's rate limit.",
			"account"),
		waitSeconds: counter("kauth_proxy_ratelimit_wait_seconds_total",
			"Seconds upstream calls spent waiting for the app key's rate limit.",
			"account"),
	}
}

// account returns the counters of name, made at zero if it has none.
func (c *tokenCollector) account(name string) *accountSeries {
	c.mu.RLock()
	a := c.accounts[name]
	c.mu.RUnlock()
	if a != nil {
		return a
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a = c.accounts[name]; a == nil {
		a = &accountSeries{failures: make([]atomic.Uint64, len(c.failureKinds))}
		c.accounts[name] = a
	}
	return a
}

func (c *tokenCollector) forget(name string) {
	c.mu.Lock()
	delete(c.accounts, name)
	c.mu.Unlock()
}

// add adds v to (*m)[label] under tokenMu.
func (a *accountSeries) add(m *map[string]float64, label string, v float64) {
	tokenMu.Lock()
	defer tokenMu.Unlock()
	if *m == nil {
		*m = map[string]float64{}
	}
	(*m)[label] += v
}

// tokenMu guards the rare label values outside the known kinds.
var tokenMu sync.Mutex

func (c *tokenCollector) Collect(b *promtext.Batch) {
	c.mu.RLock()
	names := make([]string, 0, len(c.accounts))
	for name := range c.accounts {
		names = append(names, name)
	}
	c.mu.RUnlock()
	slices.Sort(names)
	for _, name := range names {
		c.mu.RLock()
		a := c.accounts[name]
		c.mu.RUnlock()
		if a == nil {
			continue
		}
		for i, k := range eventKinds {
			b.Add(c.events, float64(a.events[i].Load()), name, string(k))
		}
		for i, k := range c.failureKinds {
			b.Add(c.failures, float64(a.failures[i].Load()), name, k)
		}
		tokenMu.Lock()
		for k, v := range a.otherEvents {
			b.Add(c.events, v, name, k)
		}
		for k, v := range a.otherFailures {
			b.Add(c.failures, v, name, k)
		}
		tokenMu.Unlock()
		b.Add(c.issuances, float64(a.issuances.Load()), name)
		b.Add(c.refreshes, float64(a.refreshes.Load()), name)
		b.Add(c.waits, float64(a.waits.Load()), name)
		b.Add(c.waitSeconds, math.Float64frombits(a.waitSeconds.Load()), name)
	}
}

// accountCollector reports, at scrape time, one series per account that is
// configured now: its token's seconds to expiry and its identity.
type accountCollector struct {
	accounts               func() []Account
	now                    func() time.Time
	expiry, inFlight, info *promtext.Desc
}

func newAccountCollector(accounts func() []Account, now func() time.Time) *accountCollector {
	return &accountCollector{accounts: accounts, now: now,
		expiry: promtext.NewDesc(promtext.GaugeType, "kauth_token_expiry_seconds",
			"Seconds until the account's token expires; negative if it has expired, absent if there is none.",
			"account"),
		inFlight: promtext.NewDesc(promtext.GaugeType, "kauth_proxy_in_flight",
			"Proxied requests of the account being served now (bounded by max_in_flight).",
			"account"),
		info: promtext.NewDesc(promtext.GaugeType, "kauth_account_info",
			"Always 1; labels name each account's broker, env and app key fingerprint.",
			"account", "broker", "env", "app"),
	}
}

func (c *accountCollector) Collect(b *promtext.Batch) {
	now := c.now()
	for _, acct := range c.accounts() {
		b.Add(c.info, 1, acct.Name, acct.Broker, acct.Env, acct.App)
		b.Add(c.inFlight, float64(acct.InFlight), acct.Name)
		if !acct.Expires.IsZero() {
			b.Add(c.expiry, acct.Expires.Sub(now).Seconds(), acct.Name)
		}
	}
}
