package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/config"
	"github.com/kauth/kauth/realtime"
)

// DefaultWSClientBuffer is how many messages the WebSocket gateway queues
// for one local client before it gives up on it (see Options.WSClientBuffer).
const DefaultWSClientBuffer = 1024

// WSCloseSlow is the close status a local WebSocket client gets when it did
// not read fast enough and its queue overflowed: 1008 (policy violation),
// with the reason "kauth: client too slow; frames dropped".
const WSCloseSlow = websocket.StatusPolicyViolation

// gateway is the agent's WebSocket side: one approval-key Manager (for a
// broker whose sessions need one, see approvalIssuer) and
// one upstream realtime.Session per app key and broker URL, shared by every
// local client of every account of that app key.
type gateway struct {
	a *Agent

	mu        sync.Mutex
	approvals map[upstreamID]*kauth.Manager
	sessions  map[upstreamID]*realtime.Session
	closed    bool
	// live are the local clients connected now, each marked true if a key
	// admitted it (TCP, a facade port) rather than the unix socket's mode.
	live map[*wsClient]bool

	clients atomic.Int64
}

// track adds cl to the live clients until the returned func is called.
func (g *gateway) track(cl *wsClient, keyed bool) func() {
	g.mu.Lock()
	if g.live == nil {
		g.live = map[*wsClient]bool{}
	}
	g.live[cl] = keyed
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		delete(g.live, cl)
		g.mu.Unlock()
	}
}

// closeKeyed closes every client a key admitted, after the agent's keys
// changed: a key that was rotated must not keep the doors it opened, and
// a bot whose key still holds connects again at once. The unix socket's
// clients, admitted by its mode, stay.
func (g *gateway) closeKeyed() {
	g.mu.Lock()
	var keyed []*wsClient
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

type upstreamID struct {
	key  kauth.Key
	base string
}

func newGateway(a *Agent) *gateway {
	g := &gateway{a: a, approvals: map[upstreamID]*kauth.Manager{}, sessions: map[upstreamID]*realtime.Session{}}
	a.metrics.Register(&wsCollector{g: g})
	return g
}

func idOf(acct *account) upstreamID {
	return upstreamID{key: acct.creds.Key(), base: acct.baseURL.String()}
}

// approvalManager returns the approval-key Manager of acct's app key.
func (g *gateway) approvalManager(acct *account) (*kauth.Manager, error) {
	ai, ok := acct.mgr.Provider().(approvalIssuer)
	if !ok {
		return nil, fmt.Errorf("agent: account %s: %s has no approval keys; its real-time sessions log in with the access token", acct.name, acct.creds.Broker)
	}
	id := idOf(acct)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, errors.New("agent: closed")
	}
	if m := g.approvals[id]; m != nil {
		return m, nil
	}
	a := g.a
	m, err := ai.NewApprovalManager(kauth.Config{
		Credentials: acct.creds,
		Store:       a.store,
		Group:       a.group,
		Clock:       a.clock,
		Logger:      a.log.With("account", acct.name, "credential", "approval_key"),
	})
	if err != nil {
		return nil, err
	}
	g.approvals[id] = m
	return m, nil
}

// realtimeBroker is a broker with a real-time protocol that the gateway
// can speak to local clients.
type realtimeBroker interface {
	Realtime() realtime.Protocol
}

// protocolOf returns the real-time protocol of p's broker, or nil.
func protocolOf(p kauth.Provider) realtime.ClientProtocol {
	rb, ok := p.(realtimeBroker)
	if !ok {
		return nil
	}
	cp, _ := rb.Realtime().(realtime.ClientProtocol)
	return cp
}

// session returns the upstream session of acct's app key and its protocol.
// Its credential is the broker's approval key if the broker has one
// (approvalIssuer), else the access token.
func (g *gateway) session(acct *account) (*realtime.Session, realtime.ClientProtocol, error) {
	proto := protocolOf(acct.mgr.Provider())
	if proto == nil {
		return nil, nil, fmt.Errorf("agent: account %s: %s has no real-time protocol kauth can serve", acct.name, acct.creds.Broker)
	}
	var keys realtime.Keys = acct.mgr
	if _, ok := acct.mgr.Provider().(approvalIssuer); ok {
		m, err := g.approvalManager(acct)
		if err != nil {
			return nil, nil, err
		}
		keys = m
	}
	id := idOf(acct)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, nil, errors.New("agent: closed")
	}
	if s := g.sessions[id]; s != nil {
		return s, proto, nil
	}
	s, err := realtime.New(realtime.Config{
		Credentials: acct.creds,
		Keys:        keys,
		Protocol:    proto,
		URL:         proto.URL(acct.creds.Env, acct.baseURL.String()),
		HTTPClient:  g.a.client,
		Logger:      g.a.log.With("account", acct.name),
		ControlRate: acct.wsControlRate,
		Quiet:       acct.quiet,
		Clock:       g.a.clock,
		OnOutage:    g.a.outageAlert(acct),
		OutageAfter: time.Duration(g.a.wsOutageAfter.Load()),
	})
	if err != nil {
		return nil, nil, err
	}
	g.sessions[id] = s
	return s, proto, nil
}

