package reliability_test

import (
	"path/filepath"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/reliability"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/store/file"
)

// TestGoroutineStorm: 10,000 goroutines on a cold Manager over the file
// store share one issuance.
func TestGoroutineStorm(t *testing.T) {
	for _, app := range []brokersim.App{brokersim.DemoKISReal, brokersim.DemoKiwoomReal, brokersim.DemoTossReal} {
		t.Run(app.String(), func(t *testing.T) {
			rig := reliability.NewRig(nil)
			defer rig.Close()
			st, err := file.New(filepath.Join(t.TempDir(), "cache"), file.WithLogger(reliability.DiscardLogger()))
			if err != nil {
				t.Fatal(err)
			}
			m, err := kauth.NewManager(kauth.Config{
				Credentials: app.Credentials(),
				Provider:    rig.Provider(app.Broker, app.Env, nil),
				Store:       st,
				Logger:      reliability.DiscardLogger(),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			n, err, wall := reliability.GoroutineStorm(m, 10000)
			if err != nil || n != 1 {
				t.Fatalf("10000 callers got %d distinct tokens, error %v; want 1 token, no error", n, err)
			}
			if got := rig.Sim.Issued(app.Broker, app.Env, app.AppKey); got != 1 {
				t.Errorf("issuances = %d; want 1", got)
			}
			if got := rig.IssueCalls(app.Broker); got != 1 {
				t.Errorf("token requests = %d; want 1", got)
			}
			t.Logf("10000 goroutines: 1 issuance in %v", wall)
		})
	}
}

// TestProcessStormFileStore: 16 processes start at once on one file store
// and share one issuance.
func TestProcessStormFileStore(t *testing.T) {
	processStorm(t, 16, false)
}

// TestProcessStormRedis: 4 processes start at once on one Redis store and
// share one issuance.
func TestProcessStormRedis(t *testing.T) {
	testredis.URL(t) // skip (or fail under CI=true) without Redis
	processStorm(t, 4, true)
}

func processStorm(t *testing.T, n int, useRedis bool) {
	for _, app := range []brokersim.App{brokersim.DemoKISMock, brokersim.DemoKiwoomMock, brokersim.DemoTossReal} {
		t.Run(app.String(), func(t *testing.T) {
			rig := reliability.NewRig(nil)
			defer rig.Close()
			var url, prefix string
			if useRedis {
				url, prefix = testredis.URL(t), testredis.Prefix(t)
			}
			env := reliability.StormEnv(rig, app, reliability.NewStoreKey(), filepath.Join(t.TempDir(), "cache"), url, prefix)
			res, err := reliability.ProcessStorm(n, env)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Fingerprints) != 1 {
				t.Errorf("%d processes got %d distinct tokens %v; want 1", n, len(res.Fingerprints), res.Fingerprints)
			}
			if got := rig.Sim.Issued(app.Broker, app.Env, app.AppKey); got != 1 {
				t.Errorf("issuances = %d; want 1", got)
			}
			if got := rig.IssueCalls(app.Broker); got != 1 {
				t.Errorf("token requests = %d; want 1", got)
			}
			t.Logf("%d processes: 1 issuance; storm %v after %v of start-up", n, res.Wall, res.Startup)
		})
	}
}
