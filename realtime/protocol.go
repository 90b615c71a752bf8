package realtime

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/kauth/kauth"
)

// protocol is one broker's real-time wire format.
type protocol interface {
	// request is the message that subscribes (on) or unsubscribes t,
	// carrying the session credential key where the broker wants it.
	request(t Topic, on bool, key string) []byte
	// login is the first message of a session, or nil if there is none.
	login(key string) []byte
	// parse classifies a message from the broker.
	parse(msg []byte) parsed
	// limit is the broker's subscription limit per session.
	limit() int
}

// What a parsed message is.
const (
	pOther = iota
	pData
	pKeepAlive
	pAnswer // to a subscribe or unsubscribe
	pLogin  // Kiwoom LOGIN answer
	pSystem // Kiwoom SYSTEM notice
)

type parsed struct {
	kind  int
	topic Topic
	// byID routes a data frame to every topic with topic.ID (KIS encrypted
	// execution notices, whose key cannot be read).
	byID bool
	// entries are the (type, item) of each entry of a Kiwoom REAL frame, and
	// raw their JSON.
	entries []Topic
	raw     []json.RawMessage

	op        string // Kiwoom: REG, REMOVE
	ok        bool   // the broker accepted
	code, msg string
	rejected  bool // the session credential was refused
	inUse     bool // KIS: another session holds the app key
}

func newProtocol(b kauth.Broker) protocol {
	if b == kauth.Kiwoom {
		return kiwoomProtocol{}
	}
	return kisProtocol{}
}

// KIS codes (see brokersim/kis_ws.go for the sources).
const (
	kisSubscribed   = "OPSP0000"
	kisUnsubscribed = "OPSP0001"
	kisAlready      = "OPSP0002"
	kisNotFound     = "OPSP0003"
	kisMaxSubscribe = "OPSP0008"
	kisInvalidKey   = "OPSP0011"
	kisInUse        = "OPSP8996"
	kisPingPong     = "PINGPONG"
)

// KISMaxSubscriptions is the number of registrations KIS allows one session
// (koreainvestment/open-trading-api, MCP prompt: "1개 appkey당 최대 41건 등록
// 제한").
const KISMaxSubscriptions = 41

// KiwoomMaxSubscriptions is the limit the Session keeps for Kiwoom, which
// publishes none.
const KiwoomMaxSubscriptions = 100

type kisProtocol struct{}

func (kisProtocol) limit() int { return KISMaxSubscriptions }

func (kisProtocol) login(string) []byte { return nil }

// request builds the subscribe JSON of the official sample
// (legacy/websocket/python/ops_ws_sample.py): header approval_key,
// custtype, tr_type "1"/"2", content-type; body.input tr_id, tr_key.
func (p kisProtocol) request(t Topic, on bool, key string) []byte {
	trType := "2"
	if on {
		trType = "1"
	}
	b, _ := json.Marshal(map[string]any{
		"header": map[string]string{"approval_key": key, "custtype": "P", "tr_type": trType, "content-type": "utf-8"},
		"body":   map[string]any{"input": map[string]string{"tr_id": t.ID, "tr_key": t.Key}},
	})
	return b
}

