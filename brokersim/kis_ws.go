package brokersim

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
)

// The KIS real-time protocol, as the official samples speak it
// (koreainvestment/open-trading-api: legacy/websocket/python/ops_ws_sample.py,
// examples_user/kis_auth.py) and as KIS answers (the codes python-kis
// handles in pykis/client/websocket.py):
//
//   - The client sends JSON {"header":{"approval_key","custtype","tr_type"
//     ("1" subscribe, "2" unsubscribe),"content-type":"utf-8"},
//     "body":{"input":{"tr_id","tr_key"}}}.
//   - KIS answers JSON {"header":{"tr_id","tr_key","encrypt"},"body":{"rt_cd",
//     "msg_cd","msg1","output":{"iv","key"}}}: OPSP0000 SUBSCRIBE SUCCESS,
//     OPSP0001 UNSUBSCRIBE SUCCESS, OPSP0002 already subscribed, OPSP0003
//     not subscribed, OPSP0008 MAX SUBSCRIBE OVER, OPSP0011 invalid
//     approval, OPSP8996 ALREADY IN USE (a second session of the app key).
//   - Data frames are text "0|H0STCNT0|001|005930^093000^71000^…": encrypted
//     flag, tr_id, record count, then the records' fields joined by '^'.
//     Execution notices (H0STCNI0, H0STCNI9 on mock) carry flag 1 and are
//     AES-256-CBC, base64, under the key and iv of the subscribe answer.
//   - {"header":{"tr_id":"PINGPONG","datetime":…}} keeps the session alive;
//     the client echoes it (python-kis sends the text back, the official
//     sample a pong frame with it: both count).
const (
	kisWSSubscribed     = "OPSP0000"
	kisWSUnsubscribed   = "OPSP0001"
	kisWSAlready        = "OPSP0002"
	kisWSNotSubscribed  = "OPSP0003"
	kisWSError          = "OPSP0007"
	kisWSMaxSubscribe   = "OPSP0008"
	kisWSInvalidKey     = "OPSP0011"
	kisWSAlreadyInUse   = "OPSP8996"
	kisWSParseError     = "OPSP9999"
	kisPingPong         = "PINGPONG"
	kisExecNotice       = "H0STCNI0"
	kisExecNoticeMock   = "H0STCNI9"
	kisTradeTR          = "H0STCNT0"
	kisQuoteTR          = "H0STASP0"
	kisTradeFieldCount  = 46 // H0STCNT0 record layout (ops_ws_sample.py, stockspurchase)
	kisQuoteFieldCount  = 59 // H0STASP0 record layout (ops_ws_sample.py, stockhoka)
	kisNoticeFieldCount = 26 // H0STCNI0 record layout (ops_ws_sample.py, stocksigningnotice)
)

var kisWSMessages = map[string]string{
	kisWSSubscribed:    "SUBSCRIBE SUCCESS",
	kisWSUnsubscribed:  "UNSUBSCRIBE SUCCESS",
	kisWSAlready:       "ALREADY IN SUBSCRIBE",
	kisWSNotSubscribed: "UNSUBSCRIBE ERROR(not found!)",
	kisWSError:         "invalid tr_type",
	kisWSMaxSubscribe:  "MAX SUBSCRIBE OVER",
	kisWSInvalidKey:    "invalid approval : NOT FOUND",
	kisWSAlreadyInUse:  "ALREADY IN USE appkey",
	kisWSParseError:    "JSON PARSING ERROR : invalid json format",
}

type kisWSRequest struct {
	Header struct {
		ApprovalKey string `json:"approval_key"`
		CustType    string `json:"custtype"`
		TrType      string `json:"tr_type"`
		TrID        string `json:"tr_id"` // PINGPONG echoes
	} `json:"header"`
	Body struct {
		Input struct {
			TrID  string `json:"tr_id"`
			TrKey string `json:"tr_key"`
		} `json:"input"`
	} `json:"body"`
}

// kisWSAnswer builds a KIS control answer.
func kisWSAnswer(trID, trKey, code string, output map[string]string) []byte {
	rt := "0"
	switch code {
	case kisWSSubscribed, kisWSUnsubscribed:
	case kisWSParseError:
		rt = "9"
	default:
		rt = "1"
	}
	body := map[string]any{"rt_cd": rt, "msg_cd": code, "msg1": kisWSMessages[code]}
	if output != nil {
		body["output"] = output
	}
	b, _ := json.Marshal(map[string]any{
		"header": map[string]string{"tr_id": trID, "tr_key": trKey, "encrypt": "N"},
		"body":   body,
	})
	return b
}

