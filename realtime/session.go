package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/wire"
)

// Keys hands out the credential a session opens with and takes back one
// the broker refused. *kauth.Manager implements it: for KIS an approval-key
// Manager (kis.NewApprovalManager), for Kiwoom the app's token Manager.
type Keys interface {
	Token(ctx context.Context) (kauth.Token, error)
	Invalidate(token string) bool
}

// Defaults for Config's zero fields.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
	DefaultAckTimeout = 10 * time.Second
	// DefaultIdleTimeout is how long a connection may stay silent before
	// it is taken for dead while the broker's keep-alive beat is not known
	// yet. Both brokers send keep-alives (KIS PINGPONG, Kiwoom PING) well
	// within it.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultControlRate is how many subscribe and unsubscribe frames per
	// second a session sends the broker at most. Neither broker publishes a
	// limit on them; five a second still registers KIS's 41 in under ten
	// seconds.
	DefaultControlRate = 5
	// DefaultOutageAfter is how long the session must have been
	// unavailable before OnOutage is told.
	DefaultOutageAfter = time.Minute
)

// Config configures a Session. Credentials and Keys are required.
type Config struct {
	// Credentials name the app (only Broker, Env and the app key's
	// fingerprint are used; the secret is not needed).
	Credentials kauth.Credentials
	// Keys is the managed credential of the session.
	Keys Keys
	// Protocol is the broker's real-time protocol (kis.Realtime,
	// kiwoom.Realtime, or what the broker's Provider returns). Required.
	Protocol Protocol
	// URL is the broker's WebSocket URL. Empty means the published one,
	// Protocol.URL(Env, "").
	URL string
	// MaxSubscriptions is the number of topics the session may hold. Past
	// it Subscribe fails with ErrLimit in the broker's terms without asking
	// the broker. Zero means the broker's limit (Protocol.Limits).
	MaxSubscriptions int
	// MinBackoff and MaxBackoff bound the jittered exponential wait between
	// reconnection attempts. Zero means the defaults.
	MinBackoff, MaxBackoff time.Duration
	// Quiet, if set, tells when the market is closed (for KRX brokers:
	// outside trading hours, from a krx.Calendar). While it is, a dropped
	// connection is reconnected quietly: the backoff grows to
	// QuietBackoff, but never past the time Quiet says the session is
	// needed again; the drop is logged at Info, and members are not sent
	// Unavailable. Nil: the market is always open.
	Quiet QuietFunc
	// QuietBackoff bounds the wait between reconnection attempts while
	// Quiet says the market is closed. Zero means DefaultQuietBackoff.
	QuietBackoff time.Duration
	// OnOutage, if set, is told when the session has been unavailable
	// (members told Unavailable) for OutageAfter on Clock, once per
	// outage, and told again when it opens after that. Nothing is told
	// while Quiet says the market is closed: an outage that runs into the
	// close is not reported, and one still on at the open is timed from
	// there. OnOutage is called from the session's goroutines, one call at
	// a time, and must not block. Zero OutageAfter means
	// DefaultOutageAfter.
	OnOutage    func(Outage)
	OutageAfter time.Duration
	// AckTimeout bounds the wait for the broker's answer to a subscription.
	AckTimeout time.Duration
	// IdleTimeout: a connection on which nothing arrives for this long (no
	// frame, no keep-alive) is closed and replaced, so that a broker that
	// hangs with its socket open, or a half-open link, does not stop the
	// feed for good. Zero means DefaultIdleTimeout. Once the broker's
	// keep-alive beat is known (from the gaps between its first
	// keep-alives), a connection is replaced sooner: after KeepAliveMisses
	// beats and a half without anything (at least a second).
	IdleTimeout time.Duration
	// KeepAliveMisses is how many of the broker's keep-alives may go
	// missing before the connection is taken for dead. Zero means
	// DefaultKeepAliveMisses.
	KeepAliveMisses int
	// ControlRate is how many subscribe and unsubscribe frames per second
	// the session sends the broker at most, and ControlBurst how many may
	// go at once after a quiet spell; the others wait their turn. Unsubscribe
	// returns at once: the topic is released upstream once it has stayed
	// unwanted for 1/ControlRate and its turn has come, so a topic dropped
	// and taken again meanwhile costs the broker nothing. Zero means the
	// Protocol's rate (Pacer) or DefaultControlRate, and a burst of
	// ControlRate rounded up.
	ControlRate  float64
	ControlBurst int
	// Clock paces the control frames. Nil means kauth.SystemClock.
	Clock kauth.Clock
	// HTTPClient dials the connection. Nil means http.DefaultClient. The
	// session dials through a copy of it that follows no redirect, since
	// the first frames carry the approval key or the token; the client
	// itself is left as it is.
	HTTPClient *http.Client
	// Logger receives connection events (fingerprints only). Nil means
	// slog.Default().
	Logger *slog.Logger
	// Upstream, if set, chooses where each connection goes (the broker, or
	// an agent that holds the app key's one session on behalf of several;
	// see Upstream). Nil: every connection dials URL.
	Upstream Upstream
}

// Upstream chooses where a Session's connections go. Agents that share an
// app key elect one of them to hold its broker session; the others' Sessions
// reach the broker through it, over a connection that speaks the broker's
// protocol. Implementations must be safe for concurrent use.
type Upstream interface {
	// Route is called before each connection, the first and every
	// reconnection, and may wait (bounded by ctx) until there is somewhere
	// to go. An error counts as a failed connection: the Session backs off,
	// tells its members (Unavailable) and calls Route again.
	Route(ctx context.Context) (Route, error)
}

