package kiwoom

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/realtime"
)

// Kiwoom's real-time WebSocket URLs: the official SDK's get_ws_base_url
// plus /api/dostk/websocket.
const (
	WSRealURL = "wss://api.kiwoom.com:10000" + wsPath
	WSMockURL = "wss://mockapi.kiwoom.com:10000" + wsPath
	wsPath    = "/api/dostk/websocket"
)

// MaxSubscriptions is the limit a real-time session keeps for Kiwoom, which
// publishes none.
const MaxSubscriptions = 100

// Realtime is Kiwoom's real-time protocol. Its sessions log in with the
// access token.
type Realtime struct{}

// Realtime returns Kiwoom's real-time protocol.
func (p *Provider) Realtime() realtime.Protocol { return Realtime{} }

// URL returns the WebSocket URL at env for a REST base URL (see
// realtime.Protocol): for a base other than the published domains, the
// same host with ws:// or wss:// and /api/dostk/websocket.
func (Realtime) URL(env kauth.Env, restBase string) string {
	base := strings.TrimSuffix(restBase, "/")
	switch base {
	case "", RealURL, MockURL:
		if env == kauth.Real {
			return WSRealURL
		}
		return WSMockURL
	}
	switch {
	case strings.HasPrefix(base, "https://"):
		base = "wss://" + strings.TrimPrefix(base, "https://")
	case strings.HasPrefix(base, "http://"):
		base = "ws://" + strings.TrimPrefix(base, "http://")
	}
	return base + wsPath
}

// Login is the first frame the official client sends
// (Kiwoom-Securities/Kiwoom-REST-API kiwoom/core/ws_client.py, _login).
func (Realtime) Login(key string) []byte {
	b, _ := json.Marshal(map[string]string{"trnm": "LOGIN", "token": key})
	return b
}

// Request builds the REG/REMOVE packet of the official sample
// (build_realtime_reg_packet): grp_no, refresh "1" (keep the group's other
// registrations), data [{item, type}].
func (Realtime) Request(t realtime.Topic, on bool, _ string) []byte {
	trnm := "REMOVE"
	if on {
		trnm = "REG"
	}
	b, _ := json.Marshal(map[string]any{"trnm": trnm, "grp_no": "1", "refresh": "1",
		"data": []map[string][]string{{"item": {t.Key}, "type": {t.ID}}}})
	return b
}

// authCodes are the LOGIN refusals that a new token may cure; the official
// client retries exactly these (AUTH_RETRY_RETURN_CODES).
var authCodes = []string{"8005", "8031", "8103"}

// Parse reads a Kiwoom frame: REAL, PING, SYSTEM, or the answer to LOGIN,
// REG or REMOVE.
func (Realtime) Parse(msg []byte) realtime.Frame {
	var m struct {
		Trnm       string            `json:"trnm"`
		ReturnCode json.RawMessage   `json:"return_code"`
		ReturnMsg  string            `json:"return_msg"`
		Code       string            `json:"code"`
		Message    string            `json:"message"`
		Data       []json.RawMessage `json:"data"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return realtime.Frame{}
	}
	switch strings.ToUpper(m.Trnm) {
	case "REAL":
		f := realtime.Frame{Kind: realtime.FrameData, Raw: m.Data, Entries: make([]realtime.Topic, len(m.Data))}
		for i, d := range m.Data {
			var e struct {
				Type string `json:"type"`
				Item string `json:"item"`
			}
			json.Unmarshal(d, &e)
			f.Entries[i] = realtime.Topic{ID: e.Type, Key: e.Item}
		}
		return f
	case "PING":
		return realtime.Frame{Kind: realtime.FrameKeepAlive}
	case "SYSTEM":
		return realtime.Frame{Kind: realtime.FrameSystem, Code: m.Code, Msg: m.Message}
	case "LOGIN", "REG", "REMOVE":
		code := strings.Trim(string(m.ReturnCode), `"`)
		f := realtime.Frame{Kind: realtime.FrameAnswer, Op: strings.ToUpper(m.Trnm), Code: code, Msg: m.ReturnMsg, OK: code == "" || code == "0"}
		if f.Op == "LOGIN" {
			f.Kind = realtime.FrameLogin
			for _, c := range authCodes {
				if f.OK {
					break
				}
				if code == c || strings.Contains(m.ReturnMsg, "CODE="+c) || strings.Contains(m.ReturnMsg, "["+c+":") {
					f.Rejected = true
				}
			}
		}
		if _, err := strconv.Atoi(code); err != nil && !f.OK {
			f.Code = "?"
		}
		return f
	}
	return realtime.Frame{}
}

// Answers: Kiwoom's answer names the request (REG, REMOVE), not the item.
func (Realtime) Answers(f realtime.Frame, _ realtime.Topic, on bool) bool {
	op := "REMOVE"
	if on {
		op = "REG"
	}
	return f.Kind == realtime.FrameAnswer && f.Op == op
}

// Limits returns the 100 kauth keeps, and the refusal past n in Kiwoom's
// words.
func (Realtime) Limits(n int) (max int, code, msg string) {
	return MaxSubscriptions, "1", fmt.Sprintf("등록 종목수 초과 (kauth: %d per session)", n)
}

// Published reports whether id is one of the real-time types Kiwoom
// publishes (its REST API guide, 국내주식 WEBSOCKET 실시간시세, "TR명" list
// of 18): 00 주문체결, 04 잔고, 0A 주식기세, 0B 주식체결, 0C 주식우선호가,
// 0D 주식호가잔량, 0E 주식시간외호가, 0F 주식당일거래원, 0G ETF NAV, 0H
// 주식예상체결, 0J 업종지수, 0U 업종등락, 0g 주식종목정보, 0m ELW 이론가, 0s
// 장시작시간, 0u ELW 지표, 0w 종목프로그램매매, 1h VI발동/해제.
func (Realtime) Published(id string) bool {
	switch id {
	case "00", "04", "0A", "0B", "0C", "0D", "0E", "0F", "0G", "0H",
		"0J", "0U", "0g", "0m", "0s", "0u", "0w", "1h":
		return true
	}
	return false
}