func (s *Server) serveKISWS(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	var sess *wsSession
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // a broker takes any Origin
		OnPongReceived: func(ctx context.Context, p []byte) {
			if sess != nil && bytes.Contains(p, []byte(kisPingPong)) {
				sess.echoed()
			}
		},
		OnPingReceived: func(ctx context.Context, p []byte) bool {
			return sess == nil || sess.pinged(ctx, p)
		},
	})
	if err != nil {
		return
	}
	c.SetReadLimit(1 << 16)
	sess = s.newWSSession(r.Context(), kauth.KIS, e, c)
	defer sess.unbind()
	defer c.CloseNow()
	sess.frame = sess.kisFrames
	go sess.run(func() []byte {
		b, _ := json.Marshal(map[string]any{"header": map[string]string{
			"tr_id": kisPingPong, "datetime": kstStamp(s.Now(), "20060102150405")}})
		return b
	})
	for {
		_, data, err := c.Read(sess.ctx)
		if err != nil {
			return
		}
		if !sess.kisHandle(data) {
			return
		}
	}
}

// kisHandle answers one client message; false ends the session.
func (ws *wsSession) kisHandle(data []byte) bool {
	var req kisWSRequest
	if err := json.Unmarshal(data, &req); err != nil {
		ws.send(kisWSAnswer("", "", kisWSParseError, nil))
		return true
	}
	if req.Header.TrID == kisPingPong {
		ws.echoed()
		return true
	}
	in := req.Body.Input
	s := ws.s
	now := s.Now()
	refused := s.takeRefusal(kauth.KIS)
	s.ws.mu.Lock()
	s.ws.initLocked()
	ak := s.ws.approvals[req.Header.ApprovalKey]
	if refused || ak == nil || ak.invalid || ak.id.env != ws.env || !now.Before(ak.expires) {
		if ak != nil {
			s.ws.statLocked(ak.id).Rejected++
		}
		s.ws.mu.Unlock()
		ws.send(kisWSAnswer(in.TrID, in.TrKey, kisWSInvalidKey, nil))
		return true
	}
	id := ak.id
	ws.mu.Lock()
	bound := ws.id
	ws.mu.Unlock()
	if bound == nil {
		if other := s.ws.live[id]; other != nil && other != ws {
			s.ws.statLocked(id).Refused++
			s.ws.mu.Unlock()
			s.logf("brokersim: kis %s websocket app %s: second session refused (OPSP8996)", ws.env, kauth.Fingerprint(id.key))
			ws.send(kisWSAnswer(in.TrID, in.TrKey, kisWSAlreadyInUse, nil))
			return true
		}
		s.ws.live[id] = ws
		s.ws.statLocked(id).Opened++
		ws.mu.Lock()
		ws.id = &id
		ws.key = randomLetters(32)
		ws.iv = hex.EncodeToString(randomBytes(8))
		ws.mu.Unlock()
	}
	st := s.ws.statLocked(id)
	st.Controls++
	topic := in.TrID + "|" + in.TrKey
	limit := s.WS.limit(kauth.KIS)
	ws.mu.Lock()
	var code string
	switch req.Header.TrType {
	case "1":
		switch {
		case in.TrID == "" || in.TrKey == "":
			code = kisWSError
		case ws.topics[topic]:
			code = kisWSAlready
		case len(ws.topics) >= limit:
			code = kisWSMaxSubscribe
		default:
			ws.topics[topic] = true
			st.Subscribes++
			code = kisWSSubscribed
		}
	case "2":
		if ws.topics[topic] {
			delete(ws.topics, topic)
			st.Unsubscribes++
			code = kisWSUnsubscribed
		} else {
			code = kisWSNotSubscribed
		}
	default:
		code = kisWSError
	}
	var out map[string]string
	if code == kisWSSubscribed || code == kisWSAlready {
		out = map[string]string{"iv": ws.iv, "key": ws.key}
	}
	ws.mu.Unlock()
	s.ws.mu.Unlock()
	ws.send(kisWSAnswer(in.TrID, in.TrKey, code, out))
	return true
}

// kisFrames builds one data frame per price topic. Execution-notice topics
// tick only when an execution happens (NotifyExecution).
func (ws *wsSession) kisFrames(topics []string) [][]byte {
	now := ws.s.Now()
	stepped := make(map[string]bool)
	var out [][]byte
	for _, t := range topics {
		trID, code, _ := strings.Cut(t, "|")
		var f []string
		switch trID {
		case kisTradeTR:
			f = kisTradeRecord(ws.market(code, now, stepped))
		case kisQuoteTR:
			f = kisQuoteRecord(ws.market(code, now, stepped))
		default:
			continue
		}
		out = append(out, []byte("0|"+trID+"|001|"+strings.Join(f, "^")))
	}
	return out
}