// Route is where one connection goes, and how long it may stay.
type Route struct {
	// URL is dialed; empty means Config.URL.
	URL string
	// Header is added to the upgrade request.
	Header http.Header
	// Relay says the far end is not the broker but an agent that holds the
	// broker session: no credential is taken from Keys, and the messages
	// carry an empty one.
	Relay bool
	// Check, if not nil, vets the answer to the upgrade; an error refuses
	// the connection (a relay that could not prove itself).
	Check func(*http.Response) error
	// Done, if not nil, ends the connection at once when it is closed:
	// the route no longer holds (the lease it was opened under is lost,
	// another agent holds the session now). Members hear Interrupted, and
	// the Session asks for a new Route.
	Done <-chan struct{}
	// Ended, if not nil, is called once the connection or the attempt is
	// over; opened says whether it got as far as an open session.
	Ended func(opened bool)
}

// Stats are a Session's counters.
type Stats struct {
	Connected     bool
	Members       int
	Subscriptions int    // topics subscribed upstream now
	FramesIn      uint64 // data frames from the broker
	FramesOut     uint64 // messages handed to members
	Drops         uint64 // members dropped for being too slow
	Reconnects    uint64 // connections opened after the first
	// KeepAlive is the broker's keep-alive beat as the session measured
	// it, or 0 before two keep-alives have come.
	KeepAlive time.Duration
}

// Session is one upstream WebSocket session of an app key, shared by its
// members. It is safe for concurrent use.
type Session struct {
	cfg   Config
	proto Protocol
	log   *slog.Logger
	limit int

	ctx     context.Context
	cancel  context.CancelFunc
	runDone chan struct{}
	start   sync.Once

	ctl sync.Mutex // one subscribe/unsubscribe exchange at a time

	mu      sync.Mutex
	topics  map[Topic]*topicState
	members map[*Member]struct{}
	conn    *websocket.Conn // nil while down
	key     string          // the credential conn opened with
	ready   chan struct{}   // closed while conn is up and restored
	down    chan struct{}   // closed when conn ends
	waiter  *waiter
	closed  bool
	// unavail is why the last attempt to open the connection failed, nil
	// once one succeeds; told lists the members that heard of it.
	unavail error
	told    map[*Member]bool
	// outMu guards outage, the outage being timed for OnOutage.
	outMu  sync.Mutex
	outage *outageWatch
	// opened says the current attempt has opened the session (restore got
	// as far as a restored topic), and relayed that it went through a
	// relay (Route.Relay); only the run goroutine touches them.
	opened, relayed bool

	framesIn, framesOut, drops, reconnects atomic.Uint64

	pulse pulse        // owned by the connection's read loop
	beat  atomic.Int64 // pulse.period(), for Stats

	clock  kauth.Clock
	pace   *rate.Limiter // control frames upstream
	linger time.Duration // how long an unwanted topic stays before release
	bg     sync.WaitGroup
	// Releases waiting for their time, oldest first (guarded by mu): only
	// the latest entry of a topic counts.
	relQ    []pendingRelease
	relSeq  map[Topic]uint64
	relN    uint64
	relWake chan struct{}

	// A Declarer's state (see declare.go), guarded by mu.
	decl     Declarer
	declared map[Topic]bool // the set the broker holds on this connection
	declSeq  uint64
	declWake chan struct{}
}

type pendingRelease struct {
	t   Topic
	seq uint64
	due time.Time
}

type topicState struct {
	members map[*Member]struct{}
	list    []*Member // snapshot of members for fan-out
	ack     []byte
	live    bool
	was     bool // it was live on an earlier connection: restoring it is news
	// settled is closed once a declaration has decided the topic, and err
	// is the broker's refusal of it (Declarer).
	settled chan struct{}
	err     error
}

func (ts *topicState) rebuild() {
	ts.list = make([]*Member, 0, len(ts.members))
	for m := range ts.members {
		ts.list = append(ts.list, m)
	}
}

type waiter struct {
	match func(Frame) bool
	ch    chan answer
}

type answer struct {
	p   Frame
	raw []byte
}

