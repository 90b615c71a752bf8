package agent

import (
	"context"
	"encoding/json"
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
	"github.com/kauth/kauth/kis"
	"github.com/kauth/kauth/realtime"
)

// DefaultWSClientBuffer is how many messages the WebSocket gateway queues
// for one local client before it gives up on it (see Options.WSClientBuffer).
const DefaultWSClientBuffer = 1024

// WSCloseSlow is the close status a local WebSocket client gets when it did
// not read fast enough and its queue overflowed: 1008 (policy violation),
// with the reason "kauth: client too slow; frames dropped".
const WSCloseSlow = websocket.StatusPolicyViolation

// gateway is the agent's WebSocket side: one approval-key Manager (KIS) and
// one upstream realtime.Session per app key and broker URL, shared by every
// local client of every account of that app key.
type gateway struct {
	a *Agent

	mu        sync.Mutex
	approvals map[upstreamID]*kauth.Manager
	sessions  map[upstreamID]*realtime.Session
	closed    bool

	clients atomic.Int64
}

type upstreamID struct {
	key  kauth.Key
	base string
}

func newGateway(a *Agent) *gateway {
	g := &gateway{a: a, approvals: map[upstreamID]*kauth.Manager{}, sessions: map[upstreamID]*realtime.Session{}}
	a.metrics.reg.MustRegister(&wsCollector{g: g})
	return g
}

func idOf(acct *account) upstreamID {
	return upstreamID{key: acct.creds.Key(), base: acct.baseURL.String()}
}

// approvalManager returns the approval-key Manager of acct's app key.
func (g *gateway) approvalManager(acct *account) (*kauth.Manager, error) {
	if acct.creds.Broker != kauth.KIS {
		return nil, fmt.Errorf("agent: account %s: approval keys are KIS's; %s real-time sessions log in with the access token", acct.name, acct.creds.Broker)
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
	m, err := kis.NewApprovalManager(&kis.Provider{BaseURL: acct.baseURL.String(), HTTPClient: a.client, Now: a.clock.Now}, kauth.Config{
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

// session returns the upstream session of acct's app key.
func (g *gateway) session(acct *account) (*realtime.Session, error) {
	var keys realtime.Keys = acct.mgr
	if acct.creds.Broker == kauth.KIS {
		m, err := g.approvalManager(acct)
		if err != nil {
			return nil, err
		}
		keys = m
	}
	id := idOf(acct)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, errors.New("agent: closed")
	}
	if s := g.sessions[id]; s != nil {
		return s, nil
	}
	s, err := realtime.New(realtime.Config{
		Credentials: acct.creds,
		Keys:        keys,
		URL:         realtime.URL(acct.creds.Broker, acct.creds.Env, acct.baseURL.String()),
		HTTPClient:  g.a.client,
		Logger:      g.a.log.With("account", acct.name),
		ControlRate: acct.wsControlRate,
		Clock:       g.a.clock,
	})
	if err != nil {
		return nil, err
	}
	g.sessions[id] = s
	return s, nil
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
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		writeError(w, http.StatusBadRequest, "bad_request", "GET /ws/"+acct.name+" is a WebSocket endpoint: connect with a WebSocket client")
		return
	}
	sess, err := a.ws.session(acct)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		return
	}
	// The guard refused every request with an Origin header, so the
	// library's own Origin check has nothing left to do.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 16)
	a.ws.clients.Add(1)
	defer a.ws.clients.Add(-1)
	cl := &wsClient{a: a, acct: acct, c: c, m: sess.Join(a.ws.clientBuffer()), topics: map[realtime.Topic]bool{}, groups: map[string][]realtime.Topic{}}
	defer cl.m.Close()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		cl.write(ctx)
		cancel()
	}()
	cl.read(ctx)
}

// wsClient is one local WebSocket client.
type wsClient struct {
	a    *Agent
	acct *account
	c    *websocket.Conn
	m    *realtime.Member

	mu     sync.Mutex
	topics map[realtime.Topic]bool
	groups map[string][]realtime.Topic // Kiwoom grp_no → topics
	output json.RawMessage             // KIS: the key and iv of the last subscribe answer

	// pending is the KIS subscribe waiting for its answer while the next
	// request is read (only the read loop touches the pointer).
	pending *pendingSub
}

