package brokersim

import (
	"context"
	"encoding/json"
	"net/http"
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
	now := ws.s.Now()
	stepped := make(map[string]bool)
	type entry struct {
		Type   string            `json:"type"`
		Name   string            `json:"name"`
		Item   string            `json:"item"`
		Values map[string]string `json:"values"`
	}
	var data []entry
	for _, t := range topics {
		typ, item, _ := strings.Cut(t, "|")
		var v map[string]string
		switch typ {
		case "0B":
			v = kiwoomTradeValues(ws.market(item, now, stepped))
		case "0A":
			v = kiwoomQuietValues(ws.market(item, now, stepped))
		case "0D":
			v = kiwoomBookValues(ws.market(item, now, stepped))
		default:
			continue
		}
		data = append(data, entry{Type: typ, Name: kiwoomNames[typ], Item: item, Values: v})
	}
	if len(data) == 0 {
		return nil
	}
	b, _ := json.Marshal(map[string]any{"trnm": "REAL", "data": data})
	return [][]byte{b}
}

// kiwoomSigned writes a price as Kiwoom's real-time values do: "+" above
// the previous close, "-" below, bare when unchanged.
func kiwoomSigned(v, prev int) string {
	switch {
	case v > prev:
		return "+" + itoa(v)
	case v < prev:
		return "-" + itoa(v)
	}
	return itoa(v)
}

// plus writes a signed difference with its "+" or "-".
func plus(d int64) string {
	if d > 0 {
		return "+" + itoa64(d)
	}
	return itoa64(d)
}

func plusPct(a, b int64) string {
	r := pct(a, b)
	if a > 0 {
		return "+" + r
	}
	return r
}

// kiwoomTradeValues are the values of a 0B (주식체결) item: every field
// number of the official client's table (Kiwoom-Securities/Kiwoom-REST-API,
// kiwoom/core/fid.py, FID_MAP["0B"]; Kiwoom's REST API guide, 국내주식
// WEBSOCKET 실시간시세 주식체결): "20" 체결시간, "10" 현재가, "11" 전일대비,
// "12" 등락율, "27"/"28" (최우선)매도/매수호가, "15" 거래량 (+ 매수체결, -
// 매도체결), "13" 누적거래량, "14" 누적거래대금 (백만원), "16"-"18"
// 시가/고가/저가, "25" 전일대비기호, … "9081" 거래소구분.
func kiwoomTradeValues(q quote) map[string]string {
	p := q.prev
	qty := int64(q.qty)
	signedQty := "+" + itoa64(qty)
	if !q.buy {
		signedQty = "-" + itoa64(qty)
	}
	prevVol := q.prevVol()
	net := q.buyQty - q.sellQty
	single := int64(q.qty) * int64(q.price)
	sellOne, buyOne := "0", itoa64(qty)
	if !q.buy {
		sellOne, buyOne = itoa64(qty), "0"
		single = -single
	}
	return map[string]string{
		"20":   q.at,                                    // 체결시간
		"10":   kiwoomSigned(q.price, p),                // 현재가
		"11":   plus(int64(q.change())),                 // 전일대비
		"12":   plusPct(int64(q.change()), int64(p)),    // 등락율
		"27":   kiwoomSigned(q.ask(0), p),               // (최우선)매도호가
		"28":   kiwoomSigned(q.bid(0), p),               // (최우선)매수호가
		"15":   signedQty,                               // 거래량
		"13":   itoa64(q.vol),                           // 누적거래량
		"14":   itoa64(q.amount / 1_000_000),            // 누적거래대금 (백만원)
		"16":   kiwoomSigned(q.open, p),                 // 시가
		"17":   kiwoomSigned(q.high, p),                 // 고가
		"18":   kiwoomSigned(q.low, p),                  // 저가
		"25":   q.sign(),                                // 전일대비기호
		"26":   plus(q.vol - prevVol),                   // 전일거래량대비(계약,주)
		"29":   plus(q.amount - prevVol*int64(p)),       // 거래대금증감
		"30":   pct(q.vol, prevVol),                     // 전일거래량대비(비율)
		"31":   pct(q.vol, q.shares),                    // 거래회전율
		"32":   "0",                                     // 거래비용
		"228":  q.strength(),                            // 체결강도
		"311":  itoa64(q.shares * int64(q.price) / 1e8), // 시가총액(억)
		"290":  "2",                                     // 장구분 (2: 장중)
		"691":  "0",                                     // K.O 접근도
		"567":  "000000",                                // 상한가발생시간
		"568":  "000000",                                // 하한가발생시간
		"851":  pct(q.vol, prevVol),                     // 전일 동시간 거래량 비율
		"1890": q.openAt,                                // 시가시간
		"1891": q.highAt,                                // 고가시간
		"1892": q.lowAt,                                 // 저가시간
		"1030": itoa64(q.sellQty),                       // 매도체결량
		"1031": itoa64(q.buyQty),                        // 매수체결량
		"1032": pct(q.buyQty, q.vol),                    // 매수비율
		"1071": itoa(q.sellCnt),                         // 매도체결건수
		"1072": itoa(q.buyCnt),                          // 매수체결건수
		"1313": plus(single),                            // 순간거래대금
		"1315": sellOne,                                 // 매도체결량_단건
		"1316": buyOne,                                  // 매수체결량_단건
		"1314": plus(net),                               // 순매수체결량
		"1497": "0",                                     // CFD증거금
		"1498": "0",                                     // 유지증거금
		"620":  itoa64(q.avgPrice()),                    // 당일거래평균가
		"732":  "0",                                     // CFD거래비용
		"852":  "0",                                     // 대주거래비용
		"9081": "1",                                     // 거래소구분 (1: KRX)
	}
}