// New returns a Session for cfg. It connects on the first Subscribe.
func New(cfg Config) (*Session, error) {
	c := cfg.Credentials
	if cfg.Protocol == nil {
		return nil, fmt.Errorf("realtime: %s: no real-time protocol (Config.Protocol)", c.Broker)
	}
	if c.Env != kauth.Real && c.Env != kauth.Mock {
		return nil, fmt.Errorf("realtime: %s: unknown env %q", c.Broker, c.Env)
	}
	if cfg.Keys == nil {
		return nil, fmt.Errorf("realtime: %s %s: no Keys (an approval-key or token Manager)", c.Broker, c.Env)
	}
	if cfg.URL == "" {
		cfg.URL = cfg.Protocol.URL(c.Env, "")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.OutageAfter <= 0 {
		cfg.OutageAfter = DefaultOutageAfter
	}
	if cfg.QuietBackoff <= 0 {
		cfg.QuietBackoff = DefaultQuietBackoff
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.KeepAliveMisses <= 0 {
		cfg.KeepAliveMisses = DefaultKeepAliveMisses
	}
	if cfg.ControlRate <= 0 {
		cfg.ControlRate = DefaultControlRate
		if p, ok := cfg.Protocol.(Pacer); ok && p.ControlRate() > 0 {
			cfg.ControlRate = p.ControlRate()
		}
	}
	decl, _ := cfg.Protocol.(Declarer)
	if cfg.ControlBurst <= 0 {
		cfg.ControlBurst = int(math.Ceil(cfg.ControlRate))
		if decl != nil {
			// A broker that counts declarations a second counts them in
			// any second, not per bucket: send them evenly.
			cfg.ControlBurst = 1
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = kauth.SystemClock{}
	}
	if cfg.HTTPClient == nil {
		// Not wire.DefaultClient: a client Timeout would end the session.
		cfg.HTTPClient = http.DefaultClient
	}
	cfg.HTTPClient = wire.NoRedirects(cfg.HTTPClient)
	s := &Session{
		cfg:      cfg,
		proto:    cfg.Protocol,
		log:      cfg.Logger,
		topics:   make(map[Topic]*topicState),
		members:  make(map[*Member]struct{}),
		ready:    make(chan struct{}),
		runDone:  make(chan struct{}),
		clock:    cfg.Clock,
		pace:     rate.NewLimiter(rate.Limit(cfg.ControlRate), cfg.ControlBurst),
		linger:   time.Duration(float64(time.Second) / cfg.ControlRate),
		relSeq:   make(map[Topic]uint64),
		relWake:  make(chan struct{}, 1),
		decl:     decl,
		declWake: make(chan struct{}, 1),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("broker", string(c.Broker), "env", string(c.Env), "app", c.Fingerprint())
	s.limit = cfg.MaxSubscriptions
	if s.limit <= 0 {
		s.limit, _, _ = s.proto.Limits(0)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Broker returns the session's broker.
func (s *Session) Broker() kauth.Broker { return s.cfg.Credentials.Broker }

// Env returns the session's env.
func (s *Session) Env() kauth.Env { return s.cfg.Credentials.Env }

// Limit returns the number of topics the session may hold.
func (s *Session) Limit() int { return s.limit }

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	st := Stats{Members: len(s.members)}
	select {
	case <-s.ready:
		st.Connected = true
	default:
	}
	for _, ts := range s.topics {
		if ts.live {
			st.Subscriptions++
		}
	}
	s.mu.Unlock()
	st.FramesIn = s.framesIn.Load()
	st.FramesOut = s.framesOut.Load()
	st.Drops = s.drops.Load()
	st.Reconnects = s.reconnects.Load()
	st.KeepAlive = time.Duration(s.beat.Load())
	return st
}

// Topics returns the topics subscribed upstream now.
func (s *Session) Topics() []Topic {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Topic
	for t, ts := range s.topics {
		if ts.live {
			out = append(out, t)
		}
	}
	return out
}

// closing reports whether Close has begun.
func (s *Session) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close ends every member with ErrClosed and closes the connection.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conn := s.conn
	members := make([]*Member, 0, len(s.members))
	for m := range s.members {
		members = append(members, m)
	}
	s.mu.Unlock()
	for _, m := range members {
		m.end(ErrClosed)
	}
	if conn != nil {
		// A clean close lets the broker free the app key's session at
		// once, for the next holder.
		conn.Close(websocket.StatusNormalClosure, "")
	}
	s.cancel()
	started := false
	s.start.Do(func() { close(s.runDone) })
	select {
	case <-s.runDone:
	default:
		started = true
	}
	if started {
		<-s.runDone
	}
	s.bg.Wait()
	return nil
}

// Join adds a member whose messages queue up to buffer deep (at least 1).
func (s *Session) Join(buffer int) *Member {
	m := &Member{s: s, ch: make(chan Message, max(buffer, 1)), done: make(chan struct{}), topics: make(map[Topic]bool)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		m.end(ErrClosed)
		return m
	}
	s.members[m] = struct{}{}
	s.mu.Unlock()
	return m
}

// errRetry says that the exchange must be tried again on the next
// connection.
var errRetry = errors.New("realtime: connection lost; retrying")

// subscribe makes t live upstream for m.
func (s *Session) subscribe(ctx context.Context, m *Member, t Topic) (Ack, error) {
	s.start.Do(s.begin)
	s.mu.Lock()
	if s.closed || m.isDone() {
		s.mu.Unlock()
		return Ack{}, ErrClosed
	}
	ts := s.topics[t]
	switch {
	case ts != nil && m.topics[t]:
		ack := ts.ack
		s.mu.Unlock()
		return Ack{Raw: ack, Already: true}, nil
	case ts == nil && len(s.topics) >= s.limit:
		idle, ok := s.idleLocked()
		s.mu.Unlock()
		if !ok {
			return Ack{}, s.limitError(t)
		}
		// A topic nobody wants any more holds the slot until its release:
		// release it now.
		if err := s.release(ctx, idle); err != nil {
			return Ack{}, err
		}
		return s.subscribe(ctx, m, t)
	case ts == nil:
		ts = &topicState{members: make(map[*Member]struct{}), settled: make(chan struct{})}
		s.topics[t] = ts
	}
	ts.members[m] = struct{}{}
	ts.rebuild()
	m.topics[t] = true
	if ts.live {
		ack := ts.ack
		s.mu.Unlock()
		return Ack{Raw: ack}, nil
	}
	// During an outage the subscription waits for the connection: the
	// member hears why at once rather than nothing for as long as it lasts.
	down := s.unavail
	if down != nil {
		if s.told == nil {
			s.told = make(map[*Member]bool)
		}
		s.told[m] = true
	}
	s.mu.Unlock()
	if down != nil {
		s.deliver(m, Message{Kind: Unavailable, Topic: t, Err: down})
	}
	if s.decl != nil {
		return s.awaitDeclared(ctx, m, t, ts)
	}
	for {
		ack, err := s.ensure(ctx, t)
		if err == nil {
			return Ack{Raw: ack}, nil
		}
		if errors.Is(err, errRetry) && ctx.Err() == nil && s.ctx.Err() == nil {
			continue
		}
		s.drop(m, t)
		if errors.Is(err, errRetry) {
			if ctx.Err() != nil {
				return Ack{}, ctx.Err()
			}
			return Ack{}, ErrClosed
		}
		return Ack{}, err
	}
}

func (s *Session) limitError(t Topic) error {
	e := &Error{Broker: s.Broker(), Env: s.Env(), Topic: t, Local: true}
	_, e.Code, e.Message = s.proto.Limits(s.limit)
	return e
}

// drop removes m from t without touching the broker (the subscription
// failed, or is being undone by the caller). A live topic left without
// members stays, upstream and in the count, until it is released.
func (s *Session) drop(m *Member, t Topic) (last bool, live bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(m.topics, t)
	ts := s.topics[t]
	if ts == nil {
		return false, false
	}
	delete(ts.members, m)
	ts.rebuild()
	if len(ts.members) == 0 {
		if !ts.live {
			delete(s.topics, t)
		}
		return true, ts.live
	}
	return false, false
}

// ensure subscribes t upstream unless it is already live, and returns the
// broker's answer.
func (s *Session) ensure(ctx context.Context, t Topic) ([]byte, error) {
	// Wait for the connection without holding ctl: restoring a new
	// connection takes ctl before it opens.
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	select {
	case <-ready:
	case <-ctx.Done():
		return nil, errRetry
	case <-s.ctx.Done():
		return nil, errRetry
	}
	s.ctl.Lock()
	defer s.ctl.Unlock()
	var undo func()
	var conn *websocket.Conn
	var key string
	var down chan struct{}
	for {
		s.mu.Lock()
		ts := s.topics[t]
		if ts == nil {
			s.mu.Unlock()
			// Unwanted before it went upstream: the frame is not sent.
			if undo != nil {
				undo()
			}
			return nil, ErrCanceled
		}
		if ts.live {
			ack := ts.ack
			s.mu.Unlock()
			if undo != nil {
				undo()
			}
			return ack, nil
		}
		if s.ready != ready || s.conn == nil {
			s.mu.Unlock()
			if undo != nil {
				undo()
			}
			return nil, errRetry // reconnected meanwhile: restore saw t, or will
		}
		conn, key, down = s.conn, s.key, s.down
		s.mu.Unlock()
		if undo != nil {
			break // its turn came, and it is still wanted
		}
		var err error
		if undo, err = s.turn(ctx); err != nil {
			return nil, errRetry
		}
	}
	// Once its turn has come the exchange is the session's, not the
	// caller's: a caller that gives up mid-write (a bot that goes) would
	// close the connection every member shares, or leave the broker
	// holding a subscription nobody counts.
	a, err := s.exchange(s.ctx, conn, down, s.proto.Request(t, true, key), s.matcher(t, true))
	if err != nil {
		return nil, err
	}
	if err := s.judge(conn, key, t, a); err != nil {
		return nil, err
	}
	s.mu.Lock()
	ts := s.topics[t]
	stray := ts == nil
	if stray {
		// Every member left while the frame was on its way: the broker
		// holds it now, so it is released like any unwanted topic.
		ts = &topicState{members: make(map[*Member]struct{})}
		s.topics[t] = ts
	}
	ts.live, ts.was = true, true
	ts.ack = s.ackOf(a)
	s.mu.Unlock()
	if stray {
		s.queueRelease(t)
	}
	return s.ackOf(a), nil
}

// ackOf is what members see of a subscribe answer.
func (s *Session) ackOf(a answer) []byte {
	if a.p.Ack {
		return a.raw
	}
	return nil
}

// judge turns a subscribe answer into nil (subscribed), errRetry (the
// connection is being replaced: a refused credential, a session in use) or
// the broker's refusal.
func (s *Session) judge(conn *websocket.Conn, key string, t Topic, a answer) error {
	switch {
	case a.p.OK:
		return nil
	case a.p.Rejected:
		s.log.Warn("realtime: broker refused the session credential; replacing it", "code", a.p.Code)
		if key != "" {
			s.cfg.Keys.Invalidate(key)
		}
		conn.CloseNow()
		return errRetry
	case a.p.InUse:
		s.log.Warn("realtime: another session holds the app key; retrying", "code", a.p.Code)
		conn.CloseNow()
		return errRetry
	}
	return &Error{Broker: s.Broker(), Env: s.Env(), Topic: t, Code: a.p.Code, Message: a.p.Msg, Raw: a.raw, limit: a.p.Limit}
}

// matcher recognizes the answer to (un)subscribing t.
func (s *Session) matcher(t Topic, on bool) func(Frame) bool {
	return func(f Frame) bool { return s.proto.Answers(f, t, on) }
}

// exchange sends msg and waits for the answer that match recognizes.
func (s *Session) exchange(ctx context.Context, conn *websocket.Conn, down chan struct{}, msg []byte, match func(Frame) bool) (answer, error) {
	w := &waiter{match: match, ch: make(chan answer, 1)}
	s.mu.Lock()
	s.waiter = w
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.waiter == w {
			s.waiter = nil
		}
		s.mu.Unlock()
	}()
	wctx, cancel := context.WithTimeout(ctx, s.cfg.AckTimeout)
	defer cancel()
	if err := conn.Write(wctx, websocket.MessageText, msg); err != nil {
		conn.CloseNow()
		return answer{}, errRetry
	}
	select {
	case a := <-w.ch:
		return a, nil
	case <-down:
		return answer{}, errRetry
	case <-wctx.Done():
		if ctx.Err() != nil {
			return answer{}, ctx.Err()
		}
		// A broker that does not answer is as good as gone.
		s.log.Warn("realtime: no answer from the broker; reconnecting", "timeout", s.cfg.AckTimeout)
		conn.CloseNow()
		return answer{}, errRetry
	}
}

// unsubscribe removes m from t, and t upstream if m was its last member.
func (s *Session) unsubscribe(ctx context.Context, m *Member, t Topic) error {
	s.mu.Lock()
	had := m.topics[t]
	s.mu.Unlock()
	if !had {
		return ErrNotSubscribed
	}
	if s.decl != nil {
		s.dropDeclared(m, t)
		return nil
	}
	if last, live := s.drop(m, t); last && live {
		s.queueRelease(t)
	}
	return nil
}

// queueRelease schedules the release of t upstream, 1/ControlRate from
// now.
func (s *Session) queueRelease(t Topic) {
	s.mu.Lock()
	s.relN++
	s.relSeq[t] = s.relN
	s.relQ = append(s.relQ, pendingRelease{t: t, seq: s.relN, due: s.clock.Now().Add(s.linger)})
	if len(s.relQ) > 2*len(s.relSeq)+64 {
		// A topic toggled over and over: keep only its latest entry.
		q := s.relQ[:0]
		for _, p := range s.relQ {
			if s.relSeq[p.t] == p.seq {
				q = append(q, p)
			}
		}
		clear(s.relQ[len(q):])
		s.relQ = q
	}
	s.mu.Unlock()
	select {
	case s.relWake <- struct{}{}:
	default:
	}
}

// begin starts the connection and the releases.
func (s *Session) begin() {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.releaser()
	}()
	if s.decl != nil {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.declarer()
		}()
	}
	go s.run()
}

// releaser releases the topics nobody wants, each when its time comes,
// until the session closes.
func (s *Session) releaser() {
	for {
		s.mu.Lock()
		var next pendingRelease
		found := false
		for len(s.relQ) > 0 && !found {
			p := s.relQ[0]
			s.relQ = s.relQ[1:]
			if s.relSeq[p.t] == p.seq {
				delete(s.relSeq, p.t)
				next, found = p, true
			}
		}
		s.mu.Unlock()
		if !found {
			select {
			case <-s.ctx.Done():
				return
			case <-s.relWake:
			}
			continue
		}
		if d := next.due.Sub(s.clock.Now()); d > 0 {
			if s.clock.Sleep(s.ctx, d) != nil {
				return
			}
		}
		if err := s.release(s.ctx, next.t); err != nil && s.ctx.Err() == nil {
			s.log.Warn("realtime: unsubscribing upstream failed", "topic", next.t.String(), "err", err)
		}
	}
}

// idleLocked returns a topic that is live upstream with no member left.
// The caller holds s.mu.
func (s *Session) idleLocked() (Topic, bool) {
	for t, ts := range s.topics {
		if ts.live && len(ts.members) == 0 {
			return t, true
		}
	}
	return Topic{}, false
}

// turn waits for the next control frame's turn. The caller holds ctl;
// undo gives the turn back when the frame is not sent after all.
func (s *Session) turn(ctx context.Context) (undo func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	now := s.clock.Now()
	r := s.pace.ReserveN(now, 1)
	if !r.OK() {
		return nil, errors.New("realtime: control rate admits no frame")
	}
	if err := s.clock.Sleep(ctx, r.DelayFrom(now)); err != nil {
		r.CancelAt(s.clock.Now())
		return nil, err
	}
	return func() { r.CancelAt(s.clock.Now()) }, nil
}

// release unsubscribes t upstream unless someone wants it again.
func (s *Session) release(ctx context.Context, t Topic) error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	// idle says whether t is still live with no member, and forgets it
	// when it is no longer live (the connection went, and with it the
	// subscription).
	idle := func() bool {
		ts := s.topics[t]
		if ts == nil || len(ts.members) > 0 {
			return false // gone, or wanted again meanwhile: keep it
		}
		if !ts.live {
			delete(s.topics, t)
			return false
		}
		return true
	}
	s.mu.Lock()
	ok := idle()
	s.mu.Unlock()
	if !ok {
		return nil
	}
	undo, err := s.turn(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	conn, key, ready, down := s.conn, s.key, s.ready, s.down
	connected := conn != nil
	select {
	case <-ready:
	default:
		connected = false
	}
	if !idle() || !connected {
		if ts := s.topics[t]; ts != nil && len(ts.members) == 0 {
			delete(s.topics, t)
		}
		s.mu.Unlock()
		undo()
		return nil
	}
	// Being removed: a member that comes now subscribes afresh, after this.
	s.topics[t].live = false
	s.mu.Unlock()
	a, err := s.exchange(s.ctx, conn, down, s.proto.Request(t, false, key), s.matcher(t, false))
	s.mu.Lock()
	if ts := s.topics[t]; ts != nil && len(ts.members) == 0 {
		delete(s.topics, t)
	}
	s.mu.Unlock()
	if err != nil {
		if errors.Is(err, errRetry) {
			return nil
		}
		return err
	}
	if !a.p.OK {
		return &Error{Broker: s.Broker(), Env: s.Env(), Topic: t, Code: a.p.Code, Message: a.p.Msg, Raw: a.raw}
	}
	return nil
}

// leave removes m from every topic.
func (s *Session) leave(m *Member) {
	s.mu.Lock()
	delete(s.members, m)
	delete(s.told, m)
	topics := make([]Topic, 0, len(m.topics))
	for t := range m.topics {
		topics = append(topics, t)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.AckTimeout)
	defer cancel()
	for _, t := range topics {
		if err := s.unsubscribe(ctx, m, t); err != nil && !errors.Is(err, ErrNotSubscribed) {
			s.log.Warn("realtime: unsubscribing upstream failed", "topic", t.String(), "err", err)
		}
	}
}

// run keeps a connection up until Close.
func (s *Session) run() {
	defer close(s.runDone)
	backoff := s.cfg.MinBackoff
	cured := false
	for n := 0; s.ctx.Err() == nil; n++ {
		if n > 0 {
			s.reconnects.Add(1)
		}
		began := time.Now()
		s.opened = false
		err := s.connectOnce()
		opened := s.opened
		if s.ctx.Err() != nil || s.closing() {
			// Close ends the connection cleanly before it cancels: the
			// broker's answer to that close is no connection lost.
			return
		}
		var quietUntil time.Time
		if s.cfg.Quiet != nil {
			quietUntil = s.cfg.Quiet(s.clock.Now())
		}
		var re *Error
		switch {
		case opened:
			cured = false
			if s.relayed && time.Since(began) > time.Second {
				// A relay that served a while ends when its holder hands
				// the session over: the next holder is worth trying at
				// once, not after the backoff of earlier outages.
				backoff = s.cfg.MinBackoff
			}
		case errors.As(err, &re) && re.rejected && !cured:
			// A refused credential was just replaced: the next attempt
			// will most likely open, and is not worth an alarm.
			cured = true
		case !quietUntil.IsZero():
			// The market is closed: no one needs to hear of it.
		default:
			s.unavailable(err)
		}
		if time.Since(began) > time.Minute {
			backoff = s.cfg.MinBackoff // it was up for a good while
		}
		wait, next := reconnectWait(backoff, s.cfg.MaxBackoff, s.cfg.QuietBackoff, s.clock.Now(), quietUntil)
		level := slog.LevelWarn
		if !quietUntil.IsZero() {
			level = slog.LevelInfo
		}
		s.log.Log(s.ctx, level, "realtime: connection ended; reconnecting", "err", err, "in", wait)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = next
	}
}

// connectOnce opens, logs in, restores every topic and serves one
// connection until it ends.
func (s *Session) connectOnce() error {
	var route Route
	if s.cfg.Upstream != nil {
		var err error
		if route, err = s.cfg.Upstream.Route(s.ctx); err != nil {
			return fmt.Errorf("route: %w", err)
		}
		if route.Ended != nil {
			defer func() { route.Ended(s.opened) }()
		}
	}
	s.relayed = route.Relay
	url := s.cfg.URL
	if route.URL != "" {
		url = route.URL
	}
	var key string
	if !route.Relay {
		tctx, cancel := context.WithTimeout(s.ctx, kauth.DefaultIssueTimeout)
		tok, err := s.cfg.Keys.Token(tctx)
		cancel()
		if err != nil {
			return fmt.Errorf("credential: %w", err)
		}
		key = tok.AccessToken
	}
	dctx, cancel := context.WithTimeout(s.ctx, s.cfg.AckTimeout)
	opts := &websocket.DialOptions{HTTPClient: s.cfg.HTTPClient}
	hs, handshake := s.proto.(Handshaker)
	if handshake {
		opts.HTTPHeader = hs.Header(key)
	}
	if route.Header != nil {
		if opts.HTTPHeader == nil {
			opts.HTTPHeader = http.Header{}
		}
		for k, v := range route.Header {
			opts.HTTPHeader[k] = v
		}
	}
	conn, resp, err := websocket.Dial(dctx, url, opts)
	cancel()
	if err == nil && route.Check != nil {
		if err = route.Check(resp); err != nil {
			conn.CloseNow()
			return fmt.Errorf("dial: %w", err)
		}
	}
	if err != nil && handshake && !route.Relay && resp != nil && resp.StatusCode == http.StatusUnauthorized {
		// The credential rides in the handshake: a 401 refuses it (an
		// expired token, or one a later issuance killed). The next dial
		// takes a fresh one.
		s.log.Warn("realtime: broker refused the session credential; replacing it", "status", resp.StatusCode)
		if key != "" {
			s.cfg.Keys.Invalidate(key)
		}
		return errors.New("dial: credential refused: HTTP 401")
	}
	if re := wire.Redirect(resp); err != nil && re != nil {
		// The refused Location's host alone: the dial error would quote
		// the whole URL.
		return fmt.Errorf("dial: HTTP %d: %w", re.StatusCode, re)
	}
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	down := make(chan struct{})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.conn, s.key, s.down = conn, key, down
	s.mu.Unlock()
	if route.Done != nil {
		go func() {
			select {
			case <-route.Done:
				conn.CloseNow()
			case <-down:
			}
		}()
	}
	// read sets cause before it closes down. The next connection's read
	// loop starts only after this one has ended: they share s.pulse.
	var cause error
	go s.read(conn, down, &cause)
	defer func() {
		conn.CloseNow()
		<-down
	}()
	defer s.markDown()
	if p, ok := s.proto.(Pinger); ok {
		msg, every := p.Ping()
		pinged := make(chan struct{})
		go func() {
			defer close(pinged)
			s.ping(conn, down, msg, every)
		}()
		defer func() {
			conn.CloseNow() // ends the read loop, then down, then ping
			<-pinged
		}()
	}

	if msg := s.proto.Login(key); msg != nil {
		a, err := s.exchange(s.ctx, conn, down, msg, func(f Frame) bool { return f.Kind == FrameLogin })
		if err != nil {
			return fmt.Errorf("login: %w", err)
		}
		if !a.p.OK {
			if a.p.Rejected {
				if key != "" {
					s.cfg.Keys.Invalidate(key)
				}
			}
			return &Error{Broker: s.Broker(), Env: s.Env(), Code: a.p.Code, Message: a.p.Msg, Raw: a.raw, rejected: a.p.Rejected}
		}
	}
	restore := s.restore
	if s.decl != nil {
		restore = s.restoreDeclared
	}
	if err := restore(conn, key, down); err != nil {
		return err
	}
	s.log.Info("realtime: connected", "subscriptions", len(s.Topics()))
	<-down
	return cause
}

// unavailable records that the connection could not be opened, and tells
// every member with a topic, once per outage.
func (s *Session) unavailable(err error) {
	if err == nil {
		err = errors.New("connection ended")
	}
	err = fmt.Errorf("realtime: %s %s upstream unavailable: %w", s.Broker(), s.Env(), err)
	// Read before anyone can hear of the outage: its start for OnOutage.
	now := s.clock.Now()
	s.mu.Lock()
	first := s.unavail == nil
	s.unavail = err
	var tell []*Member
	if first && !s.closed {
		if s.told == nil {
			s.told = make(map[*Member]bool)
		}
		for m := range s.members {
			if len(m.topics) > 0 && !s.told[m] {
				s.told[m] = true
				tell = append(tell, m)
			}
		}
	}
	s.mu.Unlock()
	s.outageBegan(now)
	for _, m := range tell {
		s.deliver(m, Message{Kind: Unavailable, Err: err})
	}
}

// available records that a connection is open, and tells the members that
// heard it was not.
func (s *Session) available() {
	s.mu.Lock()
	s.unavail = nil
	tell := s.told
	s.told = nil
	s.mu.Unlock()
	s.outageEnded()
	for m := range tell {
		s.deliver(m, Message{Kind: Available})
	}
}

// restore subscribes every wanted topic on a new connection and opens it to
// Subscribe. The session counts as open again (s.opened; members that
// heard it was unavailable hear it is back) once the first topic is
// restored, or all are.
func (s *Session) restore(conn *websocket.Conn, key string, down chan struct{}) error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	s.mu.Lock()
	var todo []Topic
	for t, ts := range s.topics {
		if len(ts.members) == 0 {
			delete(s.topics, t) // unwanted: its release has nothing to undo
			continue
		}
		if !ts.live {
			todo = append(todo, t)
		}
	}
	s.mu.Unlock()
	for _, t := range todo {
		// Restoring is paced like any other subscription: the broker
		// cannot tell them apart.
		undo, err := s.turn(s.ctx)
		if err != nil {
			return fmt.Errorf("restoring %s: %w", t, err)
		}
		s.mu.Lock()
		wanted := s.topics[t] != nil
		s.mu.Unlock()
		if !wanted {
			undo() // every member left while it waited its turn
			continue
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.AckTimeout)
		a, err := s.exchange(ctx, conn, down, s.proto.Request(t, true, key), s.matcher(t, true))
		cancel()
		if err != nil {
			return fmt.Errorf("restoring %s: %w", t, err)
		}
		err = s.judge(conn, key, t, a)
		if errors.Is(err, errRetry) {
			return fmt.Errorf("restoring %s: %w", t,
				&Error{Broker: s.Broker(), Env: s.Env(), Topic: t, Code: a.p.Code, Message: a.p.Msg, Raw: a.raw, rejected: a.p.Rejected})
		}
		s.mu.Lock()
		ts := s.topics[t]
		if ts == nil && err == nil {
			// Unwanted while the frame was on its way: release it.
			s.topics[t] = &topicState{members: make(map[*Member]struct{}), live: true, was: true, ack: s.ackOf(a)}
			s.mu.Unlock()
			s.queueRelease(t)
			continue
		}
		var list []*Member
		if ts != nil {
			if ts.was {
				list = ts.list // members waiting in Subscribe get its answer instead
			}
			if err == nil {
				ts.live, ts.was, ts.ack = true, true, s.ackOf(a)
			} else {
				list = ts.list
				delete(s.topics, t)
				for _, m := range list {
					delete(m.topics, t)
				}
			}
		}
		s.mu.Unlock()
		if !s.opened {
			s.opened = true
			s.available()
		}
		kind := Restored
		if err != nil {
			kind = Lost
			s.log.Warn("realtime: a subscription could not be restored", "topic", t.String(), "err", err)
		}
		for _, m := range list {
			s.deliver(m, Message{Kind: kind, Topic: t, Raw: a.raw})
		}
	}
	if !s.opened {
		s.opened = true
		s.available()
	}
	s.mu.Lock()
	close(s.ready)
	s.mu.Unlock()
	return nil
}

