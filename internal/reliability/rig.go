package reliability

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/longtest"
)

// Soak reports whether the soak variants are asked for (KAUTH_SOAK set to
// anything but "" or "0"): more rounds and callers, and a six-minute fault
// harness. The variants that pass reliably and soon — the crash rounds and
// the chaos run — take their soak scale under KAUTH_LONG too, as CI runs
// them (see LongScale). The others stay outside CI: on a loaded two-core
// machine, at 200 callers some calls end up to half a second past their
// 2 s deadline (beyond the suite's 400 ms slack), and a burst of two 5xx
// answers can cost up to seven token requests against a bound of three;
// the harness's kauth token can outlast its --timeout.
func Soak() bool { return longtest.Set(os.Getenv("KAUTH_SOAK")) }

// Scale returns n, or soak in a soak run.
func Scale(n, soak int) int {
	if Soak() {
		return soak
	}
	return n
}

// LongScale returns n, or long in a soak run or under KAUTH_LONG (as CI
// runs the suite): the soak variants that CI runs.
func LongScale(n, long int) int {
	if Soak() || longtest.Enabled() {
		return long
	}
	return n
}

// Rig is a brokersim.Server on a loopback httptest server, with a count of
// the requests that reached each broker's token endpoint.
type Rig struct {
	Sim *brokersim.Server
	TS  *httptest.Server

	issueMu     sync.Mutex
	issueCalls  map[kauth.Broker]int // requests to each broker's token endpoint
	interceptMu sync.Mutex
	intercept   func(r *http.Request)
}

// NewRig starts a simulator with the demo apps registered. configure, if not
// nil, sets the simulator's fields before the first request. Close stops it.
func NewRig(configure func(*brokersim.Server)) *Rig {
	r := &Rig{Sim: brokersim.New()}
	if configure != nil {
		configure(r.Sim)
	}
	r.TS = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// tokenPath returns broker b's token endpoint, or "".
func tokenPath(b kauth.Broker) string {
	spec, ok := brokers.Get(b)
	if !ok {
		return ""
	}
	fe, ok := spec.New("", nil, nil).(interface{ FacadePaths() (token, revoke string) })
	if !ok {
		return ""
	}
	tok, _ := fe.FacadePaths()
	return tok
}

func (r *Rig) serve(w http.ResponseWriter, req *http.Request) {
	// /{broker}/{env}{TokenPath}, the simulator's prefix layout.
	if parts := strings.SplitN(strings.TrimPrefix(req.URL.Path, "/"), "/", 3); len(parts) == 3 {
		b := kauth.Broker(parts[0])
		if tokenPath(b) != "" && "/"+parts[2] == tokenPath(b) {
			r.issueMu.Lock()
			if r.issueCalls == nil {
				r.issueCalls = map[kauth.Broker]int{}
			}
			r.issueCalls[b]++
			r.issueMu.Unlock()
		}
	}
	r.interceptMu.Lock()
	f := r.intercept
	r.interceptMu.Unlock()
	if f != nil {
		f(req)
	}
	r.Sim.ServeHTTP(w, req)
}

// Intercept makes f see every request before the simulator does (nil
// removes it). f runs on the handler's goroutine and must not block long.
func (r *Rig) Intercept(f func(*http.Request)) {
	r.interceptMu.Lock()
	r.intercept = f
	r.interceptMu.Unlock()
}

// IssueCalls returns how many requests reached broker b's token endpoint,
// faulted ones included.
func (r *Rig) IssueCalls(b kauth.Broker) int {
	r.issueMu.Lock()
	defer r.issueMu.Unlock()
	return r.issueCalls[b]
}

// Close ends hung requests and stops the server.
func (r *Rig) Close() {
	r.Sim.ReleaseHangs()
	r.TS.Close()
}

// URL returns the root URL of the simulator.
func (r *Rig) URL() string { return r.TS.URL }

// Provider returns the provider of broker b at env e aimed at the rig, with
// now as the receipt clock.
func (r *Rig) Provider(b kauth.Broker, e kauth.Env, now func() time.Time) kauth.Provider {
	return NewProvider(r.TS.URL, b, e, r.TS.Client(), now)
}

// NewProvider returns the provider of broker b at env e aimed at a
// simulator served at root.
func NewProvider(root string, b kauth.Broker, e kauth.Env, client *http.Client, now func() time.Time) kauth.Provider {
	return brokers.MustGet(b).New(brokersim.BaseURL(root, b, e), client, now)
}

// VClock drives a Manager from the simulator's virtual clock: Sleep
// advances the simulator instead of waiting, so a minute-long wait for the
// KIS issuance interval costs nothing.
type VClock struct{ Sim *brokersim.Server }

// Now returns the simulator's virtual time.
func (c VClock) Now() time.Time { return c.Sim.Now() }

// Sleep advances the simulator by d, unless ctx is done.
func (c VClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		c.Sim.Advance(d)
	}
	return nil
}

// ScaledClock is a virtual clock shared by separate processes without any
// communication: virtual time runs Scale times faster than the wall clock
// from Base, which every process is given. Sleep waits d/Scale of real
// time.
type ScaledClock struct {
	Base  time.Time
	Scale int64
}

// Now returns Base + (wall time since Base) × Scale.
func (c ScaledClock) Now() time.Time {
	now := time.Now()
	return c.Base.Add(now.Sub(c.Base) * time.Duration(c.Scale))
}

// Real converts a virtual duration into wall time.
func (c ScaledClock) Real(d time.Duration) time.Duration { return d / time.Duration(c.Scale) }

// Sleep waits d/Scale of real time or until ctx is done.
func (c ScaledClock) Sleep(ctx context.Context, d time.Duration) error {
	return kauth.SystemClock{}.Sleep(ctx, c.Real(d))
}

// OffsetClock is Clock off by Offset: the clock of a host that runs ahead
// (or, negative, behind), or one that NTP is about to step back.
type OffsetClock struct {
	kauth.Clock
	Offset time.Duration
}

// Now returns the inner clock's time plus Offset.
func (c OffsetClock) Now() time.Time { return c.Clock.Now().Add(c.Offset) }

// DiscardLogger drops everything.
func DiscardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// AppByName returns the demo app named "broker/env", e.g. "kis/mock".
func AppByName(name string) (brokersim.App, bool) {
	b, e, ok := strings.Cut(name, "/")
	if !ok {
		return brokersim.App{}, false
	}
	app := brokersim.Demo(kauth.Broker(b), kauth.Env(e))
	return app, app.AppKey != ""
}

// AppName is the inverse of AppByName.
func AppName(app brokersim.App) string { return string(app.Broker) + "/" + string(app.Env) }
