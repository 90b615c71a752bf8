package metrics_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/metrics"
)

// BenchmarkScrape1000Accounts: one GET /metrics of an agent with 1,000
// accounts, each with its token counters, a proxied request of two
// statuses and their latency, and its scrape-time series (about 38,000
// lines), without and with gzip.
func BenchmarkScrape1000Accounts(b *testing.B) {
	const n = 1000
	st := &agentState{}
	m := newMetrics(st)
	for i := range n {
		name := fmt.Sprintf("acct%04d", i)
		m.Account(name)
		m.OnEvent(name, kauth.Event{Kind: kauth.EventIssued})
		m.Proxied(name, 200, 0.03, true)
		m.Proxied(name, 429, 0.01, true)
		m.Waited(name, 0.2)
		st.accounts = append(st.accounts, metrics.Account{Name: name, Broker: "kis", Env: "real", App: fmt.Sprintf("%012x", i),
			InFlight: 1, Expires: now.Add(time.Hour)})
	}
	for _, enc := range []string{"identity", "gzip"} {
		b.Run(enc, func(b *testing.B) {
			h := m.Handler()
			var size int
			for b.Loop() {
				w := httptest.NewRecorder()
				r := httptest.NewRequest("GET", "/metrics", nil)
				r.Header.Set("Accept-Encoding", enc)
				h.ServeHTTP(w, r)
				size = w.Body.Len()
				io.Copy(io.Discard, w.Body)
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}