// markDown records the end of the connection and tells the members.
func (s *Session) markDown() {
	s.mu.Lock()
	s.conn = nil
	select {
	case <-s.ready:
		s.ready = make(chan struct{})
	default:
	}
	affected := map[*Member]bool{}
	for _, ts := range s.topics {
		if ts.live {
			for _, m := range ts.list {
				affected[m] = true
			}
		}
		ts.live = false
		if s.decl != nil && isClosed(ts.settled) {
			ts.settled = make(chan struct{})
		}
	}
	s.declared = nil
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return
	}
	for m := range affected {
		s.deliver(m, Message{Kind: Interrupted})
	}
}

// read serves the connection's incoming messages until it ends, and sets
// *cause to why it did.
func (s *Session) read(conn *websocket.Conn, down chan struct{}, cause *error) {
	defer close(down)
	defer conn.CloseNow()
	s.pulse.reset()
	for {
		// An expired Read closes the connection, which is what a silent
		// one deserves.
		beat := s.pulse.period()
		wait := silence(beat, s.cfg.KeepAliveMisses, s.cfg.IdleTimeout)
		rctx, cancel := context.WithTimeout(s.ctx, wait)
		_, msg, err := conn.Read(rctx)
		expired := errors.Is(rctx.Err(), context.DeadlineExceeded)
		cancel()
		if err != nil {
			switch {
			case s.ctx.Err() != nil:
				*cause = ErrClosed
			case expired:
				*cause = &silentError{silence: wait, beat: beat}
			default:
				*cause = fmt.Errorf("realtime: reading from the broker: %w", err)
			}
			return
		}
		p := s.proto.Parse(msg)
		switch p.Kind {
		case FrameData:
			s.framesIn.Add(1)
			s.route(p, msg)
		case FrameKeepAlive:
			s.pulse.beat(time.Now())
			s.beat.Store(int64(s.pulse.period()))
			// KIS and Kiwoom close a session whose keep-alives go
			// unanswered; both official clients echo the frame back. A
			// Pinger's keep-alive is the answer to the Session's own.
			if _, pinger := s.proto.(Pinger); !pinger {
				wctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
				err := conn.Write(wctx, websocket.MessageText, msg)
				cancel()
				if err != nil {
					*cause = fmt.Errorf("realtime: echoing the keep-alive: %w", err)
					return
				}
			}
			s.mu.Lock()
			members := make([]*Member, 0, len(s.members))
			for m := range s.members {
				members = append(members, m)
			}
			s.mu.Unlock()
			for _, m := range members {
				s.deliver(m, Message{Kind: KeepAlive, Raw: msg})
			}
		case FrameAnswer, FrameLogin:
			s.mu.Lock()
			w := s.waiter
			if w != nil && w.match(p) {
				s.waiter = nil
			} else {
				w = nil
			}
			s.mu.Unlock()
			if w != nil {
				w.ch <- answer{p: p, raw: msg}
			}
		case FrameSystem:
			s.log.Warn("realtime: broker notice", "code", p.Code, "message", p.Msg)
		}
	}
}

