package kis

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/realtime"
)

// KIS's real-time WebSocket URLs: the official samples' ops/vops settings.
const (
	WSRealURL = "ws://ops.koreainvestment.com:21000"
	WSMockURL = "ws://ops.koreainvestment.com:31000"
)

// MaxSubscriptions is the number of registrations KIS allows one real-time
// session (koreainvestment/open-trading-api, MCP prompt: "1개 appkey당 최대
// 41건 등록 제한").
const MaxSubscriptions = 41

// KIS's real-time codes (see brokersim/kis_ws.go for the sources).
const (
	wsSubscribed   = "OPSP0000"
	wsUnsubscribed = "OPSP0001"
	wsAlready      = "OPSP0002"
	wsNotFound     = "OPSP0003"
	wsMaxSubscribe = "OPSP0008"
	wsInvalidKey   = "OPSP0011"
	wsInUse        = "OPSP8996"
	wsPingPong     = "PINGPONG"
)

// Realtime is KIS's real-time protocol. Its sessions open with the WebSocket
// approval key (NewApprovalManager), not the access token.
type Realtime struct{}

// Realtime returns KIS's real-time protocol.
func (p *Provider) Realtime() realtime.Protocol { return Realtime{} }

// URL returns the WebSocket URL at env for a REST base URL (see
// realtime.Protocol).
func (Realtime) URL(env kauth.Env, restBase string) string {
	base := strings.TrimSuffix(restBase, "/")
	switch base {
	case "", RealURL, MockURL:
		if env == kauth.Real {
			return WSRealURL
		}
		return WSMockURL
	}
	return wsScheme(base)
}

// wsScheme turns an http(s) URL into a ws(s) one.
func wsScheme(u string) string {
	switch {
	case strings.HasPrefix(u, "https://"):
		return "wss://" + strings.TrimPrefix(u, "https://")
	case strings.HasPrefix(u, "http://"):
		return "ws://" + strings.TrimPrefix(u, "http://")
	}
	return u
}

// Login returns nil: KIS sessions have no login; every request carries the
// approval key.
func (Realtime) Login(string) []byte { return nil }

// Request builds the subscribe JSON of the official sample
// (legacy/websocket/python/ops_ws_sample.py): header approval_key,
// custtype, tr_type "1"/"2", content-type; body.input tr_id, tr_key.
func (Realtime) Request(t realtime.Topic, on bool, key string) []byte {
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

// Parse reads a KIS frame: "0|tr_id|count|f0^f1…" (flag 1: encrypted) or
// a JSON control message.
func (Realtime) Parse(msg []byte) realtime.Frame {
	if len(msg) > 0 && (msg[0] == '0' || msg[0] == '1') {
		rest := msg[1:]
		if len(rest) == 0 || rest[0] != '|' {
			return realtime.Frame{}
		}
		rest = rest[1:]
		i := bytes.IndexByte(rest, '|')
		if i < 0 {
			return realtime.Frame{}
		}
		id := string(rest[:i])
		rest = rest[i+1:]
		j := bytes.IndexByte(rest, '|')
		if j < 0 {
			return realtime.Frame{}
		}
		payload := rest[j+1:]
		if msg[0] == '1' {
			return realtime.Frame{Kind: realtime.FrameData, Topic: realtime.Topic{ID: id}, ByID: true}
		}
		if k := bytes.IndexByte(payload, '^'); k >= 0 {
			payload = payload[:k]
		}
		return realtime.Frame{Kind: realtime.FrameData, Topic: realtime.Topic{ID: id, Key: string(payload)}}
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
		return realtime.Frame{}
	}
	if m.Header.TrID == wsPingPong {
		return realtime.Frame{Kind: realtime.FrameKeepAlive}
	}
	if m.Body == nil {
		return realtime.Frame{}
	}
	f := realtime.Frame{Kind: realtime.FrameAnswer, Topic: realtime.Topic{ID: m.Header.TrID, Key: m.Header.TrKey},
		Code: m.Body.MsgCd, Msg: m.Body.Msg1, Ack: true}
	switch m.Body.MsgCd {
	case wsSubscribed, wsUnsubscribed, wsAlready, wsNotFound:
		f.OK = true
	case wsInvalidKey:
		f.Rejected = true
	case wsInUse:
		f.InUse = true
	case wsMaxSubscribe:
		f.Limit = true
	}
	return f
}

// Answers: KIS's answer names the topic.
func (Realtime) Answers(f realtime.Frame, t realtime.Topic, _ bool) bool {
	return f.Kind == realtime.FrameAnswer && f.Topic == t
}

// Limits returns KIS's 41 and its refusal past them.
func (Realtime) Limits(int) (max int, code, msg string) {
	return MaxSubscriptions, wsMaxSubscribe, "MAX SUBSCRIBE OVER"
}

// Published reports whether id is one of the real-time tr_ids KIS
// publishes.
func (Realtime) Published(id string) bool { return trs[id] }

// trs are the real-time tr_ids KIS publishes: every tr_id the official
// samples subscribe (koreainvestment/open-trading-api,
// examples_user/*/*_functions_ws.py and legacy/websocket/python/*.py):
// domestic stocks on KRX (H0ST…), NXT (H0NX…) and both (H0UN…), indices
// (H0UP…), ELW (H0EW…), ETF NAV, bonds (H0B…), domestic futures and options
// (H0IF…, H0IO…, H0ZF…, H0ZO…, H0CF…, H0MF…, H0EU…), overseas stocks
// (HDFS…, H0GS…) and overseas futures and options (HDFF…). The mock
// execution notices end in 9.
var trs = set(
	// 국내주식: 체결가, 호가, 체결통보(모의 9), 예상체결, 장운영정보,
	// 회원사, 프로그램매매, 시간외 체결/호가/예상체결
	"H0STCNT0", "H0STASP0", "H0STCNI0", "H0STCNI9", "H0STANC0", "H0STMKO0",
	"H0STMBC0", "H0STPGM0", "H0STOUP0", "H0STOAA0", "H0STOAC0", "H0STNAV0",
	"H0NXCNT0", "H0NXASP0", "H0NXANC0", "H0NXMKO0", "H0NXMBC0", "H0NXPGM0",
	"H0UNCNT0", "H0UNASP0", "H0UNANC0", "H0UNMKO0", "H0UNMBC0", "H0UNPGM0",
	"H0UPCNT0", "H0UPANC0", "H0UPPGM0",
	"H0EWCNT0", "H0EWASP0", "H0EWANC0",
	"H0BJCNT0", "H0BJASP0", "H0BICNT0",
	// 국내선물옵션
	"H0IFCNT0", "H0IFASP0", "H0IFCNI0", "H0IFCNI9", "H0IOCNT0", "H0IOASP0",
	"H0ZFCNT0", "H0ZFASP0", "H0ZFANC0", "H0ZOCNT0", "H0ZOASP0", "H0ZOANC0",
	"H0CFCNT0", "H0CFASP0", "H0MFCNT0", "H0MFASP0", "H0MFCNI0",
	"H0EUCNT0", "H0EUASP0", "H0EUANC0", "H0EUCNI0",
	// 해외주식, 해외선물옵션
	"HDFSCNT0", "HDFSASP0", "HDFSASP1", "H0GSCNI0", "H0GSCNI9",
	"HDFFF010", "HDFFF020", "HDFFF1C0", "HDFFF2C0",
)

func set(ids ...string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}
