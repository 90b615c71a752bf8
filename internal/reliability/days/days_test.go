package days_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/longtest"
	"github.com/kauth/kauth/internal/reliability"
	"github.com/kauth/kauth/internal/testlog"
)

// TestThirtyDays runs each broker through thirty virtual days with refresh
// ahead on and a process restart every ten minutes (a new Manager on a newly
// opened file store over the same directory, the old one closed), and holds
// the broker to one issuance per validity period and no rate-limit answer.
// The thirty days are a soak, CPU-bound (three brokers × 4,320 restarts):
// the default run goes through seven days (a week of restarts, every
// validity period's hand-over seven times), KAUTH_LONG=1 (and CI) through
// thirty.
func TestThirtyDays(t *testing.T) {
	days := 7
	if longtest.Enabled() || reliability.Soak() {
		days = 30
	}
	for _, tt := range []struct {
		app      brokersim.App
		lifetime time.Duration
	}{
		{brokersim.DemoKISReal, 0},
		{brokersim.DemoKiwoomReal, 0},
		{brokersim.DemoKiwoomMock, 20 * time.Hour}, // Kiwoom lifetimes vary (18-24 h)
		// Toss: every issuance kills the token before it, and there is no
		// mock.
		{brokersim.DemoTossReal, 0},
	} {
		t.Run(tt.app.String(), func(t *testing.T) {
			t.Parallel()
			var logs testlog.Buffer
			res, err := reliability.RunDays(context.Background(), reliability.DaysOptions{
				App:      tt.app,
				Days:     days,
				Lifetime: tt.lifetime,
				Dir:      filepath.Join(t.TempDir(), "cache"),
				Logger:   logs.Logger(),
			})
			if err != nil {
				t.Fatalf("RunDays() = %v", err)
			}
			t.Logf("%s: %v", tt.app, res)
			if res.Issued > res.MaxIssued() {
				t.Errorf("issued %d tokens in %d days; want at most %d (one per validity period)", res.Issued, days, res.MaxIssued())
			}
			if res.Issued < res.Periods {
				t.Errorf("issued %d tokens in %d days; want at least %d: a token cannot outlive its period", res.Issued, days, res.Periods)
			}
			if res.RateLimited != 0 || res.Rejected != 0 {
				t.Errorf("broker answered %d rate limits (EGW00133/1700) and %d errors; want 0", res.RateLimited, res.Rejected)
			}
			if res.Failures != 0 || res.Expired != 0 {
				t.Errorf("%d Token calls failed and %d returned an expired token; want 0", res.Failures, res.Expired)
			}
			if w := logs.Warnings(); len(w) > 0 {
				t.Errorf("%d warnings logged, first: %s", len(w), w[0])
			}
		})
	}
}