// route fans a data frame out to the members of its topic.
func (s *Session) route(p Frame, msg []byte) {
	if p.Entries == nil {
		s.mu.Lock()
		var list []*Member
		if p.ByID {
			seen := map[*Member]bool{}
			for t, ts := range s.topics {
				if t.ID == p.Topic.ID {
					for _, m := range ts.list {
						if !seen[m] {
							seen[m] = true
							list = append(list, m)
						}
					}
				}
			}
		} else if ts := s.topics[p.Topic]; ts != nil {
			list = ts.list
		}
		s.mu.Unlock()
		for _, m := range list {
			s.deliver(m, Message{Kind: Data, Topic: p.Topic, Raw: msg})
		}
		return
	}
	// Kiwoom: one REAL frame may carry several items; each member gets the
	// frame as is when all of them are its own, else only its entries.
	per := map[*Member][]int{}
	var order []*Member
	s.mu.Lock()
	for i, t := range p.Entries {
		if ts := s.topics[t]; ts != nil {
			for _, m := range ts.list {
				if _, ok := per[m]; !ok {
					order = append(order, m)
				}
				per[m] = append(per[m], i)
			}
		}
	}
	s.mu.Unlock()
	for _, m := range order {
		idx := per[m]
		raw := msg
		if len(idx) != len(p.Entries) {
			sub := make([]json.RawMessage, len(idx))
			for j, i := range idx {
				sub[j] = p.Raw[i]
			}
			raw, _ = json.Marshal(struct {
				Trnm string            `json:"trnm"`
				Data []json.RawMessage `json:"data"`
			}{"REAL", sub})
		}
		s.deliver(m, Message{Kind: Data, Topic: p.Entries[idx[0]], Raw: raw})
	}
}

