package brokersim

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
)

// WSSettings tune the simulator's WebSocket servers. The zero value of every
// field is the documented default.
type WSSettings struct {
	// TickInterval is how often every subscribed code gets a data frame.
	// 0 means one second; a negative value sends none on its own (Tick
	// drives them, e.g. from a test's virtual clock).
	TickInterval time.Duration
	// PingInterval is how often the server sends its keep-alive (KIS
	// PINGPONG, Kiwoom PING), which the client must echo. 0 means 10 s; a
	// negative value sends none.
	PingInterval time.Duration
	// MissedPings is how many keep-alives may go without an echo before
	// the server closes the session. 0 means 3.
	MissedPings int
	// KISMaxSubscriptions is the number of registrations one KIS session
	// may hold: 41 (koreainvestment/open-trading-api, MCP prompt: "1개
	// appkey당 최대 41건 등록 제한"; the 42nd answers OPSP0008). 0 means 41.
	KISMaxSubscriptions int
	// KiwoomMaxSubscriptions is the number of (item, type) registrations
	// one Kiwoom session may hold. Kiwoom publishes no number; 0 means 100.
	KiwoomMaxSubscriptions int
	// TossIdleTimeout is how long a Toss connection may go without a frame
	// from the client before the server closes it. 0 means 180 s.
	TossIdleTimeout time.Duration
	// Buffer is how many frames the server queues for one session before it
	// gives up on a client that does not read and drops its socket, as a
	// broker would. 0 means 4096.
	Buffer int
}

func (w WSSettings) tick() time.Duration {
	if w.TickInterval == 0 {
		return time.Second
	}
	return w.TickInterval
}

func (w WSSettings) ping() time.Duration {
	if w.PingInterval == 0 {
		return 10 * time.Second
	}
	return w.PingInterval
}

func (w WSSettings) missed() int {
	if w.MissedPings <= 0 {
		return 3
	}
	return w.MissedPings
}

func (w WSSettings) limit(b kauth.Broker) int {
	if b == kauth.KIS {
		if w.KISMaxSubscriptions > 0 {
			return w.KISMaxSubscriptions
		}
		return 41
	}
	if w.KiwoomMaxSubscriptions > 0 {
		return w.KiwoomMaxSubscriptions
	}
	return 100
}

func (w WSSettings) buffer() int {
	if w.Buffer > 0 {
		return w.Buffer
	}
	return 4096
}

// WSStats are the WebSocket counters of one app.
type WSStats struct {
	// Live is the number of sessions of the app open now (at most one).
	Live int `json:"live"`
	// Opened counts sessions that were established (KIS: bound to the app by
	// a first valid subscribe; Kiwoom: logged in).
	Opened int `json:"opened"`
	// Refused counts sessions refused because another one was live (KIS
	// OPSP8996), and Replaced the Kiwoom sessions closed by a newer login.
	Refused  int `json:"refused"`
	Replaced int `json:"replaced"`
	// Subscribes and Unsubscribes count registrations added and removed.
	Subscribes   int `json:"subscribes"`
	Unsubscribes int `json:"unsubscribes"`
	// Controls counts the subscribe and unsubscribe frames the app's
	// sessions sent (KIS tr_type 1 and 2, Kiwoom REG and REMOVE), accepted
	// or not: what a broker counts when it polices churn.
	Controls int `json:"controls"`
	// Topics are the live session's registrations, sorted: "H0STCNT0|005930"
	// (KIS tr_id|tr_key) or "0B|005930" (Kiwoom type|item).
	Topics []string `json:"topics"`
	// Frames counts the data frames sent to the app's sessions.
	Frames int `json:"frames"`
	// Rejected counts answers refusing a credential (KIS OPSP0011, Kiwoom
	// 8005).
	Rejected int `json:"rejected"`
	// Echoes counts the keep-alives the client echoed (text or pong
	// frame), and Pings the WebSocket ping frames it sent of its own
	// accord: what a client sends to keep the session alive.
	Echoes int `json:"echoes"`
	Pings  int `json:"pings"`
}

// wsState is the simulator's WebSocket bookkeeping, guarded by its own
// mutex. Lock order: Server.mu before wsState.mu.
type wsState struct {
	mu        sync.Mutex
	approvals map[string]*approvalKey // KIS approval keys by value
	live      map[appID]*wsSession
	stats     map[appID]*WSStats
	refuse    map[kauth.Broker]int // credential refusals still to script
}

