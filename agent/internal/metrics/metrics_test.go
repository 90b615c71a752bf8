package metrics_test

import (
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/metrics"
	"github.com/kauth/kauth/internal/promtext"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// agentState is the accounts a test's Metrics report at scrape time.
type agentState struct {
	mu       sync.Mutex
	accounts []metrics.Account
}

func (s *agentState) list() []metrics.Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]metrics.Account(nil), s.accounts...)
}

func newMetrics(s *agentState) *metrics.Metrics {
	return metrics.New(metrics.Config{
		Kind: func(err error) string {
			if err.Error() == "bad secret" {
				return "credentials"
			}
			return "other"
		},
		FailureKinds: []string{"credentials", "other"},
		Accounts:     s.list,
		Now:          func() time.Time { return now },
	})
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	b, err := io.ReadAll(w.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func has(t *testing.T, m, series string, value string) {
	t.Helper()
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ` + regexp.QuoteMeta(value) + `$`).MatchString(m) {
		t.Errorf("the scrape lacks %s %s; its kauth_ lines:\n%s", series, value, kauthLines(m))
	}
}

func lacks(t *testing.T, m, substr string) {
	t.Helper()
	if strings.Contains(m, substr) {
		t.Errorf("the scrape still has %s:\n%s", substr, kauthLines(m))
	}
}

func kauthLines(m string) string {
	var out []string
	for _, l := range strings.Split(m, "\n") {
		if strings.HasPrefix(l, "kauth_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestAccountSeriesStartAtZero: a new account's counters are there at zero
// before anything happens, so that increase() sees the first failure.
func TestAccountSeriesStartAtZero(t *testing.T) {
	m := newMetrics(&agentState{})
	m.Account("kis-mock")
	s := scrape(t, m)
	for _, series := range []string{
		`kauth_token_issuances_total{account="kis-mock"}`,
		`kauth_token_refreshes_total{account="kis-mock"}`,
		`kauth_token_events_total{account="kis-mock",event="failed"}`,
		`kauth_token_events_total{account="kis-mock",event="issued"}`,
		`kauth_token_failures_total{account="kis-mock",kind="credentials"}`,
		`kauth_token_failures_total{account="kis-mock",kind="other"}`,
		`kauth_proxy_ratelimit_waits_total{account="kis-mock"}`,
		`kauth_proxy_ratelimit_wait_seconds_total{account="kis-mock"}`,
	} {
		has(t, s, series, "0")
	}
	if !regexp.MustCompile(`(?m)^kauth_build_info\{commit="[^"]+",goversion="go[^"]+",version="[^"]+"\} 1$`).MatchString(s) {
		t.Errorf("the scrape lacks kauth_build_info naming the build:\n%s", kauthLines(s))
	}
}

// TestEventsRequestsAndForget: the Manager's events, the proxied requests
// and the waits are counted by account, and a removed account's series
// go away while another's stay.
func TestEventsRequestsAndForget(t *testing.T) {
	m := newMetrics(&agentState{})
	m.Account("a")
	m.Account("b")
	m.OnEvent("a", kauth.Event{Kind: kauth.EventIssued})
	m.OnEvent("a", kauth.Event{Kind: kauth.EventRefreshed})
	m.OnEvent("a", kauth.Event{Kind: kauth.EventFailed, Err: errors.New("bad secret")})
	m.OnEvent("a", kauth.Event{Kind: kauth.EventFailed, Err: errors.New("strange")})
	m.Proxied("a", 200, 0.02, true)
	m.Proxied("a", 503, 0, false)
	m.Waited("a", 0.5)
	m.Waited("a", 0.25)
	m.BudgetFallback("app-fp", true)
	s := scrape(t, m)
	has(t, s, `kauth_token_issuances_total{account="a"}`, "1")
	has(t, s, `kauth_token_refreshes_total{account="a"}`, "1")
	has(t, s, `kauth_token_events_total{account="a",event="failed"}`, "2")
	has(t, s, `kauth_token_failures_total{account="a",kind="credentials"}`, "1")
	has(t, s, `kauth_token_failures_total{account="a",kind="other"}`, "1")
	has(t, s, `kauth_proxy_requests_total{account="a",status="200"}`, "1")
	has(t, s, `kauth_proxy_requests_total{account="a",status="503"}`, "1")
	has(t, s, `kauth_proxy_request_duration_seconds_count{account="a"}`, "1")
	has(t, s, `kauth_proxy_ratelimit_waits_total{account="a"}`, "2")
	has(t, s, `kauth_proxy_ratelimit_wait_seconds_total{account="a"}`, "0.75")
	has(t, s, `kauth_budget_fallback{app="app-fp"}`, "1")
	m.BudgetFallback("app-fp", false)
	m.Forget("a")
	s = scrape(t, m)
	lacks(t, s, `account="a"`)
	has(t, s, `kauth_token_issuances_total{account="b"}`, "0")
	has(t, s, `kauth_budget_fallback{app="app-fp"}`, "0")
}

// TestAccountsAtScrapeTime: identity, requests in flight and seconds to
// expiry are read from the accounts configured at each scrape; an account
// without a token has no expiry series, and a removed one none at all.
func TestAccountsAtScrapeTime(t *testing.T) {
	st := &agentState{accounts: []metrics.Account{
		{Name: "kis-mock", Broker: "kis", Env: "mock", App: "fp1", InFlight: 3, Expires: now.Add(90 * time.Second)},
		{Name: "ls-real", Broker: "ls", Env: "real", App: "fp2"},
	}}
	m := newMetrics(st)
	s := scrape(t, m)
	has(t, s, `kauth_account_info{account="kis-mock",app="fp1",broker="kis",env="mock"}`, "1")
	has(t, s, `kauth_account_info{account="ls-real",app="fp2",broker="ls",env="real"}`, "1")
	has(t, s, `kauth_proxy_in_flight{account="kis-mock"}`, "3")
	has(t, s, `kauth_token_expiry_seconds{account="kis-mock"}`, "90")
	lacks(t, s, `kauth_token_expiry_seconds{account="ls-real"}`)

	st.mu.Lock()
	st.accounts = st.accounts[1:]
	st.accounts[0].Expires = now.Add(-time.Second)
	st.mu.Unlock()
	s = scrape(t, m)
	lacks(t, s, `account="kis-mock"`)
	has(t, s, `kauth_token_expiry_seconds{account="ls-real"}`, "-1")
}

// TestRegister: another part's collector is served with the rest.
func TestRegister(t *testing.T) {
	m := newMetrics(&agentState{})
	d := promtext.NewDesc(promtext.GaugeType, "kauth_test_gauge", "A test gauge.")
	m.Register(promtext.CollectorFunc(func(b *promtext.Batch) { b.Add(d, 7) }))
	has(t, scrape(t, m), "kauth_test_gauge", "7")
}

// TestAccountSeriesAreSmall: an account's token and wait series, all at
// zero from its start, cost a few hundred bytes, not a labelled child per
// series (they were about 10 KiB an account: 50 MiB of an agent's heap at
// 5,000 accounts). The scrape still lists each of them.
func TestAccountSeriesAreSmall(t *testing.T) {
	const n = 2000
	m := newMetrics(&agentState{})
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("acct%05d", i)
	}
	before := heapInUse()
	for _, name := range names {
		m.Account(name)
	}
	per := (heapInUse() - before) / n
	runtime.KeepAlive(m)
	if per > 1024 {
		t.Errorf("each account's series take %d bytes of heap; want at most 1 KiB", per)
	}
	m.OnEvent(names[n-1], kauth.Event{Kind: kauth.EventIssued})
	s := scrape(t, m)
	has(t, s, `kauth_token_events_total{account="acct00000",event="store_failed"}`, "0")
	has(t, s, `kauth_token_issuances_total{account="acct01999"}`, "1")
	if got := strings.Count(s, "\nkauth_token_failures_total{"); got != 2*n {
		t.Errorf("the scrape has %d failure series; want %d (2 kinds × %d accounts)", got, 2*n, n)
	}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestHostileAccountNamesScrape: label values with quotes, backslashes,
// line feeds or bytes that are not UTF-8 are escaped (the bad bytes as
// U+FFFD) and the scrape parses. The config admits no such account name;
// the Go client panicked on the bytes that are not UTF-8.
func TestHostileAccountNamesScrape(t *testing.T) {
	m := newMetrics(&agentState{accounts: []metrics.Account{{Name: "bad\xff", Broker: "kis", Env: "mock", App: "fp\n1"}}})
	for _, name := range []string{"ok", "bad\xff", `q"uote`, `back\slash`, "two\nlines"} {
		m.Account(name)
		m.Proxied(name, 200, 0.01, true)
	}
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("GET /metrics = %d %.300s", w.Code, w.Body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}
	got := map[string]bool{}
	for _, s := range fams["kauth_token_issuances_total"].GetMetric() {
		got[s.GetLabel()[0].GetValue()] = true
	}
	for _, want := range []string{"ok", "bad\uFFFD", `q"uote`, `back\slash`, "two\nlines"} {
		if !got[want] {
			t.Errorf("no kauth_token_issuances_total for account %q; got %v", want, got)
		}
	}
	if info := fams["kauth_account_info"].GetMetric(); len(info) != 1 || info[0].GetLabel()[1].GetValue() != "fp\n1" {
		t.Errorf("kauth_account_info = %v", info)
	}
}
