package brokersim

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
)

// The Kiwoom real-time protocol, as the official client speaks it
// (Kiwoom-Securities/Kiwoom-REST-API: kiwoom/core/ws_client.py and
// examples/국내주식/실시간시세/subscribe_domestic_stock_trade_async.py):
//
//   - wss://api.kiwoom.com:10000/api/dostk/websocket (mock: mockapi). The
//     first frame is {"trnm":"LOGIN","token":…}; the answer is
//     {"trnm":"LOGIN","return_code":0,"return_msg":…}, and a refused token
//     carries "[CODE=8005, …]" in return_msg (the client retries 8005, 8031
//     and 8103 with a new token).
//   - {"trnm":"REG","grp_no":"1","refresh":"1","data":[{"item":[…],
//     "type":[…]}]} registers (refresh "1" keeps the group's earlier
//     registrations, "0" replaces them); REMOVE takes the same shape. Each
//     is answered {"trnm":"REG"|"REMOVE","return_code":0,"return_msg":…}.
//   - Data arrive as {"trnm":"REAL","data":[{"type","name","item",
//     "values":{fid: value}}]}.
//   - {"trnm":"PING"} must be echoed; SYSTEM frames tell of the server's
//     decisions, e.g. R10001 when a newer session of the app key replaced
//     this one, R10002 when keep-alives went unanswered.
const (
	kiwoomRefusedToken = "토큰 인증에 실패했습니다[CODE=8005, MESSAGE=Token이 유효하지 않습니다]"
	kiwoomReplaced     = "동일한 App key로 접속이 되었습니다. 기존 세션은 종료가 됩니다"
	kiwoomNoLogin      = "접속허용요청이 들어오지 않았습니다"
	kiwoomOverLimit    = "등록 종목수 초과"
)

type kiwoomWSMessage struct {
	Trnm    string `json:"trnm"`
	Token   string `json:"token"`
	GrpNo   string `json:"grp_no"`
	Refresh string `json:"refresh"`
	Data    []struct {
		Item []string `json:"item"`
		Type []string `json:"type"`
	} `json:"data"`
}

func kiwoomWSAnswer(trnm string, code int, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"trnm": trnm, "return_code": code, "return_msg": msg})
	return b
}

func kiwoomSystem(code, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"trnm": "SYSTEM", "code": code, "message": msg})
	return b
}

func (s *Server) serveKiwoomWS(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	var sess *wsSession
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true,
		OnPingReceived: func(ctx context.Context, p []byte) bool {
			return sess == nil || sess.pinged(ctx, p)
		},
	})
	if err != nil {
		return
	}
	c.SetReadLimit(1 << 16)
	sess = s.newWSSession(r.Context(), kauth.Kiwoom, e, c)
	defer sess.unbind()
	defer c.CloseNow()
	sess.frame = sess.kiwoomFrames
	go sess.run(func() []byte { return []byte(`{"trnm":"PING"}`) })
	groups := map[string]map[string]bool{} // grp_no → topics
	for {
		_, data, err := c.Read(sess.ctx)
		if err != nil {
			return
		}
		var m kiwoomWSMessage
		if err := json.Unmarshal(data, &m); err != nil {
			sess.send(kiwoomSystem("R10005", "invalid message"))
			continue
		}
		sess.mu.Lock()
		bound := sess.id
		sess.mu.Unlock()
		switch {
		case m.Trnm == "PING":
			sess.echoed()
		case m.Trnm == "LOGIN":
			s.kiwoomLogin(sess, m.Token)
		case bound == nil:
			sess.send(kiwoomSystem("R10004", kiwoomNoLogin))
			sess.cancelAfterFlush()
		case m.Trnm == "REG" || m.Trnm == "REMOVE":
			sess.send(s.kiwoomRegister(sess, *bound, m, groups))
		default:
			sess.send(kiwoomWSAnswer(m.Trnm, 1, "unknown trnm"))
		}
	}
}