type approvalKey struct {
	id      appID
	expires time.Time
	invalid bool
}

func (w *wsState) initLocked() {
	if w.approvals == nil {
		w.approvals = make(map[string]*approvalKey)
		w.live = make(map[appID]*wsSession)
		w.stats = make(map[appID]*WSStats)
		w.refuse = make(map[kauth.Broker]int)
	}
}

func (w *wsState) statLocked(id appID) *WSStats {
	w.initLocked()
	st := w.stats[id]
	if st == nil {
		st = new(WSStats)
		w.stats[id] = st
	}
	return st
}

// rememberApproval records an approval key that /oauth2/Approval handed
// out, valid for a day (KIS 실시간 (웹소켓) 접속키 발급: valid about 24 h).
func (s *Server) rememberApproval(id appID, key string, now time.Time) {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	s.ws.initLocked()
	s.ws.approvals[key] = &approvalKey{id: id, expires: now.Add(24 * time.Hour)}
}

// InvalidateApprovalKey makes a KIS approval key invalid behind its
// holder's back: the next subscribe that carries it is answered OPSP0011.
func (s *Server) InvalidateApprovalKey(key string) {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	if a := s.ws.approvals[key]; a != nil {
		a.invalid = true
	}
}

// RefuseWSLogins makes the next n session credentials of broker b be
// refused as invalid, whatever they are: KIS answers the subscribe
// OPSP0011, Kiwoom answers the LOGIN 8005.
func (s *Server) RefuseWSLogins(b kauth.Broker, n int) {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	s.ws.initLocked()
	s.ws.refuse[b] += n
}

// DropWS closes the sockets of the live sessions of an app abruptly, as a
// network failure would, and reports how many it closed.
func (s *Server) DropWS(b kauth.Broker, e kauth.Env, appKey string) int {
	if b == tossBroker {
		return s.tossDrop(appID{b, e, appKey})
	}
	s.ws.mu.Lock()
	sess := s.ws.live[appID{b, e, appKey}]
	s.ws.mu.Unlock()
	if sess == nil {
		return 0
	}
	// The broker forgets a dropped connection at once: a client that
	// reconnects right away must not meet it as a second session of the
	// app key (OPSP8996 ALREADY IN USE) because its handler has not run
	// its unbind yet.
	sess.unbind()
	sess.conn.CloseNow()
	return 1
}

// StallWS makes the live session of an app stop sending anything (frames
// and keep-alives) for d, as a hung broker would, while its socket stays
// open.
func (s *Server) StallWS(b kauth.Broker, e kauth.Env, appKey string, d time.Duration) {
	s.ws.mu.Lock()
	sess := s.ws.live[appID{b, e, appKey}]
	s.ws.mu.Unlock()
	if sess != nil {
		sess.mu.Lock()
		sess.stallUntil = time.Now().Add(d)
		sess.mu.Unlock()
	}
}

// WSStats returns the WebSocket counters of an app.
func (s *Server) WSStats(b kauth.Broker, e kauth.Env, appKey string) WSStats {
	id := appID{b, e, appKey}
	s.ws.mu.Lock()
	st := *s.ws.statLocked(id)
	sess := s.ws.live[id]
	s.ws.mu.Unlock()
	st.Topics = nil
	if sess != nil {
		st.Live = 1
		st.Topics = sess.topicList()
	}
	if b == tossBroker {
		st.Live, st.Topics = s.tossLive(id)
	}
	return st
}

// Tick sends one data frame for every code subscribed on every live
// session, now. With WS.TickInterval < 0 it is the only source of frames.
func (s *Server) Tick() {
	s.ws.mu.Lock()
	sessions := make([]*wsSession, 0, len(s.ws.live))
	for _, sess := range s.ws.live {
		sessions = append(sessions, sess)
	}
	s.ws.mu.Unlock()
	sessions = append(sessions, s.tossSessions()...)
	for _, sess := range sessions {
		sess.tick()
	}
}

// wsSession is one WebSocket connection to the simulator.
type wsSession struct {
	s      *Server
	broker kauth.Broker
	env    kauth.Env
	conn   *websocket.Conn
	out    chan []byte
	ctx    context.Context
	cancel context.CancelFunc
	// frame builds the tick message of the session's topics (nil: none).
	frame func(topics []string) [][]byte

	mu         sync.Mutex
	id         *appID            // the app, once bound
	topics     map[string]bool   // "tr_id|tr_key" or "type|item"
	seq        map[string]int    // per-topic frame counter
	quotes     map[string]*quote // the market each code shows this session (market.go)
	pending    int               // keep-alives sent and not echoed
	stallUntil time.Time
	key, iv    string // KIS: AES-256 key and iv of execution notices
}