// kisTradeRecord is one H0STCNT0 (국내주식 실시간체결가) record: the 46
// fields in the order of the official sample's column list
// (koreainvestment/open-trading-api,
// examples_llm/domestic_stock/ccnl_krx/ccnl_krx.py). python-kis parses them
// by position (Soju06/python-kis, pykis/api/websocket/price.py,
// KisDomesticRealtimePrice): it reads the times 1, 24, 27 and 30 as HHMMSS
// after the business date 33 (YYYYMMDD), the sign 3 as 0…5, and looks the
// first character of 34 (NEW_MKOP_CLS_CODE) up in {1,2,3,4}.
func kisTradeRecord(q quote) []string {
	askTotal, bidTotal := q.totals()
	strength := q.strength()
	ccld := "5" // CCLD_DVSN 1 매수, 3 장전, 5 매도
	if q.buy {
		ccld = "1"
	}
	return []string{
		q.code,                     // 0 MKSC_SHRN_ISCD 유가증권 단축 종목코드
		q.at,                       // 1 STCK_CNTG_HOUR 주식 체결 시간
		itoa(q.price),              // 2 STCK_PRPR 주식 현재가
		q.sign(),                   // 3 PRDY_VRSS_SIGN 전일 대비 부호
		itoa(q.change()),           // 4 PRDY_VRSS 전일 대비
		q.rate(),                   // 5 PRDY_CTRT 전일 대비율
		itoa64(q.avgPrice()),       // 6 WGHN_AVRG_STCK_PRC 가중 평균 주식 가격
		itoa(q.open),               // 7 STCK_OPRC 주식 시가
		itoa(q.high),               // 8 STCK_HGPR 주식 최고가
		itoa(q.low),                // 9 STCK_LWPR 주식 최저가
		itoa(q.ask(0)),             // 10 ASKP1 매도호가1
		itoa(q.bid(0)),             // 11 BIDP1 매수호가1
		itoa(q.qty),                // 12 CNTG_VOL 체결 거래량
		itoa64(q.vol),              // 13 ACML_VOL 누적 거래량
		itoa64(q.amount),           // 14 ACML_TR_PBMN 누적 거래 대금
		itoa(q.sellCnt),            // 15 SELN_CNTG_CSNU 매도 체결 건수
		itoa(q.buyCnt),             // 16 SHNU_CNTG_CSNU 매수 체결 건수
		itoa(q.buyCnt - q.sellCnt), // 17 NTBY_CNTG_CSNU 순매수 체결 건수
		strength,                   // 18 CTTR 체결강도
		itoa64(q.sellQty),          // 19 SELN_CNTG_SMTN 총 매도 수량
		itoa64(q.buyQty),           // 20 SHNU_CNTG_SMTN 총 매수 수량
		ccld,                       // 21 CCLD_DVSN 체결구분
		pct(q.buyQty, q.vol),       // 22 SHNU_RATE 매수비율
		pct(q.vol, q.prevVol()),    // 23 PRDY_VOL_VRSS_ACML_VOL_RATE 전일 거래량 대비 등락율
		q.openAt,                   // 24 OPRC_HOUR 시가 시간
		signOf(q.price - q.open),   // 25 OPRC_VRSS_PRPR_SIGN 시가대비구분
		itoa(q.price - q.open),     // 26 OPRC_VRSS_PRPR 시가대비
		q.highAt,                   // 27 HGPR_HOUR 최고가 시간
		signOf(q.price - q.high),   // 28 HGPR_VRSS_PRPR_SIGN 고가대비구분
		itoa(q.price - q.high),     // 29 HGPR_VRSS_PRPR 고가대비
		q.lowAt,                    // 30 LWPR_HOUR 최저가 시간
		signOf(q.price - q.low),    // 31 LWPR_VRSS_PRPR_SIGN 저가대비구분
		itoa(q.price - q.low),      // 32 LWPR_VRSS_PRPR 저가대비
		q.date,                     // 33 BSOP_DATE 영업 일자
		"20",                       // 34 NEW_MKOP_CLS_CODE 신 장운영 구분 코드 (2: 장중, 0: 보통)
		"N",                        // 35 TRHT_YN 거래정지 여부
		itoa(q.askQty(0)),          // 36 ASKP_RSQN1 매도호가 잔량1
		itoa(q.bidQty(0)),          // 37 BIDP_RSQN1 매수호가 잔량1
		itoa64(askTotal),           // 38 TOTAL_ASKP_RSQN 총 매도호가 잔량
		itoa64(bidTotal),           // 39 TOTAL_BIDP_RSQN 총 매수호가 잔량
		pct(q.vol, q.shares),       // 40 VOL_TNRT 거래량 회전율
		itoa64(q.prevVol()),        // 41 PRDY_SMNS_HOUR_ACML_VOL 전일 동시간 누적 거래량
		pct(q.vol, q.prevVol()),    // 42 PRDY_SMNS_HOUR_ACML_VOL_RATE 전일 동시간 누적 거래량 비율
		"0",                        // 43 HOUR_CLS_CODE 시간 구분 코드 (0: 장중)
		"0",                        // 44 MRKT_TRTM_CLS_CODE 임의종료구분코드
		itoa(q.prev),               // 45 VI_STND_PRC 정적VI발동기준가
	}
}

