package reliability

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/store/file"
)

// DaysOptions configure RunDays.
type DaysOptions struct {
	// App is the demo app whose token is kept.
	App brokersim.App
	// Days is how many virtual days to run. Zero means 30.
	Days int
	// Restart is how often the "process" restarts: the Manager is closed,
	// and a new one on a newly opened file store on the same directory takes
	// over. Zero means 10 minutes.
	Restart time.Duration
	// Step is the virtual time between two Token calls. Zero means one
	// minute.
	Step time.Duration
	// Lifetime is the broker's token lifetime. Zero means the simulator's
	// default (24 h).
	Lifetime time.Duration
	// Dir is the file store's directory; it is created (0700) if missing.
	Dir string
	// Logger receives the Managers' and stores' logs. Nil discards them.
	Logger *slog.Logger
}

// DaysResult is what RunDays counted.
type DaysResult struct {
	Days        int
	Restarts    int           // Managers started
	Calls       int           // Token calls
	Periods     int           // validity periods in the run: Days × 24 h / Lifetime
	Issued      int           // new tokens minted by the broker for the app
	Reissued    int           // answers that handed back the current token
	Requests    int           // token-endpoint requests
	RateLimited int           // broker rate-limit answers (EGW00133 / 1700)
	Rejected    int           // broker error answers of any kind
	Failures    int           // Token calls that returned an error
	Expired     int           // Token calls that returned a token not valid at that moment
	Wall        time.Duration // real time the run took
}

// MaxIssued is the target: one issuance per validity period, plus the first.
func (r DaysResult) MaxIssued() int { return r.Periods + 1 }

func (r DaysResult) String() string {
	return fmt.Sprintf("%d days, %d restarts, %d Token calls: %d issued (target <= %d), %d reissued, %d token requests, %d rate-limited, %d rejected, %d failed, %d expired; %v wall",
		r.Days, r.Restarts, r.Calls, r.Issued, r.MaxIssued(), r.Reissued, r.Requests, r.RateLimited, r.Rejected, r.Failures, r.Expired, r.Wall.Round(time.Millisecond))
}

// RunDays runs one app through many virtual days with refresh ahead on
// (the default window), restarting every opts.Restart: each "process" is a
// new Manager on a newly opened file store over the same directory, and the
// old one is closed first. The Managers run on the simulator's clock, which
// RunDays advances by opts.Step after each Token call.
func RunDays(ctx context.Context, opts DaysOptions) (DaysResult, error) {
	if opts.Days == 0 {
		opts.Days = 30
	}
	if opts.Restart == 0 {
		opts.Restart = 10 * time.Minute
	}
	if opts.Step == 0 {
		opts.Step = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = DiscardLogger()
	}
	lifetime := opts.Lifetime
	if lifetime == 0 {
		lifetime = 24 * time.Hour
	}
	rig := NewRig(func(s *brokersim.Server) {
		s.KISTokenLifetime = opts.Lifetime
		s.KiwoomTokenLifetime = opts.Lifetime
	})
	defer rig.Close()
	key := make([]byte, 32)
	rand.Read(key)
	app := opts.App
	clock := VClock{rig.Sim}
	provider := rig.Provider(app.Broker, app.Env, rig.Sim.Now)

	res := DaysResult{Days: opts.Days, Periods: int(time.Duration(opts.Days) * 24 * time.Hour / lifetime)}
	wallStart := time.Now()
	var (
		m     *kauth.Manager
		locks atomic.Int64 // store locks taken, to see a background refresh start
		held  atomic.Int64 // store locks held right now
	)
	closeManager := func() {
		if m != nil {
			m.Close()
			m = nil
		}
	}
	defer closeManager()

	start := rig.Sim.Now()
	end := start.Add(time.Duration(opts.Days) * 24 * time.Hour)
	nextRestart := start
	for now := start; now.Before(end); now = rig.Sim.Now() {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if !now.Before(nextRestart) {
			closeManager()
			st, err := file.New(opts.Dir, file.WithKey(key), file.WithLogger(opts.Logger))
			if err != nil {
				return res, err
			}
			m, err = kauth.NewManager(kauth.Config{
				Credentials: app.Credentials(),
				Provider:    provider,
				Store:       &countingStore{Store: st, locks: &locks, held: &held},
				Clock:       clock,
				Logger:      opts.Logger,
			})
			if err != nil {
				return res, err
			}
			res.Restarts++
			nextRestart = nextRestart.Add(opts.Restart)
		}
		before := locks.Load()
		tok, err := m.Token(ctx)
		res.Calls++
		switch {
		case err != nil:
			res.Failures++
		case !tok.Valid(rig.Sim.Now()):
			res.Expired++
		}
		if err == nil && tok.ExpiresAt.Sub(now) <= kauth.DefaultRefreshAhead+2*kauth.DefaultExpiryMargin {
			// Inside the refresh-ahead window a background refresh may have
			// started: let it finish before moving the clock, as a real
			// refresh takes milliseconds, not virtual hours.
			waitIdle(&locks, &held, before)
		}
		rig.Sim.Advance(opts.Step)
	}
	closeManager()
	res.Wall = time.Since(wallStart)
	st := rig.Sim.Stats()
	c := st.App(app.Broker, app.Env, app.AppKey)
	res.Issued, res.Reissued = c.Issued, c.Reissued
	res.RateLimited, res.Rejected = c.RateLimited, c.Rejected
	res.Requests = rig.IssueCalls(app.Broker)
	return res, nil
}

// waitIdle waits briefly for a background refresh to take the store lock
// (one more lock than before), and then until no lock is held.
func waitIdle(locks, held *atomic.Int64, before int64) {
	deadline := time.Now().Add(5 * time.Millisecond)
	for locks.Load() == before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Microsecond)
	}
	for held.Load() > 0 {
		time.Sleep(50 * time.Microsecond)
	}
}

// countingStore counts the store locks taken and held, so that RunDays can
// tell when a background refresh is running.
type countingStore struct {
	kauth.Store
	locks, held *atomic.Int64
}

func (s *countingStore) Lock(ctx context.Context, key kauth.Key) (kauth.Lease, error) {
	s.locks.Add(1)
	s.held.Add(1)
	l, err := s.Store.Lock(ctx, key)
	if err != nil {
		s.held.Add(-1)
		return nil, err
	}
	return &countedLease{Lease: l, held: s.held}, nil
}

type countedLease struct {
	kauth.Lease
	held *atomic.Int64
	once atomic.Bool
}

func (l *countedLease) Unlock() {
	l.Lease.Unlock()
	if l.once.CompareAndSwap(false, true) {
		l.held.Add(-1)
	}
}

// Watch passes the file store's change notices through.
func (s *countingStore) Watch(ctx context.Context, changed func(kauth.Change)) error {
	if w, ok := s.Store.(kauth.Watcher); ok {
		return w.Watch(ctx, changed)
	}
	<-ctx.Done()
	return nil
}