// deliver queues msg for m without blocking; a full queue drops m.
func (s *Session) deliver(m *Member, msg Message) {
	if m.isDone() {
		return
	}
	select {
	case m.ch <- msg:
		s.framesOut.Add(1)
	default:
		if m.end(ErrSlow) {
			s.drops.Add(1)
			s.log.Warn("realtime: a member did not keep up; dropped it", "buffer", cap(m.ch))
		}
	}
}

// Member is one subscriber of a Session. Its methods are safe for
// concurrent use.
type Member struct {
	s      *Session
	ch     chan Message
	done   chan struct{}
	once   sync.Once
	errMu  sync.Mutex
	err    error
	topics map[Topic]bool // guarded by s.mu
}

// Subscribe subscribes the member to t, upstream if no other member has,
// and returns the broker's answer. It waits, bounded by ctx, while the
// session connects or reconnects. Errors are *Error (the broker's refusal;
// errors.Is(err, ErrLimit) past the subscription limit), ErrClosed,
// ErrCanceled (the member unsubscribed t before it went upstream), or ctx's
// error.
func (m *Member) Subscribe(ctx context.Context, t Topic) (Ack, error) {
	return m.s.subscribe(ctx, m, t)
}

// Unsubscribe removes the member from t, and t upstream if it was the last.
// It returns ErrNotSubscribed if the member did not hold t.
func (m *Member) Unsubscribe(ctx context.Context, t Topic) error {
	return m.s.unsubscribe(ctx, m, t)
}

