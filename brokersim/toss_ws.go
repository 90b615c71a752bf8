package brokersim

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
)

// The Toss real-time protocol (AsyncAPI 1.2.2, channels.connection, and the
// overview's 웹소켓 연동, mirrored in kenshin579/toss-go, docs/api/):
//
//   - GET /ws/v1 with "Authorization: Bearer <access token>" on the
//     upgrade; 401 without a valid token, 403 from an unregistered IP.
//   - At most 2 connections per account: a third is accepted and the
//     oldest is closed.
//   - A declaration is one JSON array, [{"id":…},{"type":"trade:kr",
//     "codes":["005930"]},…], and replaces the whole subscription set; it
//     is answered {"type":"subscriptions","id","subscribed","rejected"}.
//     At most 100 topics a connection (too-many-topics) and 5 declarations
//     a second (rate-limit-exceeded); a refused declaration keeps the set.
//   - Data: {"type":"message","topic":"trade:kr:005930","data":{…}}.
//   - The client sends the text frame PING (about every 60 s), answered
//     {"type":"pong"}; the server closes a connection from which nothing
//     came for 180 s (what it sends does not count).

// tossWSPath is the WebSocket endpoint under a Toss env's base.
const tossWSPath = "/ws/v1"

// Toss's published WebSocket limits.
const (
	tossWSConnsPerAccount = 2
	tossWSMaxTopics       = 100
	tossWSDeclarePerSec   = 5
	tossWSIdle            = 180 * time.Second
)

// tossWSTypes are the subscription types of the AsyncAPI document.
var tossWSTypes = map[string]bool{"trade:kr": true, "trade:us": true, "orderbook:kr": true, "orderbook:us": true, "personal:order": true}

// tossWS is the Toss family's WebSocket bookkeeping, guarded by its mutex.
type tossWS struct {
	mu    sync.Mutex
	conns map[appID][]*wsSession // oldest first
	// tickets orders the connections by when their handshake began, not
	// by when their handler got to bind them: a client may finish its
	// handshake and open the next connection before the first is bound.
	next    uint64
	tickets map[*wsSession]uint64
}

// tossTicket numbers a handshake as it begins.
func (s *Server) tossTicket() uint64 {
	s.toss.ws.mu.Lock()
	defer s.toss.ws.mu.Unlock()
	s.toss.ws.next++
	return s.toss.ws.next
}

// tossIdle is how long a Toss connection may stay silent.
func (w WSSettings) tossIdle() time.Duration {
	if w.TossIdleTimeout > 0 {
		return w.TossIdleTimeout
	}
	return tossWSIdle
}

// serveTossWS serves GET /ws/v1 of Toss at env e.
func (s *Server) serveTossWS(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	tok, _ := bearer(r)
	s.mu.Lock()
	allowed := s.tossAllowedLocked(r)
	t := s.tokens[tok]
	ok := t != nil && t.id.broker == tossBroker && t.id.env == e && !t.revoked && !t.invalid && s.nowLocked().Before(t.expiresAt)
	s.mu.Unlock()
	switch {
	case !allowed:
		tossAPIError(w, http.StatusForbidden, "01SIMWS", "edge-blocked", "허용되지 않은 요청입니다.")
		return
	case !ok:
		w.Header().Set("WWW-Authenticate", `Bearer realm="openapi", error="invalid_token"`)
		tossAPIError(w, http.StatusUnauthorized, "01SIMWS", "invalid-token", "유효하지 않은 토큰입니다.")
		return
	}
	ticket := s.tossTicket()
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	c.SetReadLimit(1 << 16)
	sess := s.newWSSession(r.Context(), tossBroker, e, c)
	defer c.CloseNow()
	id := t.id
	sess.id = &id
	sess.frame = sess.tossFrames
	s.tossBind(sess, id, ticket)
	defer s.tossUnbind(sess, id)
	s.logf("brokersim: toss %s websocket app=%s: open", e, kauth.Fingerprint(id.key))

	heard := make(chan struct{}, 1)
	go sess.tossRun(heard)
	var declared []time.Time
	for {
		_, data, err := c.Read(sess.ctx)
		if err != nil {
			return
		}
		select {
		case heard <- struct{}{}:
		default:
		}
		if bytes.Equal(bytes.TrimSpace(data), []byte("PING")) {
			sess.count(func(st *WSStats) { st.Echoes++ })
			sess.send([]byte(`{"type":"pong"}`))
			continue
		}
		now := time.Now()
		declared = slices.DeleteFunc(declared, func(t time.Time) bool { return now.Sub(t) >= time.Second })
		sess.count(func(st *WSStats) { st.Controls++ })
		if len(declared) >= tossWSDeclarePerSec {
			sess.send(tossWSError("", "rate-limit-exceeded", "too many subscription declarations per second"))
			continue
		}
		declared = append(declared, now)
		sess.send(sess.tossDeclare(data))
	}
}

