package toss

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/realtime"
)

// Toss's real-time protocol, from its AsyncAPI document (1.2.2,
// openapi.tossinvest.com, mirrored in kenshin579/toss-go,
// docs/api/asyncapi.json, channels.connection):
//
//   - The access token rides in the handshake ("Authorization: Bearer
//     {access_token}"; 401 when missing, invalid or expired). It is checked
//     once: an open connection outlives its token.
//   - A declaration is one JSON array naming the whole subscription set
//     ("선언형 full-replace — 빠진 항목은 자동 해제"): [{"id":"…"},
//     {"type":"trade:kr","codes":["005930"]}]. It is answered
//     {"type":"subscriptions","id","subscribed":[…],"rejected":[{target,
//     code,message}]}, or refused whole with {"type":"error","error":
//     {code,message},"id"}, which keeps the set declared before.
//   - Limits: 2 connections per account (a new one displaces the oldest),
//     100 topics a connection (too-many-topics), 5 declarations a second
//     (rate-limit-exceeded: "약 1초 대기 후 재선언").
//   - Data: {"type":"message","topic":"trade:kr:005930","data":{…}}.
//   - Keep-alive: the client sends the text PING ("60초 간격 권장"), the
//     server answers {"type":"pong"} and closes a connection that sent
//     nothing for 180 s.

// WSMaxSubscriptions is Toss's limit of topics a connection (연결당 구독 수
// 100건, counted per type and code).
const WSMaxSubscriptions = 100

// WSDeclareRate is how many declarations a second a Session sends: 90% of
// the 5 a second Toss accepts (선언 빈도 5회/초), so that a jittery clock
// never makes six in one second.
const WSDeclareRate = 4.5

// WSPingEvery is the period of the text PING (60초 간격 권장, well inside
// the 180 s idle close).
const WSPingEvery = 60 * time.Second

// wsPath is the WebSocket endpoint under a host (servers.production).
const wsPath = "/ws/v1"

// Realtime is Toss's real-time protocol. Its sessions open with the access
// token in the handshake. Topics are a subscription type and a code:
// Topic{ID: "trade:kr", Key: "005930"}, Topic{ID: "orderbook:us", Key:
// "AAPL"}, Topic{ID: "personal:order", Key: accountSeq}.
type Realtime struct{}

var (
	_ realtime.ClientProtocol = Realtime{}
	_ realtime.Handshaker     = Realtime{}
	_ realtime.Declarer       = Realtime{}
	_ realtime.Pinger         = Realtime{}
	_ realtime.Pacer          = Realtime{}
)

// Realtime returns Toss's real-time protocol.
func (p *Provider) Realtime() realtime.Protocol { return Realtime{} }

// URL returns WebSocketURL for the published domain and for "", and for
// any other base (a proxy, the simulator) the same host with ws:// or
// wss:// and /ws/v1. Toss has one environment.
func (Realtime) URL(_ kauth.Env, restBase string) string {
	base := strings.TrimSuffix(restBase, "/")
	switch {
	case base == "" || base == URL:
		return WebSocketURL
	case strings.HasPrefix(base, "https://"):
		base = "wss://" + strings.TrimPrefix(base, "https://")
	case strings.HasPrefix(base, "http://"):
		base = "ws://" + strings.TrimPrefix(base, "http://")
	}
	return base + wsPath
}

// Header carries the access token on the upgrade request.
func (Realtime) Header(key string) http.Header {
	return http.Header{"Authorization": {"Bearer " + key}}
}

// Login: Toss has no login message; the token is in the handshake.
func (Realtime) Login(string) []byte { return nil }

// Request declares t alone, or nothing. A Session declares whole sets
// (Declare); Request is what one topic's declaration looks like.
func (r Realtime) Request(t realtime.Topic, on bool, _ string) []byte {
	if !on {
		return []byte("[]")
	}
	return r.Declare([]realtime.Topic{t}, 0)
}

// declID is the id of declaration seq, echoed in its answer.
func declID(seq uint64) string { return "kauth-" + strconv.FormatUint(seq, 10) }