// Topics returns the topics the member holds or is subscribing to, sorted.
func (m *Member) Topics() []Topic {
	m.s.mu.Lock()
	ts := make([]Topic, 0, len(m.topics))
	for t := range m.topics {
		ts = append(ts, t)
	}
	m.s.mu.Unlock()
	slices.SortFunc(ts, func(a, b Topic) int { return strings.Compare(a.String(), b.String()) })
	return ts
}

// Messages returns the member's queue. It is never closed: select on Done
// as well.
func (m *Member) Messages() <-chan Message { return m.ch }

// Done is closed when the member ends: Close, ErrSlow or the Session's
// Close.
func (m *Member) Done() <-chan struct{} { return m.done }

// Err says why the member ended, or nil while it lives.
func (m *Member) Err() error {
	m.errMu.Lock()
	defer m.errMu.Unlock()
	return m.err
}

// Close ends the member and frees its subscriptions (upstream as well when
// it held the last of them).
func (m *Member) Close() {
	if m.end(ErrClosed) {
		m.s.leave(m)
	}
}

func (m *Member) isDone() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// end ends the member; only the first call counts, and frees the member's
// subscriptions in the background unless the caller does (Close).
func (m *Member) end(err error) bool {
	first := false
	m.once.Do(func() {
		m.errMu.Lock()
		m.err = err
		m.errMu.Unlock()
		close(m.done)
		first = true
		if err != ErrClosed {
			go m.s.leave(m)
		}
	})
	return first
}
