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
	now := kstStamp(ws.s.Now(), "150405")
	var out [][]byte
	for _, t := range topics {
		trID, code, _ := strings.Cut(t, "|")
		price := 10000
		if st, ok := stocks[code]; ok {
			price = st.price
		}
		var f []string
		switch trID {
		case kisTradeTR:
			f = zeros(kisTradeFieldCount)
			f[0], f[1], f[2], f[3] = code, now, strconv.Itoa(price), "3"
			f[10], f[11] = strconv.Itoa(price+100), strconv.Itoa(price)
			f[12], f[13] = "1", strconv.Itoa(ws.next(t)) // 체결거래량, 누적거래량
		case kisQuoteTR:
			f = zeros(kisQuoteFieldCount)
			f[0], f[1] = code, now
			for i := range 10 {
				f[3+i] = strconv.Itoa(price + 100*(i+1))
				f[13+i] = strconv.Itoa(price - 100*i)
			}
			f[53] = strconv.Itoa(ws.next(t)) // 누적거래량
		default:
			continue
		}
		out = append(out, []byte("0|"+trID+"|001|"+strings.Join(f, "^")))
	}
	return out
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
