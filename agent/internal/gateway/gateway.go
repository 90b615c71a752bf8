// Package gateway is the agent's WebSocket gateway. It serves local
// WebSocket clients their broker's own real-time protocol over one
// upstream realtime.Session per app key and broker URL, shared by every
// local client of every account of that app key, and it holds the
// approval-key Manager of a broker whose sessions log in with a key of
// their own (KIS) rather than with the access token.
//
// What it needs of an account it asks of an Account; what it shares with
// the rest of the agent (the token store, the Managers' group, the clock,
// the HTTP client, the logger) it is given in a Config. It knows no broker
// by name: the broker's real-time protocol comes from its Provider.
package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/lograte"
	"github.com/kauth/kauth/agent/internal/rtowner"
	"github.com/kauth/kauth/internal/promtext"
	"github.com/kauth/kauth/realtime"
)

// DefaultClientBuffer is how many messages the gateway queues for one
// local client before it gives up on it (Config.ClientBuffer).
const DefaultClientBuffer = 1024

// CloseSlow is the close status a local client gets when it did not read
// fast enough and its queue overflowed: 1008 (policy violation), with the
// reason "kauth: client too slow; frames dropped".
const CloseSlow = websocket.StatusPolicyViolation

// DefaultAdmitTimeout bounds the wait for the first frame of a client
// whose Admission has a Gate.
const DefaultAdmitTimeout = 10 * time.Second

// DefaultMaxAwaiting is how many clients of one account may await
// admission (their Admission has a Gate, their first frame has not come)
// at once (Config.MaxAwaiting).
const DefaultMaxAwaiting = 64

// AdmitReadLimit is the largest first frame a gated client may send: a
// client that sends more is closed with 1009 (message too big) before its
// frame is checked.
const AdmitReadLimit = 1 << 16

// ErrBusy is what Serve answers when an account has Config.MaxAwaiting
// clients awaiting admission already: the caller answers 503.
var ErrBusy = errors.New("kauth: too many WebSocket clients of this port await admission; try again shortly")

// Account is one account as the gateway serves it. An Account's answers
// do not change for as long as it is served: an agent replaces an account
// whose settings change with a new one.
type Account interface {
	// Name names the account in log lines and errors.
	Name() string
	// Manager is the account's token Manager. Its Credentials name the
	// broker, env and app key, whose upstream session every account of
	// the app key at the same Settings.BaseURL shares; its Provider, if it
	// has a Realtime() realtime.Protocol method returning a
	// realtime.ClientProtocol, is the broker's real-time protocol; and its
	// tokens are the session's credential unless Settings.NewApprovalManager
	// is set.
	Manager() *kauth.Manager
	// Realtime returns the account's real-time settings.
	Realtime() Settings
}

// Settings are an account's real-time settings.
type Settings struct {
	// BaseURL is the broker URL the account is served at; the broker's
	// WebSocket URL is derived from it by the real-time protocol.
	BaseURL string
	// NewApprovalManager, if set, makes the Manager of the approval key
	// the broker's real-time sessions log in with (cfg.Provider left nil);
	// nil means they log in with the access token.
	NewApprovalManager func(cfg kauth.Config) (*kauth.Manager, error)
	// ClientMaxSubscriptions is how many topics one local client may hold.
	ClientMaxSubscriptions int
	// ControlRate paces the control frames of the app key's session (the
	// first account of the app key to open it sets it); zero means the
	// protocol's rate.
	ControlRate float64
	// Quiet, if set, tells the session when the market is closed.
	Quiet realtime.QuietFunc
	// OnOutage and OutageAfter, if OnOutage is set, are told of an outage
	// of the app key's session that lasts OutageAfter, and of its end
	// (realtime.Config.OnOutage; the first account of the app key to open
	// the session sets them).
	OnOutage    func(realtime.Outage)
	OutageAfter time.Duration
}

