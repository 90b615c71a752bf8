package bench_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/reliability"
)

// BenchmarkThirtyDays runs thirty virtual days with refresh ahead on and a
// process restart every ten minutes (see reliability.RunDays) and reports
// the issuances per app key. Target: at most one per validity period (KIS:
// <= 31 in 30 days) and 0 rate-limit answers (EGW00133).
func BenchmarkThirtyDays(b *testing.B) {
	for _, tt := range []struct {
		app      brokersim.App
		lifetime time.Duration
	}{
		{brokersim.DemoKISReal, 0},
		{brokersim.DemoKiwoomReal, 0},
		{brokersim.DemoKiwoomMock, 20 * time.Hour},
	} {
		name := fmt.Sprintf("%s/%s", tt.app.Broker, tt.app.Env)
		if tt.lifetime != 0 {
			name += "/lifetime=" + tt.lifetime.String()
		}
		b.Run(name, func(b *testing.B) {
			var res reliability.DaysResult
			for b.Loop() {
				var err error
				res, err = reliability.RunDays(context.Background(), reliability.DaysOptions{
					App: tt.app, Days: 30, Lifetime: tt.lifetime, Dir: filepath.Join(b.TempDir(), "cache"),
				})
				if err != nil {
					b.Fatal(err)
				}
				if res.Issued > res.MaxIssued() || res.RateLimited != 0 || res.Failures != 0 || res.Expired != 0 {
					b.Errorf("target missed: %v", res)
				}
			}
			b.Logf("%s: %v", tt.app, res)
			b.ReportMetric(float64(res.Issued), "issued")
			b.ReportMetric(float64(res.MaxIssued()), "max-issued")
			b.ReportMetric(float64(res.Reissued), "reissued")
			b.ReportMetric(float64(res.RateLimited), "rate-limited")
			b.ReportMetric(float64(res.Restarts), "restarts")
		})
	}
}