// Declare is the declaration of set: an id element, then one element per
// type with its codes, in set's order.
func (Realtime) Declare(set []realtime.Topic, seq uint64) []byte {
	type item struct {
		ID    string   `json:"id,omitempty"`
		Type  string   `json:"type,omitempty"`
		Codes []string `json:"codes,omitempty"`
	}
	items := []item{{ID: declID(seq)}}
	at := map[string]int{}
	for _, t := range set {
		i, ok := at[t.ID]
		if !ok {
			i = len(items)
			at[t.ID] = i
			items = append(items, item{Type: t.ID})
		}
		items[i].Codes = append(items[i].Codes, t.Key)
	}
	b, _ := json.Marshal(items)
	return b
}

// Declared reports whether f answers declaration seq: its id, or none
// (an error frame may come without one).
func (Realtime) Declared(f realtime.Frame, seq uint64) bool {
	return f.Kind == realtime.FrameAnswer && (f.Op == "" || f.Op == declID(seq))
}

// Answers: a Session over Toss matches declarations (Declared).
func (Realtime) Answers(realtime.Frame, realtime.Topic, bool) bool { return false }

// ControlRate is WSDeclareRate.
func (Realtime) ControlRate() float64 { return WSDeclareRate }

// Ping is the text PING every WSPingEvery.
func (Realtime) Ping() ([]byte, time.Duration) { return []byte("PING"), WSPingEvery }

// Limits returns WSMaxSubscriptions and Toss's refusal past it.
func (Realtime) Limits(n int) (max int, code, msg string) {
	return WSMaxSubscriptions, "too-many-topics", fmt.Sprintf("at most %d topics a connection (kauth: %d)", WSMaxSubscriptions, n)
}

// Published reports whether id is one of the subscription types of the
// AsyncAPI document: trade:kr, trade:us, orderbook:kr, orderbook:us,
// personal:order.
func (Realtime) Published(id string) bool {
	switch id {
	case "trade:kr", "trade:us", "orderbook:kr", "orderbook:us", "personal:order":
		return true
	}
	return false
}

// topicOf splits a full key, "trade:kr:005930", into its type and code.
func topicOf(full string) realtime.Topic {
	i := strings.LastIndexByte(full, ':')
	if i < 0 {
		return realtime.Topic{ID: full}
	}
	return realtime.Topic{ID: full[:i], Key: full[i+1:]}
}

// Parse reads a Toss frame by its top-level type: message (data),
// subscriptions (a declaration's answer), error, pong. It never panics.
func (Realtime) Parse(msg []byte) realtime.Frame {
	var m struct {
		Type     string `json:"type"`
		ID       string `json:"id"`
		Topic    string `json:"topic"`
		Rejected []struct {
			Target  string `json:"target"`
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"rejected"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return realtime.Frame{}
	}
	switch m.Type {
	case "message":
		t := topicOf(m.Topic)
		if t.ID == "" {
			return realtime.Frame{}
		}
		return realtime.Frame{Kind: realtime.FrameData, Topic: t}
	case "pong":
		return realtime.Frame{Kind: realtime.FrameKeepAlive}
	case "subscriptions":
		f := realtime.Frame{Kind: realtime.FrameAnswer, Op: m.ID, OK: true}
		for _, r := range m.Rejected {
			f.Refused = append(f.Refused, realtime.Refusal{Topic: topicOf(r.Target), Code: r.Code, Msg: r.Message})
		}
		return f
	case "error":
		f := realtime.Frame{Kind: realtime.FrameAnswer, Op: m.ID}
		if m.Error != nil {
			f.Code, f.Msg = m.Error.Code, m.Error.Message
		}
		switch f.Code {
		case "server-shutdown":
			// Sent before a deploy closes the connection; the Session
			// reconnects when it does.
			f.Kind, f.Op = realtime.FrameSystem, ""
		case "too-many-topics", "too-many":
			f.Limit = true
		case "rate-limit-exceeded":
			f.Retry = true
		}
		return f
	}
	return realtime.Frame{}
}