func (s *Server) newWSSession(ctx context.Context, b kauth.Broker, e kauth.Env, c *websocket.Conn) *wsSession {
	ctx, cancel := context.WithCancel(ctx)
	return &wsSession{
		s: s, broker: b, env: e, conn: c, ctx: ctx, cancel: cancel,
		out:    make(chan []byte, s.WS.buffer()),
		topics: make(map[string]bool),
		seq:    make(map[string]int),
	}
}

// send queues msg; a session whose queue is full is dropped.
func (ws *wsSession) send(msg []byte) {
	select {
	case ws.out <- msg:
	default:
		ws.s.logf("brokersim: %s %s websocket: client not reading; dropping the session", ws.broker, ws.env)
		ws.conn.CloseNow()
	}
}

func (ws *wsSession) stalled() bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return time.Now().Before(ws.stallUntil)
}

// run serves the session's writes, ticks and keep-alives until ctx ends.
func (ws *wsSession) run(ping func() []byte) {
	var tick <-chan time.Time
	if d := ws.s.WS.tick(); d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		tick = t.C
	}
	var pings <-chan time.Time
	if d := ws.s.WS.ping(); d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		pings = t.C
	}
	for {
		select {
		case <-ws.ctx.Done():
			return
		case msg := <-ws.out:
			if !ws.holdWhileStalled() {
				return
			}
			wctx, cancel := context.WithTimeout(ws.ctx, 10*time.Second)
			err := ws.conn.Write(wctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				ws.conn.CloseNow()
				return
			}
		case <-tick:
			if !ws.stalled() {
				ws.tick()
			}
		case <-pings:
			if ws.stalled() {
				continue
			}
			ws.mu.Lock()
			ws.pending++
			missed := ws.pending > ws.s.WS.missed()
			ws.mu.Unlock()
			if missed {
				ws.s.logf("brokersim: %s %s websocket: keep-alive not echoed; closing", ws.broker, ws.env)
				ws.conn.Close(websocket.StatusPolicyViolation, "keep-alive not echoed")
				return
			}
			ws.send(ping())
		}
	}
}

// holdWhileStalled waits until the session's stall ends, so that a hung
// broker answers nothing either; false if the session ended meanwhile.
func (ws *wsSession) holdWhileStalled() bool {
	ws.mu.Lock()
	d := time.Until(ws.stallUntil)
	ws.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ws.ctx.Done():
		return false
	}
}

// echoed records a keep-alive echo.
func (ws *wsSession) echoed() {
	ws.mu.Lock()
	ws.pending = 0
	ws.mu.Unlock()
	ws.count(func(st *WSStats) { st.Echoes++ })
}

// pinged records a WebSocket ping frame from the client, which the
// library answers with a pong.
func (ws *wsSession) pinged(context.Context, []byte) bool {
	ws.count(func(st *WSStats) { st.Pings++ })
	return true
}

// count updates the counters of the session's app, once it is bound to
// one.
func (ws *wsSession) count(f func(*WSStats)) {
	ws.mu.Lock()
	id := ws.id
	ws.mu.Unlock()
	if id == nil {
		return
	}
	ws.s.ws.mu.Lock()
	f(ws.s.ws.statLocked(*id))
	ws.s.ws.mu.Unlock()
}

// tick queues one data frame per subscribed topic.
func (ws *wsSession) tick() {
	ws.mu.Lock()
	if ws.id == nil || len(ws.topics) == 0 || ws.frame == nil {
		ws.mu.Unlock()
		return
	}
	topics := make([]string, 0, len(ws.topics))
	for t := range ws.topics {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	id := *ws.id
	ws.mu.Unlock()
	frames := ws.frame(topics)
	if len(frames) == 0 {
		return
	}
	ws.s.ws.mu.Lock()
	ws.s.ws.statLocked(id).Frames += len(frames)
	ws.s.ws.mu.Unlock()
	for _, f := range frames {
		ws.send(f)
	}
}

// next returns the next sequence number of topic.
func (ws *wsSession) next(topic string) int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.seq[topic]++
	return ws.seq[topic]
}

