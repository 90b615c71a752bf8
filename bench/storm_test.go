package bench_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/reliability"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/store/file"
)

// BenchmarkColdStorm starts many callers at once on a cold cache and counts
// the issuances at the simulator: 10,000 goroutines on one Manager over the
// file store, 16 processes on one file store, 4 processes on one Redis
// store. Target: exactly 1 issuance each. ns/op is the wall time of one
// whole storm (processes: including their start-up); storm-ms is the time
// from the release of the callers to the last token, issuances/op the
// count at the simulator. Run with -benchtime 1x (or a few x).
func BenchmarkColdStorm(b *testing.B) {
	b.Run("goroutines=10000/file", func(b *testing.B) {
		app := brokersim.DemoKISReal
		var issued, storm float64
		for b.Loop() {
			rig := reliability.NewRig(nil)
			st, err := file.New(filepath.Join(b.TempDir(), "cache"), file.WithLogger(reliability.DiscardLogger()))
			if err != nil {
				b.Fatal(err)
			}
			m, err := kauth.NewManager(kauth.Config{
				Credentials: app.Credentials(),
				Provider:    rig.Provider(app.Broker, app.Env, nil),
				Store:       st,
				Logger:      reliability.DiscardLogger(),
			})
			if err != nil {
				b.Fatal(err)
			}
			n, err, wall := reliability.GoroutineStorm(m, 10000)
			m.Close()
			got := rig.Sim.Issued(app.Broker, app.Env, app.AppKey)
			rig.Close()
			if err != nil || n != 1 || got != 1 {
				b.Fatalf("10000 goroutines: %d tokens, %d issuances, error %v; want 1, 1, none", n, got, err)
			}
			issued += float64(got)
			storm += float64(wall) / float64(time.Millisecond)
		}
		b.ReportMetric(issued/float64(b.N), "issuances/op")
		b.ReportMetric(storm/float64(b.N), "storm-ms")
	})
	b.Run("processes=16/file", func(b *testing.B) {
		processStorm(b, 16, false)
	})
	b.Run("processes=4/redis", func(b *testing.B) {
		testredis.URL(b) // skip (or fail under CI=true) without Redis
		processStorm(b, 4, true)
	})
}

func processStorm(b *testing.B, n int, useRedis bool) {
	app := brokersim.DemoKISMock
	var issued, storm, startup float64
	for b.Loop() {
		rig := reliability.NewRig(nil)
		var url, prefix string
		if useRedis {
			url, prefix = testredis.URL(b), testredis.Prefix(b)
		}
		env := reliability.StormEnv(rig, app, reliability.NewStoreKey(), filepath.Join(b.TempDir(), "cache"), url, prefix)
		res, err := reliability.ProcessStorm(n, env)
		got := rig.Sim.Issued(app.Broker, app.Env, app.AppKey)
		rig.Close()
		if err != nil {
			b.Fatal(err)
		}
		if got != 1 || len(res.Fingerprints) != 1 {
			b.Fatalf("%d processes: %d issuances, tokens %v; want 1 issuance, 1 token", n, got, res.Fingerprints)
		}
		issued += float64(got)
		storm += float64(res.Wall) / float64(time.Millisecond)
		startup += float64(res.Startup) / float64(time.Millisecond)
	}
	b.ReportMetric(issued/float64(b.N), "issuances/op")
	b.ReportMetric(storm/float64(b.N), "storm-ms")
	b.ReportMetric(startup/float64(b.N), "startup-ms")
}