// kiwoomLogin checks the token of a LOGIN and binds the session to its
// app, replacing (and closing) an earlier session of the same app key. A
// refused LOGIN is answered, then the session closes.
func (s *Server) kiwoomLogin(sess *wsSession, tok string) {
	refused := s.takeRefusal(kauth.Kiwoom)
	s.mu.Lock()
	t := s.tokens[tok]
	ok := !refused && t != nil && t.id.broker == kauth.Kiwoom && t.id.env == sess.env &&
		!t.revoked && !t.invalid && s.nowLocked().Before(t.expiresAt)
	var id appID
	if t != nil {
		id = t.id
	}
	s.mu.Unlock()
	if !ok {
		if t != nil {
			s.ws.mu.Lock()
			s.ws.statLocked(id).Rejected++
			s.ws.mu.Unlock()
		}
		sess.send(kiwoomWSAnswer("LOGIN", 8005, kiwoomRefusedToken))
		sess.cancelAfterFlush()
		return
	}
	s.ws.mu.Lock()
	s.ws.initLocked()
	old := s.ws.live[id]
	s.ws.live[id] = sess
	st := s.ws.statLocked(id)
	st.Opened++
	if old != nil && old != sess {
		st.Replaced++
	}
	s.ws.mu.Unlock()
	sess.mu.Lock()
	sess.id = &id
	sess.mu.Unlock()
	if old != nil && old != sess {
		old.send(kiwoomSystem("R10001", kiwoomReplaced))
		old.cancelAfterFlush()
	}
	sess.send(kiwoomWSAnswer("LOGIN", 0, ""))
}

// kiwoomRegister applies a REG or REMOVE and returns its answer.
func (s *Server) kiwoomRegister(sess *wsSession, id appID, m kiwoomWSMessage, groups map[string]map[string]bool) []byte {
	var topics []string
	for _, d := range m.Data {
		for _, typ := range d.Type {
			for _, item := range d.Item {
				topics = append(topics, typ+"|"+item)
			}
		}
	}
	grp := groups[m.GrpNo]
	if grp == nil {
		grp = map[string]bool{}
		groups[m.GrpNo] = grp
	}
	limit := s.WS.limit(kauth.Kiwoom)
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	st := s.ws.statLocked(id)
	st.Controls++
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if m.Trnm == "REMOVE" {
		for _, t := range topics {
			if sess.topics[t] {
				delete(sess.topics, t)
				delete(grp, t)
				st.Unsubscribes++
			}
		}
		return kiwoomWSAnswer("REMOVE", 0, "")
	}
	if len(topics) == 0 {
		return kiwoomWSAnswer("REG", 1, "등록할 종목이 없습니다")
	}
	drop := map[string]bool{}
	if m.Refresh == "0" {
		drop = grp
	}
	n := len(sess.topics) - len(drop)
	for _, t := range topics {
		if !sess.topics[t] || drop[t] {
			n++
		}
	}
	if n > limit {
		return kiwoomWSAnswer("REG", 1, kiwoomOverLimit)
	}
	for t := range drop {
		delete(sess.topics, t)
		delete(grp, t)
		st.Unsubscribes++
	}
	for _, t := range topics {
		if !sess.topics[t] {
			sess.topics[t] = true
			grp[t] = true
			st.Subscribes++
		}
	}
	return kiwoomWSAnswer("REG", 0, "")
}

// kiwoomNames are the names REAL frames give the types.
var kiwoomNames = map[string]string{"0B": "주식체결", "0D": "주식호가잔량", "0A": "주식기세", "00": "주문체결", "04": "잔고"}

// kiwoomFrames builds one REAL frame holding an entry per market-data
// topic (account types 00 and 04 tick only on orders).
func (ws *wsSession) kiwoomFrames(topics []string) [][]byte {
	now := kstStamp(ws.s.Now(), "150405")
	type entry struct {
		Type   string            `json:"type"`
		Name   string            `json:"name"`
		Item   string            `json:"item"`
		Values map[string]string `json:"values"`
	}
	var data []entry
	for _, t := range topics {
		typ, item, _ := strings.Cut(t, "|")
		if typ == "00" || typ == "04" {
			continue
		}
		price := 10000
		if st, ok := stocks[item]; ok {
			price = st.price
		}
		data = append(data, entry{Type: typ, Name: kiwoomNames[typ], Item: item, Values: map[string]string{
			"20": now,                          // 체결시간
			"10": "+" + strconv.Itoa(price),    // 현재가
			"11": "0",                          // 전일대비
			"12": "0.00",                       // 등락율
			"15": "+1",                         // 거래량
			"13": strconv.Itoa(ws.next(t)),     // 누적거래량
			"27": "+" + strconv.Itoa(price+10), // 최우선매도호가
			"28": "+" + strconv.Itoa(price),    // 최우선매수호가
		}})
	}
	if len(data) == 0 {
		return nil
	}
	b, _ := json.Marshal(map[string]any{"trnm": "REAL", "data": data})
	return [][]byte{b}
}

// cancelAfterFlush closes the session once what is queued has been
// written, or at once if the queue does not drain soon.
func (ws *wsSession) cancelAfterFlush() {
	go func() {
		for i := 0; i < 100 && len(ws.out) > 0; i++ {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // the last one may be in Write
		ws.conn.Close(websocket.StatusNormalClosure, "")
		ws.cancel()
	}()
}
