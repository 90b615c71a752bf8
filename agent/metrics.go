package agent

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/buildinfo"
)

// metrics are the agent's Prometheus series. Each Agent has its own
// registry, so that several agents in one process (tests) do not collide.
// Labels carry account names and app key fingerprints, never a secret.
type metrics struct {
	reg *prometheus.Registry

	events      *prometheus.CounterVec
	issuances   *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	failures    *prometheus.CounterVec
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	waits       *prometheus.CounterVec
	waitSeconds *prometheus.CounterVec
	fallback    *prometheus.GaugeVec
}

func newMetrics(a *Agent) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kauth_token_events_total",
			Help: "Token events by account and kind: issued, refreshed, reused, invalidated, revoked, failed.",
		}, []string{"account", "event"}),
		issuances: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kauth_token_issuances_total",
			Help: "New tokens the broker minted where none was usable.",
		}, []string{"account"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kauth_token_refreshes_total",
			Help: "New tokens that replaced a still valid one ahead of its expiry.",
		}, []string{"account"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kauth_token_failures_total",
			Help: "Failures to get a token, by kind: credentials, token_rejected, token_returned_again, rate_limited, unavailable, bad_request, malformed_token, canceled, other.",
		}, []string{"account", "kind"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kauth_proxy_requests_total",
			Help: "Proxied requests by account and the HTTP status returned to the caller.",
		}, []string{"account", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kauth_proxy_request_duration_seconds",
			Help:    "Time from the end of the rate-limit wait to the end of the proxied response, for requests that reached the broker.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"account"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kauth_proxy_ratelimit_waits_total",
			Help: "Upstream calls that waited in line for the app key's rate limit.",
		}, []string{"account"}),
		fallback: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kauth_budget_fallback",
			Help: "1 while an app key's shared call budget cannot be reached and this agent paces on its own share of it (budget_share), else 0.",
		}, []string{"app"}),
		waitSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kauth_proxy_ratelimit_wait_seconds_total",
			Help: "Seconds upstream calls spent waiting for the app key's rate limit.",
		}, []string{"account"}),
	}
	bi := buildinfo.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "kauth_build_info",
		Help:        "Always 1; its labels name the running kauth build.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "commit": bi.CommitLabel(), "goversion": bi.GoVersion},
	})
	build.Set(1)
	m.reg.MustRegister(build, m.events, m.issuances, m.refreshes, m.failures, m.requests, m.latency, m.waits, m.waitSeconds, m.fallback,
		&accountCollector{a: a},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// onEvent counts a Manager event for account name.
func (m *metrics) onEvent(name string, ev kauth.Event) {
	m.events.WithLabelValues(name, string(ev.Kind)).Inc()
	switch ev.Kind {
	case kauth.EventIssued:
		m.issuances.WithLabelValues(name).Inc()
	case kauth.EventRefreshed:
		m.refreshes.WithLabelValues(name).Inc()
	case kauth.EventFailed:
		m.failures.WithLabelValues(name, errorKind(ev.Err)).Inc()
	}
}

// eventKinds and failureKinds are the label values of the token counters;
// failureKinds are errorKind's answers.
var (
	eventKinds = []kauth.EventKind{kauth.EventIssued, kauth.EventRefreshed, kauth.EventReused, kauth.EventInvalidated,
		kauth.EventRevoked, kauth.EventFailed, kauth.EventWaiting, kauth.EventStoreFailed}
	failureKinds = []string{"credentials", "token_rejected", "token_returned_again", "rate_limited", "unavailable",
		"bad_request", "malformed_token", "canceled", "other"}
)

// account starts the series of account name at zero: a counter that first
// appears at 1 is invisible to increase() and rate(), so an alert on the
// first failure would never fire.
func (m *metrics) account(name string) {
	for _, k := range eventKinds {
		m.events.WithLabelValues(name, string(k))
	}
	for _, k := range failureKinds {
		m.failures.WithLabelValues(name, k)
	}
	for _, v := range []*prometheus.CounterVec{m.issuances, m.refreshes, m.waits, m.waitSeconds} {
		v.WithLabelValues(name)
	}
}

// forget drops the series of a removed account.
// budgetFallback records whether the app key's shared budget is on this
// agent's local share.
func (m *metrics) budgetFallback(app string, on bool) {
	v := 0.0
	if on {
		v = 1
	}
	m.fallback.WithLabelValues(app).Set(v)
}

func (m *metrics) forget(name string) {
	l := prometheus.Labels{"account": name}
	for _, v := range []*prometheus.CounterVec{m.events, m.issuances, m.refreshes, m.failures, m.requests, m.waits, m.waitSeconds} {
		v.DeletePartialMatch(l)
	}
	m.latency.DeletePartialMatch(l)
}

// proxied counts a proxied request, and its broker latency if it reached
// the broker.
func (m *metrics) proxied(name string, status int, seconds float64, sent bool) {
	m.requests.WithLabelValues(name, strconv.Itoa(status)).Inc()
	if sent {
		m.latency.WithLabelValues(name).Observe(seconds)
	}
}

func (m *metrics) waited(name string, seconds float64) {
	m.waits.WithLabelValues(name).Inc()
	m.waitSeconds.WithLabelValues(name).Add(seconds)
}

// errorKind names the kauth error kind of err for metrics and API codes.
func errorKind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, kauth.ErrCredentials):
		return "credentials"
	case errors.Is(err, kauth.ErrTokenReturnedAgain):
		return "token_returned_again"
	case errors.Is(err, kauth.ErrTokenRejected):
		return "token_rejected"
	case errors.Is(err, kauth.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, kauth.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, kauth.ErrBadRequest):
		return "bad_request"
	case errors.Is(err, kauth.ErrMalformedToken):
		return "malformed_token"
	case errors.Is(err, errCanceled):
		return "canceled"
	}
	return "other"
}

// accountCollector reports, at scrape time, one series per account that is
// configured now: its token's seconds to expiry and its identity.
type accountCollector struct{ a *Agent }

var (
	expiryDesc = prometheus.NewDesc("kauth_token_expiry_seconds",
		"Seconds until the account's token expires; negative if it has expired, absent if there is none.",
		[]string{"account"}, nil)
	inFlightDesc = prometheus.NewDesc("kauth_proxy_in_flight",
		"Proxied requests of the account being served now (bounded by max_in_flight).",
		[]string{"account"}, nil)
	infoDesc = prometheus.NewDesc("kauth_account_info",
		"Always 1; labels name each account's broker, env and app key fingerprint.",
		[]string{"account", "broker", "env", "app"}, nil)
)

func (c *accountCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- expiryDesc
	ch <- inFlightDesc
	ch <- infoDesc
}

func (c *accountCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.a.clock.Now()
	for _, acct := range c.a.snapshot() {
		ch <- prometheus.MustNewConstMetric(infoDesc, prometheus.GaugeValue, 1,
			acct.name, string(acct.creds.Broker), string(acct.creds.Env), acct.creds.Fingerprint())
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(acct.inFlight.Load()), acct.name)
		if tok, _ := acct.mgr.Cached(); tok.AccessToken != "" {
			ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, tok.ExpiresAt.Sub(now).Seconds(), acct.name)
		}
	}
}
