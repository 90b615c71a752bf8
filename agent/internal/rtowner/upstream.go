package rtowner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/realtime"
)

// RelayPath is where an agent serves the relay of upstream id.
func RelayPath(id string) string { return "/v1/relay/" + id }

// Config configures an Upstream.
type Config struct {
	// Lease is the upstream's lease. Required.
	Lease *Lease
	// ID names the upstream in relay paths (RelayPath).
	ID string
	// Self is this agent's instance id, unique among the agents.
	Self string
	// Addr returns the host:port where this agent's relay is reached now,
	// or "" if it is reached nowhere (the others then wait out its lease).
	Addr func() string
	// Secret authenticates the agents to each other (Secret(KAUTH_KEY)).
	Secret []byte
	// Clock: nil means the system clock.
	Clock kauth.Clock
	// Poll is how often a follower reads the lease while it relays. Zero
	// means the lease's TTL/10.
	Poll time.Duration
	// Logger: nil means slog.Default().
	Logger *slog.Logger
}

// Upstream is a realtime.Upstream for a Session whose app key is shared by
// agents on one Redis: its connections go to the broker while this agent
// holds the lease, and to the holder's relay while another does. It never
// dials the broker without a lease whose fence Redis has just confirmed,
// and ends that connection the moment the lease may have lapsed
// (Hold.Lost), before any other agent can take it.
type Upstream struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	hold *Hold
	// failed is the fence of a holder whose relay could not be reached,
	// not tried again before retry: a dead holder's lease lasts up to a
	// TTL, and a live one may have refused for a moment (it was still
	// taking the lease).
	failed int64
	retry  time.Time
	closed bool
}

// New returns an Upstream for cfg.
func New(cfg Config) *Upstream {
	if cfg.Clock == nil {
		cfg.Clock = kauth.SystemClock{}
	}
	if cfg.Poll <= 0 {
		cfg.Poll = cfg.Lease.TTL() / 10
	}
	if cfg.Addr == nil {
		cfg.Addr = func() string { return "" }
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Upstream{cfg: cfg, log: log}
}

// Holding returns the record of the lease this agent holds now, and a
// channel closed when it is lost; ok is false if it holds none.
func (u *Upstream) Holding() (r Record, lost <-chan struct{}, ok bool) {
	u.mu.Lock()
	k := u.hold
	u.mu.Unlock()
	if k == nil {
		return Record{}, nil, false
	}
	select {
	case <-k.Lost():
		return Record{}, nil, false
	default:
	}
	return k.Record(), k.Lost(), true
}

// Close stops holding the lease, and ends it in Redis so that another
// agent takes the session over at once. Route fails from then on.
func (u *Upstream) Close() {
	u.mu.Lock()
	k := u.hold
	u.hold, u.closed = nil, true
	u.mu.Unlock()
	if k != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		k.Release(ctx)
	}
}

var errClosed = errors.New("rtowner: closed")

// step is what Route does next.
type step int

const (
	stepConfirm step = iota // this agent keeps a lease: confirm its fence, then dial the broker
	stepAcquire             // nobody holds the lease: take it
	stepRelay               // another agent holds it and says where: relay through it
	stepWait                // its holder cannot be reached (yet): wait for the lease to change
	stepGiveUp              // waited as long as a lease lasts: tell the Session, which retries
)

// view is what Route knows when it decides.
type view struct {
	holding bool   // this agent keeps a lease (a Hold not lost)
	held    bool   // the lease in Redis names a holder…
	rec     Record // …this one
	self    string // this agent
	failed  int64  // the fence of a holder whose relay could not be reached
	overdue bool   // Route has waited past its deadline
}

// decide is Route's decision. A holder's own record in Redis without its
// Hold (lost locally: it could not renew in time) is waited out, never
// taken back: another agent may be about to take it.
func decide(v view) step {
	switch {
	case v.holding:
		return stepConfirm
	case !v.held:
		return stepAcquire
	case v.rec.Owner != v.self && v.rec.Addr != "" && v.rec.Fence != v.failed:
		return stepRelay
	case v.overdue:
		return stepGiveUp
	}
	return stepWait
}