// close ends every session (clients get 1001 going away) and Manager.
func (g *gateway) close() {
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
	for _, m := range approvals {
		m.Close()
	}
}

func (g *gateway) clientBuffer() int {
	if n := g.a.wsClientBuffer; n > 0 {
		return n
	}
	return DefaultWSClientBuffer
}

// ApprovalResponse is the answer of GET /v1/accounts/{name}/approval.
type ApprovalResponse struct {
	ApprovalKey string       `json:"approval_key"`
	ExpiresAt   string       `json:"expires_at"` // RFC 3339 in KST (+09:00)
	Broker      kauth.Broker `json:"broker"`
	Env         kauth.Env    `json:"env"`
}

// serveApproval answers the account's managed KIS approval key.
func (a *Agent) serveApproval(w http.ResponseWriter, r *http.Request) {
	acct := a.account(w, r, r.PathValue("name"))
	if acct == nil {
		return
	}
	defer acct.done()
	m, err := a.ws.approvalManager(acct)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	tok, err := m.Token(r.Context())
	if err != nil {
		writeKauthError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ApprovalResponse{
		ApprovalKey: tok.AccessToken,
		ExpiresAt:   tok.ExpiresAt.In(kauth.KST).Format(time.RFC3339),
		Broker:      acct.creds.Broker,
		Env:         acct.creds.Env,
	})
}

// serveWS serves ws://…/ws/{account}: the broker's own WebSocket protocol,
// over the app key's one upstream session. The guard has already applied
// the agent's access rules (socket mode, key, Origin, Host).
func (a *Agent) serveWS(w http.ResponseWriter, r *http.Request) {
	acct := a.account(w, r, r.PathValue("account"))
	if acct == nil {
		return
	}
	// A WebSocket lives as long as its bot: it must not hold up a Reload's
	// drain, which waits for requests, not for sessions (the gateway's
	// sessions end with the agent).
	acct.done()
	if !isUpgrade(r) {
		writeError(w, http.StatusBadRequest, "bad_request", "GET /ws/"+acct.name+" is a WebSocket endpoint: connect with a WebSocket client")
		return
	}
	a.serveGateway(w, r, acct)
}

// isUpgrade reports whether r asks for a WebSocket.
func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// serveGateway serves one local WebSocket client of acct, whose access
// the caller has checked (and whose request it has marked done).
func (a *Agent) serveGateway(w http.ResponseWriter, r *http.Request, acct *account) {
	// A client of a facade port joins only once its first frame carries
	// the account's credential (port.go): until then it gets nothing, and
	// no upstream session is opened for it.
	gate, _ := r.Context().Value(wsGateKey{}).(func([]byte) bool)
	var sess *realtime.Session
	var proto realtime.ClientProtocol
	var err error
	if gate == nil {
		if sess, proto, err = a.ws.session(acct); err != nil {
			writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
			return
		}
	}
	// The guard refused every request with an Origin header, so the
	// library's own Origin check has nothing left to do.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 16)
	var first []byte
	if gate != nil {
		var ok bool
		if first, ok = a.admitWS(r.Context(), c, acct, gate); !ok {
			return
		}
		if sess, proto, err = a.ws.session(acct); err != nil {
			c.Close(websocket.StatusTryAgainLater, "kauth: "+err.Error())
			return
		}
	}
	a.ws.clients.Add(1)
	defer a.ws.clients.Add(-1)
	cl := &wsClient{a: a, acct: acct, c: c, m: sess.Join(a.ws.clientBuffer())}
	defer cl.m.Close()
	defer a.ws.track(cl, r.Context().Value(connKind{}) != "unix")()
	cl.proto = proto.NewClient(realtime.ClientConfig{Member: cl.m, MaxSubscriptions: acct.wsClientMax, Send: cl.send})
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		cl.write(ctx)
		cancel()
	}()
	cl.read(ctx, first)
}

// wsClient is one local WebSocket client: the gateway carries its messages,
// and its broker's protocol (realtime.Client) speaks to it.
type wsClient struct {
	a     *Agent
	acct  *account
	c     *websocket.Conn
	m     *realtime.Member
	proto realtime.Client
}

// send writes one text message to the client.
func (cl *wsClient) send(ctx context.Context, msg []byte) error {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return cl.c.Write(wctx, websocket.MessageText, msg)
}

// write forwards the member's messages until it ends, then closes the
// client with a status that says why.
func (cl *wsClient) write(ctx context.Context) {
	for {
		select {
		case <-cl.m.Done():
			cl.closeFor(cl.m.Err())
			return
		default:
		}
		select {
		case <-ctx.Done():
			return
		case <-cl.m.Done():
			cl.closeFor(cl.m.Err())
			return
		case msg := <-cl.m.Messages():
			for _, out := range cl.proto.Translate(msg) {
				if cl.send(ctx, out) != nil {
					return
				}
			}
		}
	}
}