// Config is what a Gateway shares with the rest of the agent.
type Config struct {
	// Store, Group and Clock are those of the approval-key Managers, as in
	// kauth.Config; the Clock paces the sessions' control frames too. Nil
	// means kauth.Config's and realtime.Config's defaults.
	Store kauth.Store
	Group *kauth.Group
	Clock kauth.Clock
	// HTTPClient dials the upstream sessions. Nil means realtime's default.
	HTTPClient *http.Client
	// Logger receives the gateway's lines and its sessions' and approval
	// Managers', each with the account's name. Nil means slog.Default().
	Logger *slog.Logger
	// ClientBuffer is how many messages the gateway queues for one local
	// client before closing it with CloseSlow. Zero means
	// DefaultClientBuffer.
	ClientBuffer int
	// AdmitTimeout bounds the wait for a gated client's first frame. Zero
	// means DefaultAdmitTimeout.
	AdmitTimeout time.Duration
	// MaxAwaiting is how many gated clients of one account may await
	// their first frame's check at once; Serve refuses more with ErrBusy
	// before the upgrade. Zero means DefaultMaxAwaiting.
	MaxAwaiting int
	// Share, if set, makes the agents on one Redis store hold each app
	// key's upstream session once between them (relay.go): it returns the
	// rtowner.Upstream of the session of app key key named name, a name
	// the same on every agent. Nil: every session goes to the broker.
	Share func(key kauth.Key, name string, log *slog.Logger) *rtowner.Upstream
	// RelaySecret authenticates the other agents' relay requests
	// (rtowner.Secret of the store key); required with Share.
	RelaySecret []byte
}

// Gateway is the agent's WebSocket side: one approval-key Manager (for a
// broker whose sessions need one) and one upstream realtime.Session per
// app key and broker URL. Create it with New and stop it with Close. It is
// safe for concurrent use.
type Gateway struct {
	c   Config
	log *slog.Logger

	mu        sync.Mutex
	approvals map[upstreamID]*kauth.Manager
	sessions  map[upstreamID]*realtime.Session
	shared    map[upstreamID]*shared // sessions held once among agents (relay.go)
	closed    bool
	// verifier refuses a relay request's nonce seen before (relay.go).
	verifier rtowner.Verifier
	// live are the local clients connected now, each marked true if a key
	// admitted it (Admission.Keyed).
	live map[*client]bool

	// awaiting counts the gated clients of each account awaiting
	// admission (Config.MaxAwaiting).
	awaiting map[string]int
	// refusals and busy thin out the log lines of clients refused for
	// their credential and for MaxAwaiting, per account; relayRefusals,
	// those of relay requests refused for their proof.
	refusals, busy, relayRefusals *lograte.Limiter

	clients atomic.Int64
}

// upstreamID names one upstream session: an app key at one broker URL.
type upstreamID struct {
	key  kauth.Key
	base string
}

func idOf(acct Account) upstreamID {
	return upstreamID{key: acct.Manager().Credentials().Key(), base: acct.Realtime().BaseURL}
}

// errClosed is what a closed Gateway answers.
var errClosed = errors.New("agent: closed")

// New returns a Gateway working with c.
func New(c Config) *Gateway {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ClientBuffer <= 0 {
		c.ClientBuffer = DefaultClientBuffer
	}
	if c.AdmitTimeout <= 0 {
		c.AdmitTimeout = DefaultAdmitTimeout
	}
	if c.MaxAwaiting <= 0 {
		c.MaxAwaiting = DefaultMaxAwaiting
	}
	now := time.Now
	if c.Clock != nil {
		now = c.Clock.Now
	}
	return &Gateway{c: c, log: c.Logger, approvals: map[upstreamID]*kauth.Manager{}, sessions: map[upstreamID]*realtime.Session{},
		awaiting: map[string]int{}, refusals: lograte.New(0, now), busy: lograte.New(0, now), relayRefusals: lograte.New(0, now)}
}

// ApprovalManager returns the approval-key Manager of acct's app key,
// making it on first use; acct's broker must issue approval keys
// (Settings.NewApprovalManager).
func (g *Gateway) ApprovalManager(acct Account) (*kauth.Manager, error) {
	newManager := acct.Realtime().NewApprovalManager
	if newManager == nil {
		creds := acct.Manager().Credentials()
		return nil, fmt.Errorf("agent: account %s: %s has no approval keys; its real-time sessions log in with the access token", acct.Name(), creds.Broker)
	}
	id := idOf(acct)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, errClosed
	}
	if m := g.approvals[id]; m != nil {
		return m, nil
	}
	m, err := newManager(kauth.Config{
		Credentials: acct.Manager().Credentials(),
		Store:       g.c.Store,
		Group:       g.c.Group,
		Clock:       g.c.Clock,
		Logger:      g.log.With("account", acct.Name(), "credential", "approval_key"),
	})
	if err != nil {
		return nil, err
	}
	g.approvals[id] = m
	return m, nil
}