// Route implements realtime.Upstream.
func (u *Upstream) Route(ctx context.Context) (realtime.Route, error) {
	l, clock := u.cfg.Lease, u.cfg.Clock
	// A holder that cannot be reached is waited out for as long as its
	// lease can last, and a little: then the Session hears of it.
	deadline := clock.Now().Add(2*l.TTL() + time.Second)
	for {
		if err := ctx.Err(); err != nil {
			return realtime.Route{}, err
		}
		u.mu.Lock()
		k, closed, failed := u.hold, u.closed, u.failed
		if clock.Now().After(u.retry) {
			failed = 0
		}
		u.mu.Unlock()
		if closed {
			return realtime.Route{}, errClosed
		}
		v := view{holding: k != nil, self: u.cfg.Self, failed: failed, overdue: clock.Now().After(deadline)}
		if !v.holding {
			var err error
			if v.rec, v.held, err = l.Read(ctx); err != nil {
				return realtime.Route{}, err
			}
		}
		switch decide(v) {
		case stepConfirm:
			if r, ok, err := u.confirm(ctx, k); err != nil || ok {
				return r, err
			}
		case stepAcquire:
			if err := u.acquire(ctx); err != nil {
				return realtime.Route{}, err
			}
		case stepRelay:
			return u.relay(v.rec), nil
		case stepGiveUp:
			if v.rec.Addr == "" {
				return realtime.Route{}, fmt.Errorf("rtowner: the agent holding the session (fence %d) advertises no address (listen.tcp or advertise_addr); waiting for its lease", v.rec.Fence)
			}
			return realtime.Route{}, fmt.Errorf("rtowner: the agent holding the session at %s (fence %d) cannot be reached; waiting for its lease to expire", v.rec.Addr, v.rec.Fence)
		case stepWait:
			if err := clock.Sleep(ctx, u.cfg.Poll); err != nil {
				return realtime.Route{}, err
			}
		}
	}
}

// acquire tries to take the lease; on success this agent holds it.
func (u *Upstream) acquire(ctx context.Context) error {
	sent := u.cfg.Clock.Now()
	r, ok, err := u.cfg.Lease.Acquire(ctx, u.cfg.Self, u.cfg.Addr())
	if err != nil || !ok {
		return err
	}
	k := u.cfg.Lease.Keep(Held{Record: r, Sent: sent, TTL: u.cfg.Lease.TTL()}, u.cfg.Clock)
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		k.Release(context.Background())
		return errClosed
	}
	u.hold = k
	u.mu.Unlock()
	u.log.Info("realtime: this agent holds the shared session", "fence", r.Fence, "addr", r.Addr)
	return nil
}

// confirm checks, just before a broker connection is opened, that Redis
// still holds k's lease (its fence) and returns the broker route; ok is
// false (and k forgotten) if the lease is lost.
func (u *Upstream) confirm(ctx context.Context, k *Hold) (realtime.Route, bool, error) {
	select {
	case <-k.Lost():
	default:
		cctx, cancel := context.WithTimeout(ctx, u.cfg.Lease.TTL()/2)
		ok, err := u.cfg.Lease.Renew(cctx, k.Record())
		cancel()
		if err != nil {
			return realtime.Route{}, false, err
		}
		if ok {
			return realtime.Route{Done: k.Lost()}, true, nil
		}
	}
	u.mu.Lock()
	if u.hold == k {
		u.hold = nil
	}
	u.mu.Unlock()
	k.Release(context.Background()) // stops it; the lease in Redis is not its own any more
	u.log.Warn("realtime: this agent no longer holds the shared session", "fence", k.Record().Fence)
	return realtime.Route{}, false, nil
}

// relay returns the route to rec's holder, which ends when the lease
// names another holder or none.
func (u *Upstream) relay(rec Record) realtime.Route {
	h, nonce := Sign(u.cfg.Secret, u.cfg.ID, rec.Fence, u.cfg.Clock.Now())
	done, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			<-stop
			cancel()
		}()
		for u.cfg.Clock.Sleep(ctx, u.cfg.Poll) == nil {
			cur, ok, err := u.cfg.Lease.Read(ctx)
			if err == nil && (!ok || cur.Fence != rec.Fence) {
				return
			}
		}
	}()
	var once sync.Once
	return realtime.Route{
		URL:    "ws://" + rec.Addr + RelayPath(u.cfg.ID),
		Header: h,
		Relay:  true,
		Check: func(resp *http.Response) error {
			return CheckProof(u.cfg.Secret, u.cfg.ID, rec.Fence, nonce, resp)
		},
		Done: done,
		Ended: func(opened bool) {
			once.Do(func() { close(stop) })
			u.mu.Lock()
			if opened {
				u.failed = 0
			} else {
				u.failed, u.retry = rec.Fence, u.cfg.Clock.Now().Add(u.cfg.Lease.TTL()/2)
			}
			u.mu.Unlock()
		},
	}
}