func (ws *wsSession) topicList() []string {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	out := make([]string, 0, len(ws.topics))
	for t := range ws.topics {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// unbind removes the session from the live set when it ends.
func (ws *wsSession) unbind() {
	ws.cancel()
	ws.mu.Lock()
	id := ws.id
	ws.mu.Unlock()
	if id == nil {
		return
	}
	ws.s.ws.mu.Lock()
	if ws.s.ws.live[*id] == ws {
		delete(ws.s.ws.live, *id)
	}
	ws.s.ws.mu.Unlock()
}

// takeRefusal consumes one scripted credential refusal of broker b.
func (s *Server) takeRefusal(b kauth.Broker) bool {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	s.ws.initLocked()
	if s.ws.refuse[b] > 0 {
		s.ws.refuse[b]--
		return true
	}
	return false
}

// isWebSocket reports whether r asks to upgrade to a WebSocket.
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// serveWS serves a WebSocket upgrade at /BROKER/ENV/….
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
	if len(parts) < 2 {
		notFound(w, r)
		return
	}
	b, e := kauth.Broker(parts[0]), kauth.Env(parts[1])
	if e != kauth.Real && e != kauth.Mock {
		notFound(w, r)
		return
	}
	rest := "/"
	if len(parts) == 3 {
		rest += parts[2]
	}
	s.serveWSAt(w, r, b, e, rest)
}

// serveWSAt serves a WebSocket upgrade of broker b at env e for the path
// rest below the env's root: KIS at any path (its server ignores the path:
// the official kis_auth.py dials "/tryitout", python-kis
// "/tryitout/<tr_id>", the older samples the bare domain), Kiwoom at
// /api/dostk/websocket (Kiwoom-REST-API, kiwoom/core/ws_client.py), Toss at
// /ws/v1.
func (s *Server) serveWSAt(w http.ResponseWriter, r *http.Request, b kauth.Broker, e kauth.Env, rest string) {
	switch {
	case b == kauth.KIS:
		s.serveKISWS(w, r, e)
	case b == kauth.Kiwoom && rest == "/api/dostk/websocket":
		s.serveKiwoomWS(w, r, e)
	case b == tossBroker && rest == tossWSPath:
		s.serveTossWS(w, r, e)
	default:
		notFound(w, r)
	}
}

// kstStamp formats t as the brokers' HHMMSS in KST.
func kstStamp(t time.Time, layout string) string { return t.In(kauth.KST).Format(layout) }

// controlWS serves GET /_sim/ws: the WebSocket counters of every app that
// has had a session, by "broker/env/fingerprint".
func (s *Server) controlWS(w http.ResponseWriter, r *http.Request) {
	s.ws.mu.Lock()
	ids := make([]appID, 0, len(s.ws.stats))
	for id := range s.ws.stats {
		ids = append(ids, id)
	}
	s.ws.mu.Unlock()
	out := make(map[string]WSStats, len(ids))
	for _, id := range ids {
		out[kauth.Key{Broker: id.broker, Env: id.env, Fingerprint: kauth.Fingerprint(id.key)}.String()] = s.WSStats(id.broker, id.env, id.key)
	}
	writeJSON(w, http.StatusOK, out)
}

// controlWSDrop serves POST /_sim/ws/drop: every live session's socket is
// dropped, as a network failure would.
func (s *Server) controlWSDrop(w http.ResponseWriter, r *http.Request) {
	s.ws.mu.Lock()
	var ids []appID
	for id := range s.ws.live {
		ids = append(ids, id)
	}
	s.ws.mu.Unlock()
	n := 0
	for _, id := range ids {
		n += s.DropWS(id.broker, id.env, id.key)
	}
	writeJSON(w, http.StatusOK, map[string]int{"dropped": n})
}

// controlWSTick serves POST /_sim/ws/tick?n=…: n ticks now (default 1, at
// most 10,000), for clients that drive the frames themselves.
func (s *Server) controlWSTick(w http.ResponseWriter, r *http.Request) {
	n := 1
	if q := r.URL.Query().Get("n"); q != "" {
		v, err := strconv.Atoi(q)
		if err != nil || v < 1 || v > 10000 {
			controlError(w, http.StatusBadRequest, fmt.Errorf("brokersim: n=%q: want 1…10000", q))
			return
		}
		n = v
	}
	for range n {
		s.Tick()
	}
	writeJSON(w, http.StatusOK, map[string]int{"ticks": n})
}