// CachedApproval returns acct's app key's approval key if the gateway
// holds one, without making one; "" if it holds none.
func (g *Gateway) CachedApproval(acct Account) string {
	g.mu.Lock()
	m := g.approvals[idOf(acct)]
	g.mu.Unlock()
	if m == nil {
		return ""
	}
	t, _ := m.Cached()
	return t.AccessToken
}

// realtimeBroker is a broker with a real-time protocol.
type realtimeBroker interface {
	Realtime() realtime.Protocol
}

// protocolOf returns the real-time protocol of p's broker that the gateway
// can speak to local clients, or nil.
func protocolOf(p kauth.Provider) realtime.ClientProtocol {
	rb, ok := p.(realtimeBroker)
	if !ok {
		return nil
	}
	cp, _ := rb.Realtime().(realtime.ClientProtocol)
	return cp
}

// session returns the upstream session of acct's app key and its
// protocol, opening it on first use. Its credential is the broker's
// approval key if the broker has one, else the access token.
func (g *Gateway) session(acct Account) (*realtime.Session, realtime.ClientProtocol, error) {
	mgr, set := acct.Manager(), acct.Realtime()
	creds := mgr.Credentials()
	proto := protocolOf(mgr.Provider())
	if proto == nil {
		return nil, nil, fmt.Errorf("agent: account %s: %s has no real-time protocol kauth can serve", acct.Name(), creds.Broker)
	}
	var keys realtime.Keys = mgr
	if set.NewApprovalManager != nil {
		m, err := g.ApprovalManager(acct)
		if err != nil {
			return nil, nil, err
		}
		keys = m
	}
	id := idOf(acct)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, nil, errClosed
	}
	if s := g.sessions[id]; s != nil {
		return s, proto, nil
	}
	// The broker, or the agent that holds the session for all agents
	// sharing the app key (relay.go).
	up := g.upstream(acct, id, proto)
	s, err := realtime.New(realtime.Config{
		Credentials: creds,
		Keys:        keys,
		Protocol:    proto,
		URL:         proto.URL(creds.Env, set.BaseURL),
		HTTPClient:  g.c.HTTPClient,
		Logger:      g.log.With("account", acct.Name()),
		ControlRate: set.ControlRate,
		Quiet:       set.Quiet,
		Clock:       g.c.Clock,
		OnOutage:    set.OnOutage,
		OutageAfter: set.OutageAfter,
		Upstream:    up,
	})
	if err != nil {
		g.dropShared(id)
		return nil, nil, err
	}
	g.sessions[id] = s
	return s, proto, nil
}

// track adds cl to the live clients until the returned func is called.
func (g *Gateway) track(cl *client, keyed bool) func() {
	g.mu.Lock()
	if g.live == nil {
		g.live = map[*client]bool{}
	}
	g.live[cl] = keyed
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		delete(g.live, cl)
		g.mu.Unlock()
	}
}

// CloseKeyed closes every client a key admitted (Admission.Keyed), after
// the agent's keys changed: a key that was rotated must not keep the doors
// it opened, and a bot whose key still holds connects again at once. The
// other clients (the unix socket's, admitted by its mode) stay.
func (g *Gateway) CloseKeyed() {
	g.mu.Lock()
	var keyed []*client
	for cl, k := range g.live {
		if k {
			keyed = append(keyed, cl)
		}
	}
	g.mu.Unlock()
	for _, cl := range keyed {
		go cl.c.Close(websocket.StatusPolicyViolation, "kauth: the agent's keys changed; connect again with your key")
	}
}

// Close ends every session (their clients get 1001 going away) and
// approval-key Manager. A closed Gateway serves no one.
func (g *Gateway) Close() {
	g.mu.Lock()
	g.closed = true
	sessions, approvals := g.sessions, g.approvals
	g.sessions, g.approvals = map[upstreamID]*realtime.Session{}, map[upstreamID]*kauth.Manager{}
	g.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() { s.Close() })
	}
	wg.Wait()
	g.closeShared()
	for _, m := range approvals {
		m.Close()
	}
}

// Collector returns the collector of the gateway's metrics, which reports
// its sessions and clients at scrape time.
func (g *Gateway) Collector() promtext.Collector { return newCollector(g) }