// tossBind adds sess, whose handshake began with ticket, to its app's
// connections, closing the oldest when there are more than two.
func (s *Server) tossBind(sess *wsSession, id appID, ticket uint64) {
	s.toss.ws.mu.Lock()
	if s.toss.ws.conns == nil {
		s.toss.ws.conns = make(map[appID][]*wsSession)
		s.toss.ws.tickets = make(map[*wsSession]uint64)
	}
	s.toss.ws.tickets[sess] = ticket
	list := append(s.toss.ws.conns[id], sess)
	slices.SortStableFunc(list, func(a, b *wsSession) int {
		return cmp.Compare(s.toss.ws.tickets[a], s.toss.ws.tickets[b])
	})
	var displaced []*wsSession
	for len(list) > tossWSConnsPerAccount {
		displaced = append(displaced, list[0])
		list = list[1:]
	}
	s.toss.ws.conns[id] = list
	s.toss.ws.mu.Unlock()
	s.ws.mu.Lock()
	st := s.ws.statLocked(id)
	st.Opened++
	st.Replaced += len(displaced)
	s.ws.mu.Unlock()
	for _, old := range displaced {
		// "가장 오래된 연결이 서버에 의해 종료됩니다" — possibly without a
		// close frame.
		old.conn.CloseNow()
		old.cancel()
	}
}

func (s *Server) tossUnbind(sess *wsSession, id appID) {
	sess.cancel()
	s.toss.ws.mu.Lock()
	defer s.toss.ws.mu.Unlock()
	s.toss.ws.conns[id] = slices.DeleteFunc(s.toss.ws.conns[id], func(o *wsSession) bool { return o == sess })
	delete(s.toss.ws.tickets, sess)
}

// tossLive returns how many connections an app has open and the topics of
// the newest.
func (s *Server) tossLive(id appID) (int, []string) {
	s.toss.ws.mu.Lock()
	list := slices.Clone(s.toss.ws.conns[id])
	s.toss.ws.mu.Unlock()
	if len(list) == 0 {
		return 0, nil
	}
	return len(list), list[len(list)-1].topicList()
}

// tossSessions returns every live Toss connection.
func (s *Server) tossSessions() []*wsSession {
	s.toss.ws.mu.Lock()
	defer s.toss.ws.mu.Unlock()
	var out []*wsSession
	for _, list := range s.toss.ws.conns {
		out = append(out, list...)
	}
	return out
}

// tossRun writes the connection's frames, sends its ticks, and closes it
// when the client has sent nothing for the idle timeout.
func (ws *wsSession) tossRun(heard <-chan struct{}) {
	var tick <-chan time.Time
	if d := ws.s.WS.tick(); d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		tick = t.C
	}
	idle := time.NewTimer(ws.s.WS.tossIdle())
	defer idle.Stop()
	for {
		select {
		case <-ws.ctx.Done():
			return
		case <-heard:
			idle.Reset(ws.s.WS.tossIdle())
		case <-idle.C:
			ws.s.logf("brokersim: toss %s websocket: nothing from the client for %v; closing", ws.env, ws.s.WS.tossIdle())
			ws.conn.Close(websocket.StatusPolicyViolation, "idle timeout")
			ws.cancel()
			return
		case msg := <-ws.out:
			wctx, cancel := context.WithTimeout(ws.ctx, 10*time.Second)
			err := ws.conn.Write(wctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				ws.conn.CloseNow()
				return
			}
		case <-tick:
			ws.tick()
		}
	}
}

// tossWSError is an error frame.
func tossWSError(id, code, msg string) []byte {
	m := map[string]any{"type": "error", "error": map[string]string{"code": code, "message": msg}}
	if id != "" {
		m["id"] = id
	}
	b, _ := json.Marshal(m)
	return b
}