// parse reads a KIS frame: "0|tr_id|count|f0^f1…" (flag 1: encrypted) or
// a JSON control message.
func (kisProtocol) parse(msg []byte) parsed {
	if len(msg) > 0 && (msg[0] == '0' || msg[0] == '1') {
		rest := msg[1:]
		if len(rest) == 0 || rest[0] != '|' {
			return parsed{}
		}
		rest = rest[1:]
		i := bytes.IndexByte(rest, '|')
		if i < 0 {
			return parsed{}
		}
		id := string(rest[:i])
		rest = rest[i+1:]
		j := bytes.IndexByte(rest, '|')
		if j < 0 {
			return parsed{}
		}
		payload := rest[j+1:]
		if msg[0] == '1' {
			return parsed{kind: pData, topic: Topic{ID: id}, byID: true}
		}
		if k := bytes.IndexByte(payload, '^'); k >= 0 {
			payload = payload[:k]
		}
		return parsed{kind: pData, topic: Topic{ID: id, Key: string(payload)}}
	}
	var m struct {
		Header struct {
			TrID  string `json:"tr_id"`
			TrKey string `json:"tr_key"`
		} `json:"header"`
		Body *struct {
			RtCd  string `json:"rt_cd"`
			MsgCd string `json:"msg_cd"`
			Msg1  string `json:"msg1"`
		} `json:"body"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return parsed{}
	}
	if m.Header.TrID == kisPingPong {
		return parsed{kind: pKeepAlive}
	}
	if m.Body == nil {
		return parsed{}
	}
	p := parsed{kind: pAnswer, topic: Topic{ID: m.Header.TrID, Key: m.Header.TrKey}, code: m.Body.MsgCd, msg: m.Body.Msg1}
	switch m.Body.MsgCd {
	case kisSubscribed, kisUnsubscribed, kisAlready, kisNotFound:
		p.ok = true
	case kisInvalidKey:
		p.rejected = true
	case kisInUse:
		p.inUse = true
	}
	return p
}

type kiwoomProtocol struct{}

func (kiwoomProtocol) limit() int { return KiwoomMaxSubscriptions }

// login is the first frame the official client sends
// (Kiwoom-Securities/Kiwoom-REST-API kiwoom/core/ws_client.py, _login).
func (kiwoomProtocol) login(key string) []byte {
	b, _ := json.Marshal(map[string]string{"trnm": "LOGIN", "token": key})
	return b
}

// request builds the REG/REMOVE packet of the official sample
// (build_realtime_reg_packet): grp_no, refresh "1" (keep the group's other
// registrations), data [{item, type}].
func (kiwoomProtocol) request(t Topic, on bool, _ string) []byte {
	trnm := "REMOVE"
	if on {
		trnm = "REG"
	}
	b, _ := json.Marshal(map[string]any{"trnm": trnm, "grp_no": "1", "refresh": "1",
		"data": []map[string][]string{{"item": {t.Key}, "type": {t.ID}}}})
	return b
}

// kiwoomAuthCodes are the LOGIN refusals that a new token may cure; the
// official client retries exactly these (AUTH_RETRY_RETURN_CODES).
var kiwoomAuthCodes = []string{"8005", "8031", "8103"}

func (kiwoomProtocol) parse(msg []byte) parsed {
	var m struct {
		Trnm       string            `json:"trnm"`
		ReturnCode json.RawMessage   `json:"return_code"`
		ReturnMsg  string            `json:"return_msg"`
		Code       string            `json:"code"`
		Message    string            `json:"message"`
		Data       []json.RawMessage `json:"data"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return parsed{}
	}
	switch strings.ToUpper(m.Trnm) {
	case "REAL":
		p := parsed{kind: pData, raw: m.Data, entries: make([]Topic, len(m.Data))}
		for i, d := range m.Data {
			var e struct {
				Type string `json:"type"`
				Item string `json:"item"`
			}
			json.Unmarshal(d, &e)
			p.entries[i] = Topic{ID: e.Type, Key: e.Item}
		}
		return p
	case "PING":
		return parsed{kind: pKeepAlive}
	case "SYSTEM":
		return parsed{kind: pSystem, code: m.Code, msg: m.Message}
	case "LOGIN", "REG", "REMOVE":
		code := strings.Trim(string(m.ReturnCode), `"`)
		p := parsed{kind: pAnswer, op: strings.ToUpper(m.Trnm), code: code, msg: m.ReturnMsg, ok: code == "" || code == "0"}
		if p.op == "LOGIN" {
			p.kind = pLogin
			for _, c := range kiwoomAuthCodes {
				if p.ok {
					break
				}
				if code == c || strings.Contains(m.ReturnMsg, "CODE="+c) || strings.Contains(m.ReturnMsg, "["+c+":") {
					p.rejected = true
				}
			}
		}
		if _, err := strconv.Atoi(code); err != nil && !p.ok {
			p.code = "?"
		}
		return p
	}
	return parsed{}
}