// kiwoomQuietValues are the values of a 0A (주식기세) item: the fields of
// FID_MAP["0A"] (kiwoom/core/fid.py), a subset of 0B's.
func kiwoomQuietValues(q quote) map[string]string {
	all := kiwoomTradeValues(q)
	v := make(map[string]string)
	for _, f := range []string{"10", "11", "12", "27", "28", "13", "14", "16", "17", "18", "25", "26", "29", "30", "31", "32", "311", "567", "568"} {
		v[f] = all[f]
	}
	return v
}

// kiwoomBookValues are the values of a 0D (주식호가잔량) item: every field
// number of FID_MAP["0D"] (Kiwoom-Securities/Kiwoom-REST-API,
// kiwoom/core/fid.py; Kiwoom's REST API guide, 국내주식 WEBSOCKET 실시간시세
// 주식호가잔량): "21" 호가시간, "41"-"50" 매도호가1-10, "51"-"60"
// 매수호가1-10, "61"-"70" 매도호가수량1-10, "71"-"80" 매수호가수량1-10,
// "81"-"90" and "91"-"100" their changes, "121"/"125" 매도/매수호가총잔량
// with "122"/"126" their changes, "23"/"24" 예상체결가/수량, "128"/"138"
// 순매수/순매도잔량, "129"/"139" 매수/매도비율, "13" 누적거래량, the
// expected-execution fields "200"-"201", "238", "291"-"295", "299", the LP
// quantities "621"-"640", the KRX and NXT ladders "6044"-"6087" and the
// mid-price fields "6100"-"6115". The simulated market trades on KRX
// alone: the NXT and LP quantities are 0.
func kiwoomBookValues(q quote) map[string]string {
	p := q.prev
	v := map[string]string{
		"21": q.at, // 호가시간
		"13": itoa64(q.vol),
	}
	for i := range 10 {
		v[itoa(41+i)] = kiwoomSigned(q.ask(i), p)
		v[itoa(51+i)] = kiwoomSigned(q.bid(i), p)
		v[itoa(61+i)] = itoa(q.askQty(i))
		v[itoa(71+i)] = itoa(q.bidQty(i))
		v[itoa(81+i)] = plus(int64((q.n*7+i)%21 - 10))
		v[itoa(91+i)] = plus(int64((q.n*11+i)%21 - 10))
	}
	ask, bid := q.totals()
	v["121"], v["122"] = itoa64(ask), plus(int64((q.n*7)%41-20))                       // 매도호가총잔량, 직전대비
	v["125"], v["126"] = itoa64(bid), plus(int64((q.n*11)%41-20))                      // 매수호가총잔량, 직전대비
	v["23"], v["24"] = kiwoomSigned(q.price, p), itoa(q.qty)                           // 예상체결가, 예상체결수량
	v["200"], v["201"] = plus(int64(q.change())), plusPct(int64(q.change()), int64(p)) // 예상체결가 전일종가대비, 등락율
	v["238"] = q.sign()                                                                // 예상체결가 전일종가대비기호
	v["128"], v["138"] = plus(bid-ask), plus(ask-bid)                                  // 순매수잔량, 순매도잔량
	v["129"], v["139"] = pct(bid, ask+bid), pct(ask, ask+bid)                          // 매수비율, 매도비율
	v["291"], v["292"] = itoa(q.price), itoa(q.qty)                                    // 예상체결가, 예상체결량
	v["293"], v["294"], v["295"] = q.sign(), plus(int64(q.change())), plusPct(int64(q.change()), int64(p))
	v["299"] = pct(q.vol, q.prevVol()) // 전일거래량대비예상체결율
	v["215"] = "2"                     // 장운영구분 (2: 장중)
	v["216"] = "0"                     // 투자자별ticker
	v["9081"] = "1"                    // 거래소구분 (1: KRX)
	for i := range 10 {
		v[itoa(621+i)], v[itoa(631+i)] = "0", "0"                               // LP매도/매수호가수량
		v[itoa(6044+i)], v[itoa(6054+i)] = itoa(q.askQty(i)), itoa(q.bidQty(i)) // KRX 매도/매수호가잔량
		v[itoa(6066+i)], v[itoa(6076+i)] = "0", "0"                             // NXT 매도/매수호가잔량
	}
	v["6064"], v["6065"] = itoa64(ask), itoa64(bid) // KRX 매도/매수호가총잔량
	v["6086"], v["6087"] = "0", "0"                 // NXT 매도/매수호가총잔량
	// 중간가: the price between the best quotes, and its resting totals.
	mid := (q.ask(0) + q.bid(0)) / 2
	v["6100"], v["6101"], v["6102"], v["6103"], v["6104"] = "0", "0", kiwoomSigned(mid, p), "0", "0"
	v["6105"], v["6106"], v["6107"], v["6108"], v["6109"] = "0", "0", "0", "0", "0"
	v["6110"], v["6111"], v["6112"] = plus(int64(mid-p)), signOf(mid-p), plusPct(int64(mid-p), int64(p))
	v["6113"], v["6114"], v["6115"] = "0", "3", "0.00"
	return v
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