// tossDeclare applies a declaration and returns the answer.
func (ws *wsSession) tossDeclare(data []byte) []byte {
	var items []struct {
		ID    string   `json:"id"`
		Type  *string  `json:"type"`
		Codes []string `json:"codes"`
	}
	if err := json.Unmarshal(data, &items); err != nil {
		return tossWSError("", "wrong-format", "a declaration is one JSON array")
	}
	id := ""
	next := map[string]bool{}
	for _, it := range items {
		switch {
		case it.ID != "" && it.Type == nil:
			id = it.ID
		case it.Type == nil || *it.Type == "":
			return tossWSError(id, "no-type", "type is required")
		case !tossWSTypes[*it.Type]:
			return tossWSError(id, "invalid-type", fmt.Sprintf("unknown type %q", *it.Type))
		case len(it.Codes) == 0:
			return tossWSError(id, "no-codes", "codes must be a non-empty array of strings")
		default:
			for _, c := range it.Codes {
				next[*it.Type+":"+c] = true
			}
		}
	}
	if len(next) > tossWSMaxTopics {
		return tossWSError(id, "too-many-topics", fmt.Sprintf("at most %d topics a connection", tossWSMaxTopics))
	}
	ws.mu.Lock()
	added, removed := 0, 0
	for t := range next {
		if !ws.topics[t] {
			added++
		}
	}
	for t := range ws.topics {
		if !next[t] {
			removed++
		}
	}
	ws.topics = next
	ws.mu.Unlock()
	ws.count(func(st *WSStats) { st.Subscribes += added; st.Unsubscribes += removed })
	subscribed := make([]string, 0, len(next))
	for t := range next {
		subscribed = append(subscribed, t)
	}
	slices.Sort(subscribed)
	ack := map[string]any{"type": "subscriptions", "subscribed": subscribed, "rejected": []any{}}
	if id != "" {
		ack["id"] = id
	}
	b, _ := json.Marshal(ack)
	return b
}

// tossFrames builds one data frame per market-data topic in the AsyncAPI
// shapes (tradeStream, orderbookStream): a trade's price moves a few ticks
// around the stock's (KRX 호가단위 for trade:kr in KRW, cents for trade:us
// in USD), an orderbook has five levels, asks rising from above the price
// and bids falling from it. personal:order has no ticks: it reports orders,
// which the simulator's WebSocket does not take.
func (ws *wsSession) tossFrames(topics []string) [][]byte {
	out := make([][]byte, 0, len(topics))
	now := time.Now().In(kauth.KST).Format("2006-01-02T15:04:05.000-07:00")
	for _, t := range topics {
		i := strings.LastIndexByte(t, ':')
		if i < 0 || strings.HasPrefix(t, "personal:order:") {
			continue
		}
		typ, code := t[:i], t[i+1:]
		n := ws.next(t)
		us := strings.HasSuffix(typ, ":us")
		price, unit, currency := tossPrice(code, us)
		price += unit * ((n % 5) - 2)
		money := func(v int) string {
			if us {
				return fmt.Sprintf("%d.%02d", v/100, v%100)
			}
			return strconv.Itoa(v)
		}
		var data map[string]any
		if strings.HasPrefix(typ, "orderbook:") {
			asks := make([]map[string]string, 5)
			bids := make([]map[string]string, 5)
			for k := range 5 {
				asks[k] = map[string]string{"price": money(price + unit*(k+1)), "volume": strconv.Itoa(100*(k+1) + n%97)}
				bids[k] = map[string]string{"price": money(price - unit*k), "volume": strconv.Itoa(120*(k+1) + n%89)}
			}
			data = map[string]any{"timestamp": now, "currency": currency, "asks": asks, "bids": bids}
		} else {
			data = map[string]any{"price": money(price), "volume": strconv.Itoa(1 + n%50), "timestamp": now, "currency": currency}
		}
		b, _ := json.Marshal(map[string]any{"type": "message", "topic": t, "data": data})
		out = append(out, b)
	}
	return out
}

// tossPrice is a stock's price and price unit: for a listed Korean stock
// its quote and KRX tick in won, for another code a stable price derived
// from it; for a US symbol, in cents.
func tossPrice(code string, us bool) (price, unit int, currency string) {
	h := fnv.New32a()
	h.Write([]byte(code))
	v := int(h.Sum32() % 40000)
	if us {
		return 5000 + v, 1, "USD" // $50.00 to $449.99
	}
	if st, ok := stocks[code]; ok {
		return st.price, tick(st.price), "KRW"
	}
	p := 5000 + 5*v
	unit = tick(p)
	return p - p%unit, unit, "KRW"
}

// tossDrop closes every connection of an app abruptly.
func (s *Server) tossDrop(id appID) int {
	s.toss.ws.mu.Lock()
	list := slices.Clone(s.toss.ws.conns[id])
	s.toss.ws.mu.Unlock()
	for _, c := range list {
		c.conn.CloseNow()
	}
	return len(list)
}