// kisQuoteRecord is one H0STASP0 (국내주식 실시간호가) record: the 59 fields
// of the official sample's column list (koreainvestment/open-trading-api,
// examples_llm/domestic_stock/asking_price_krx/asking_price_krx.py).
// python-kis reads 1 as HHMMSS, the asks from 3 and the bids from 13 with
// their quantities from 23 and 33 (Soju06/python-kis,
// pykis/api/websocket/order_book.py, KisDomesticRealtimeOrderbook).
func kisQuoteRecord(q quote) []string {
	f := make([]string, 0, kisQuoteFieldCount)
	f = append(f, q.code, q.at, "0") // MKSC_SHRN_ISCD, BSOP_HOUR, HOUR_CLS_CODE (0: 장중)
	for i := range 10 {
		f = append(f, itoa(q.ask(i))) // ASKP1…10
	}
	for i := range 10 {
		f = append(f, itoa(q.bid(i))) // BIDP1…10
	}
	for i := range 10 {
		f = append(f, itoa(q.askQty(i))) // ASKP_RSQN1…10
	}
	for i := range 10 {
		f = append(f, itoa(q.bidQty(i))) // BIDP_RSQN1…10
	}
	askTotal, bidTotal := q.totals()
	f = append(f,
		itoa64(askTotal), itoa64(bidTotal), // TOTAL_ASKP_RSQN, TOTAL_BIDP_RSQN
		"0", "0", // OVTM_TOTAL_ASKP_RSQN, OVTM_TOTAL_BIDP_RSQN (시간외)
		itoa(q.price), itoa(q.qty), itoa64(q.vol), // ANTC_CNPR, ANTC_CNQN, ANTC_VOL (예상 체결)
		itoa(q.change()), q.sign(), q.rate(), // ANTC_CNTG_VRSS, ANTC_CNTG_VRSS_SIGN, ANTC_CNTG_PRDY_CTRT
		itoa64(q.vol),                             // ACML_VOL 누적 거래량
		itoa((q.n*7)%41-20), itoa((q.n*11)%41-20), // TOTAL_ASKP_RSQN_ICDC, TOTAL_BIDP_RSQN_ICDC
		"0", "0", // OVTM_TOTAL_ASKP_ICDC, OVTM_TOTAL_BIDP_ICDC
		"0", // STCK_DEAL_CLS_CODE 주식 매매 구분 코드
	)
	return f
}

// NotifyExecution sends a KIS execution notice (H0STCNI0, or H0STCNI9 on
// mock) of qty shares of code at price to the live session of an app that
// subscribed to it, encrypted with the session's key and iv as KIS does. It
// reports whether a session took it.
func (s *Server) NotifyExecution(e kauth.Env, appKey, code string, qty, price int) bool {
	s.ws.mu.Lock()
	ws := s.ws.live[appID{kauth.KIS, e, appKey}]
	s.ws.mu.Unlock()
	if ws == nil {
		return false
	}
	ws.mu.Lock()
	var trID, htsID string
	for t := range ws.topics {
		if id, key, _ := strings.Cut(t, "|"); id == kisExecNotice || id == kisExecNoticeMock {
			trID, htsID = id, key
		}
	}
	key, iv := ws.key, ws.iv
	ws.mu.Unlock()
	if trID == "" {
		return false
	}
	f := zeros(kisNoticeFieldCount)
	f[0], f[1], f[2], f[8] = htsID, "5012345601", strconv.Itoa(ws.next(trID)), code
	f[9], f[10], f[11], f[13] = strconv.Itoa(qty), strconv.Itoa(price), kstStamp(s.Now(), "150405"), "2" // 체결여부 2: 체결
	ws.send([]byte("1|" + trID + "|001|" + aesCBCBase64(key, iv, strings.Join(f, "^"))))
	return true
}

// aesCBCBase64 encrypts plain as KIS encrypts execution notices: AES-256-CBC
// with PKCS#7 padding under the ASCII key and iv, base64 (the official
// sample's aes_cbc_base64_dec undoes exactly this).
func aesCBCBase64(key, iv, plain string) string {
	block, err := aes.NewCipher([]byte(key))
	if err != nil {
		return ""
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := append([]byte(plain), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(block, []byte(iv)).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf)
}

func zeros(n int) []string {
	f := make([]string, n)
	for i := range f {
		f[i] = "0"
	}
	return f
}

func randomLetters(n int) string {
	b := randomBytes(n)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return string(b)
}