// pendingSub is a KIS subscribe on its way upstream.
type pendingSub struct {
	t      realtime.Topic
	cancel context.CancelFunc
	done   chan struct{} // closed once the client has its answer
	// undone says the client unsubscribed t before the answer; canceled
	// that nothing went upstream. Both are guarded by wsClient.mu.
	undone, canceled bool
}

func (cl *wsClient) kis() bool { return cl.acct.creds.Broker == kauth.KIS }

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
			for _, out := range cl.translate(msg) {
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

// translate turns a session message into what the client sees, in the
// broker's shape.
func (cl *wsClient) translate(msg realtime.Message) [][]byte {
	switch msg.Kind {
	case realtime.Data, realtime.KeepAlive:
		return [][]byte{msg.Raw}
	case realtime.Restored:
		if cl.kis() {
			return [][]byte{msg.Raw} // KIS's SUBSCRIBE SUCCESS, with the new key and iv
		}
		return nil
	case realtime.Lost:
		cl.mu.Lock()
		delete(cl.topics, msg.Topic)
		cl.mu.Unlock()
		return [][]byte{msg.Raw}
	case realtime.Interrupted:
		if !cl.kis() {
			// Kiwoom tells of session events with SYSTEM frames.
			return [][]byte{mustJSON(map[string]string{"trnm": "SYSTEM", "code": "kauth_interrupted",
				"message": "upstream session interrupted; kauth is restoring the registrations"})}
		}
		cl.mu.Lock()
		defer cl.mu.Unlock()
		var out [][]byte
		for t := range cl.topics {
			out = append(out, kisAnswer(t, "1", "OPSP0007", "kauth: upstream session interrupted; resubscribing", nil))
		}
		return out
	}
	return nil
}

// read serves the client's requests until it goes.
func (cl *wsClient) read(ctx context.Context) {
	defer func() {
		if p := cl.pending; p != nil {
			p.cancel()
			<-p.done
		}
	}()
	for {
		_, data, err := cl.c.Read(ctx)
		if err != nil {
			return
		}
		var answers [][]byte
		if cl.kis() {
			answers = cl.kisRequest(ctx, data)
		} else {
			answers = cl.kiwoomRequest(ctx, data)
		}
		for _, a := range answers {
			if cl.send(ctx, a) != nil {
				return
			}
		}
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// kisAnswer builds a KIS control answer (see brokersim/kis_ws.go).
func kisAnswer(t realtime.Topic, rt, code, msg string, output json.RawMessage) []byte {
	body := map[string]any{"rt_cd": rt, "msg_cd": code, "msg1": msg}
	if output != nil {
		body["output"] = output
	}
	return mustJSON(map[string]any{
		"header": map[string]string{"tr_id": t.ID, "tr_key": t.Key, "encrypt": "N"},
		"body":   body,
	})
}

// kisRequest handles a KIS subscribe or unsubscribe. The client's
// approval_key is ignored: the session uses the managed one, so a bot may
// send a placeholder.
func (cl *wsClient) kisRequest(ctx context.Context, data []byte) [][]byte {
	var req struct {
		Header struct {
			TrType string `json:"tr_type"`
			TrID   string `json:"tr_id"`
		} `json:"header"`
		Body struct {
			Input struct {
				TrID  string `json:"tr_id"`
				TrKey string `json:"tr_key"`
			} `json:"input"`
		} `json:"body"`
	}
	if json.Unmarshal(data, &req) != nil {
		return [][]byte{kisAnswer(realtime.Topic{}, "9", "OPSP9999", "JSON PARSING ERROR : invalid json format", nil)}
	}
	if req.Header.TrID == "PINGPONG" {
		return nil // the echo of a keep-alive the agent forwarded; upstream was answered already
	}
	t := realtime.Topic{ID: req.Body.Input.TrID, Key: req.Body.Input.TrKey}
	if p := cl.pending; p != nil {
		// Requests are answered in order; only an unsubscribe of the
		// pending code overtakes it, and undoes it if it has not gone
		// upstream yet.
		if req.Header.TrType == "2" && p.t == t {
			cl.mu.Lock()
			p.undone = true
			cl.mu.Unlock()
			p.cancel()
		}
		<-p.done
		cl.pending = nil
		cl.mu.Lock()
		canceled := p.canceled && p.t == t
		cl.mu.Unlock()
		if canceled {
			return [][]byte{kisAnswer(t, "0", "OPSP0001", "UNSUBSCRIBE SUCCESS", nil)}
		}
	}
	switch req.Header.TrType {
	case "1":
		if !realtime.Published(kauth.KIS, t.ID) {
			// Answered here: a made-up tr_id would take one of the
			// session's 41 slots upstream for nothing.
			return [][]byte{kisAnswer(t, "1", "OPSP0007", "invalid tr_id: kauth: "+t.ID+" is not a KIS real-time tr_id", nil)}
		}
		if !cl.room([]realtime.Topic{t}, nil) {
			return [][]byte{kisAnswer(t, "1", "OPSP0008", "MAX SUBSCRIBE OVER", nil)}
		}
		// The subscribe may wait for its turn upstream: its answer comes
		// from its own goroutine, so that an unsubscribe read meanwhile can
		// undo it.
		sctx, cancel := context.WithCancel(ctx)
		p := &pendingSub{t: t, cancel: cancel, done: make(chan struct{})}
		cl.pending = p
		go func() {
			defer close(p.done)
			defer cancel()
			ack, err := cl.m.Subscribe(sctx, t)
			cl.send(ctx, cl.kisSubscribed(p, ack, err))
		}()
		return nil
	case "2":
		err := cl.m.Unsubscribe(ctx, t)
		cl.mu.Lock()
		delete(cl.topics, t)
		cl.mu.Unlock()
		if errors.Is(err, realtime.ErrNotSubscribed) {
			return [][]byte{kisAnswer(t, "1", "OPSP0003", "UNSUBSCRIBE ERROR(not found!)", nil)}
		}
		return [][]byte{kisAnswer(t, "0", "OPSP0001", "UNSUBSCRIBE SUCCESS", nil)}
	}
	return [][]byte{kisAnswer(t, "1", "OPSP0007", "invalid tr_type", nil)}
}

// kisSubscribed is the answer to the subscribe p.
func (cl *wsClient) kisSubscribed(p *pendingSub, ack realtime.Ack, err error) []byte {
	t := p.t
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if err != nil {
		if p.undone && (errors.Is(err, context.Canceled) || errors.Is(err, realtime.ErrCanceled)) {
			// Undone before it went upstream: answered as the broker
			// would have answered the pair, with the session's key and iv.
			p.canceled = true
			return kisAnswer(t, "0", "OPSP0000", "SUBSCRIBE SUCCESS", cl.output)
		}
		return cl.kisRefusal(t, err)
	}
	cl.topics[t] = true
	if o := outputOf(ack.Raw); o != nil {
		cl.output = o
	}
	if ack.Already || ack.Raw == nil {
		return kisAnswer(t, "1", "OPSP0002", "ALREADY IN SUBSCRIBE", outputOf(ack.Raw))
	}
	return ack.Raw
}

// outputOf extracts body.output (the AES key and iv) of a KIS answer.
func outputOf(raw []byte) json.RawMessage {
	var a struct {
		Body struct {
			Output json.RawMessage `json:"output"`
		} `json:"body"`
	}
	if json.Unmarshal(raw, &a) != nil {
		return nil
	}
	return a.Body.Output
}

// kisRefusal answers a failed subscribe in KIS's shape: the broker's own
// answer when it gave one, the limit (OPSP0008) when the session counted
// it, and OPSP0007 when the upstream session is not to be had.
func (cl *wsClient) kisRefusal(t realtime.Topic, err error) []byte {
	var re *realtime.Error
	if errors.As(err, &re) {
		if re.Raw != nil {
			return re.Raw
		}
		return kisAnswer(t, "1", re.Code, re.Message, nil)
	}
	return kisAnswer(t, "1", "OPSP0007", "kauth: upstream session unavailable: "+err.Error(), nil)
}

// kiwoomRequest handles a Kiwoom LOGIN, REG, REMOVE or PING. LOGIN is
// answered at once: the session logs in with the managed token, so a bot
// may send a placeholder.
func (cl *wsClient) kiwoomRequest(ctx context.Context, data []byte) [][]byte {
	var req struct {
		Trnm    string `json:"trnm"`
		GrpNo   string `json:"grp_no"`
		Refresh string `json:"refresh"`
		Data    []struct {
			Item []string `json:"item"`
			Type []string `json:"type"`
		} `json:"data"`
	}
	if json.Unmarshal(data, &req) != nil {
		return [][]byte{mustJSON(map[string]string{"trnm": "SYSTEM", "code": "kauth_bad_request", "message": "invalid JSON"})}
	}
	answer := func(code int, msg string) [][]byte {
		return [][]byte{mustJSON(map[string]any{"trnm": req.Trnm, "return_code": code, "return_msg": msg})}
	}
	switch strings.ToUpper(req.Trnm) {
	case "PING":
		return nil
	case "LOGIN":
		return answer(0, "")
	case "REG", "REMOVE":
	default:
		return answer(1, "unknown trnm")
	}
	var topics []realtime.Topic
	for _, d := range req.Data {
		for _, typ := range d.Type {
			for _, item := range d.Item {
				topics = append(topics, realtime.Topic{ID: typ, Key: item})
			}
		}
	}
	if strings.EqualFold(req.Trnm, "REMOVE") {
		for _, t := range topics {
			cl.m.Unsubscribe(ctx, t)
			cl.forget(t)
		}
		return answer(0, "")
	}
	for _, t := range topics {
		if !realtime.Published(kauth.Kiwoom, t.ID) {
			return answer(1, "kauth: 실시간 항목 "+t.ID+" is not a Kiwoom real-time type")
		}
	}
	var replaced []realtime.Topic
	if req.Refresh == "0" {
		cl.mu.Lock()
		replaced = cl.groups[req.GrpNo]
		cl.mu.Unlock()
	}
	if !cl.room(topics, replaced) {
		// The whole REG is refused, as Kiwoom refuses one past its limit.
		return answer(1, fmt.Sprintf("등록 종목수 초과 (kauth: %d per client)", cl.acct.wsClientMax))
	}
	if req.Refresh == "0" {
		cl.mu.Lock()
		old := cl.groups[req.GrpNo]
		delete(cl.groups, req.GrpNo)
		cl.mu.Unlock()
		for _, t := range old {
			cl.m.Unsubscribe(ctx, t)
			cl.forget(t)
		}
	}
	for _, t := range topics {
		if _, err := cl.m.Subscribe(ctx, t); err != nil {
			var re *realtime.Error
			if errors.As(err, &re) {
				code := 1
				fmt.Sscan(re.Code, &code)
				return answer(code, re.Message)
			}
			return answer(1, "kauth: upstream session unavailable: "+err.Error())
		}
		cl.mu.Lock()
		cl.topics[t] = true
		cl.groups[req.GrpNo] = append(cl.groups[req.GrpNo], t)
		cl.mu.Unlock()
	}
	return answer(0, "")
}

// room reports whether the client may hold its topics, less the replaced
// ones, plus add without going past its account's per-client cap.
func (cl *wsClient) room(add []realtime.Topic, replaced []realtime.Topic) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	gone := map[realtime.Topic]bool{}
	for _, t := range replaced {
		if cl.topics[t] {
			gone[t] = true
		}
	}
	n := len(cl.topics) - len(gone)
	seen := map[realtime.Topic]bool{}
	for _, t := range add {
		if !seen[t] && (!cl.topics[t] || gone[t]) {
			n++
		}
		seen[t] = true
	}
	return n <= cl.acct.wsClientMax
}

func (cl *wsClient) forget(t realtime.Topic) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	delete(cl.topics, t)
	for g, ts := range cl.groups {
		for i, x := range ts {
			if x == t {
				cl.groups[g] = append(ts[:i:i], ts[i+1:]...)
				break
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
// session (KIS 20 of 41, Kiwoom 50 of 100), so that one bot always leaves
// room for others.
func DefaultWSClientMaxSubscriptions(b kauth.Broker) int {
	if b == kauth.KIS {
		return realtime.KISMaxSubscriptions / 2
	}
	return realtime.KiwoomMaxSubscriptions / 2
}