func (cl *wsClient) closeFor(err error) {
	switch {
	case errors.Is(err, realtime.ErrSlow):
		cl.a.log.Warn("agent: websocket client too slow; closing it", "account", cl.acct.name)
		cl.c.Close(WSCloseSlow, "kauth: client too slow; frames dropped")
	default:
		cl.c.Close(websocket.StatusGoingAway, "kauth agent closing")
	}
}

// read serves the client's requests until it goes, starting with first
// if it is not nil (a frame already read).
func (cl *wsClient) read(ctx context.Context, first []byte) {
	defer cl.proto.Close()
	for {
		data := first
		if first = nil; data == nil {
			var err error
			if _, data, err = cl.c.Read(ctx); err != nil {
				return
			}
		}
		for _, a := range cl.proto.Handle(ctx, data) {
			if cl.send(ctx, a) != nil {
				return
			}
		}
	}
}

// wsCollector reports the gateway's state at scrape time.
type wsCollector struct{ g *gateway }

var (
	wsSessionsDesc = prometheus.NewDesc("kauth_ws_upstream_sessions",
		"Upstream WebSocket sessions connected now, per app key.", []string{"broker", "env", "app"}, nil)
	wsSubsDesc = prometheus.NewDesc("kauth_ws_subscriptions",
		"Topics subscribed upstream now, per app key.", []string{"broker", "env", "app"}, nil)
	wsMembersDesc = prometheus.NewDesc("kauth_ws_members",
		"Local clients joined to the app key's session.", []string{"broker", "env", "app"}, nil)
	wsInDesc = prometheus.NewDesc("kauth_ws_frames_in_total",
		"Data frames received from the broker.", []string{"broker", "env", "app"}, nil)
	wsOutDesc = prometheus.NewDesc("kauth_ws_frames_out_total",
		"Messages queued to local clients.", []string{"broker", "env", "app"}, nil)
	wsDropsDesc = prometheus.NewDesc("kauth_ws_slow_client_drops_total",
		"Local clients closed because they did not keep up.", []string{"broker", "env", "app"}, nil)
	wsReconnectsDesc = prometheus.NewDesc("kauth_ws_reconnects_total",
		"Upstream connections opened after the first.", []string{"broker", "env", "app"}, nil)
	wsClientsDesc = prometheus.NewDesc("kauth_ws_clients",
		"Local WebSocket clients connected now.", nil, nil)
)

func (c *wsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{wsSessionsDesc, wsSubsDesc, wsMembersDesc, wsInDesc, wsOutDesc, wsDropsDesc, wsReconnectsDesc, wsClientsDesc} {
		ch <- d
	}
}

func (c *wsCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(wsClientsDesc, prometheus.GaugeValue, float64(c.g.clients.Load()))
	c.g.mu.Lock()
	sessions := make(map[upstreamID]*realtime.Session, len(c.g.sessions))
	for id, s := range c.g.sessions {
		sessions[id] = s
	}
	c.g.mu.Unlock()
	// Two broker URLs for one app key (rare) add up under one label set.
	type sums struct{ conn, subs, members, in, out, drops, reconnects float64 }
	by := map[kauth.Key]*sums{}
	for id, s := range sessions {
		st := s.Stats()
		x := by[id.key]
		if x == nil {
			x = new(sums)
			by[id.key] = x
		}
		if st.Connected {
			x.conn++
		}
		x.subs += float64(st.Subscriptions)
		x.members += float64(st.Members)
		x.in += float64(st.FramesIn)
		x.out += float64(st.FramesOut)
		x.drops += float64(st.Drops)
		x.reconnects += float64(st.Reconnects)
	}
	for k, x := range by {
		l := []string{string(k.Broker), string(k.Env), k.Fingerprint}
		ch <- prometheus.MustNewConstMetric(wsSessionsDesc, prometheus.GaugeValue, x.conn, l...)
		ch <- prometheus.MustNewConstMetric(wsSubsDesc, prometheus.GaugeValue, x.subs, l...)
		ch <- prometheus.MustNewConstMetric(wsMembersDesc, prometheus.GaugeValue, x.members, l...)
		ch <- prometheus.MustNewConstMetric(wsInDesc, prometheus.CounterValue, x.in, l...)
		ch <- prometheus.MustNewConstMetric(wsOutDesc, prometheus.CounterValue, x.out, l...)
		ch <- prometheus.MustNewConstMetric(wsDropsDesc, prometheus.CounterValue, x.drops, l...)
		ch <- prometheus.MustNewConstMetric(wsReconnectsDesc, prometheus.CounterValue, x.reconnects, l...)
	}
}

// DefaultWSClientMaxSubscriptions returns how many topics one local
// WebSocket client may hold by default: half of what the broker allows one
// session (KIS 20 of 41, Kiwoom 50 of 100; its real-time protocol's
// Limits), so that one bot always leaves room for others. A broker with no
// real-time protocol gets 0.
func DefaultWSClientMaxSubscriptions(b kauth.Broker) int {
	return config.DefaultWSClientMax(providerOf(b))
}
