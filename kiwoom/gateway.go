package kiwoom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/kauth/kauth/realtime"
)

// NewClient returns the handler of one local client that speaks Kiwoom's
// real-time protocol to a gateway (the kauth agent's /ws/{account}, or a
// WebSocket under its facade URL) over a shared session.
func (Realtime) NewClient(c realtime.ClientConfig) realtime.Client {
	return &client{cfg: c, topics: map[realtime.Topic]bool{}, groups: map[string][]realtime.Topic{}}
}

// client is one local client speaking Kiwoom's protocol.
type client struct {
	cfg realtime.ClientConfig

	mu     sync.Mutex
	topics map[realtime.Topic]bool
	groups map[string][]realtime.Topic // grp_no → topics
}

func (cl *client) Close() {}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// Translate: data and keep-alives as they came; Kiwoom tells of session
// events with SYSTEM frames, so an interruption is one.
func (cl *client) Translate(msg realtime.Message) [][]byte {
	switch msg.Kind {
	case realtime.Data, realtime.KeepAlive:
		return [][]byte{msg.Raw}
	case realtime.Lost:
		cl.mu.Lock()
		delete(cl.topics, msg.Topic)
		cl.mu.Unlock()
		return [][]byte{msg.Raw}
	case realtime.Interrupted:
		return [][]byte{mustJSON(map[string]string{"trnm": "SYSTEM", "code": "kauth_interrupted",
			"message": "upstream session interrupted; kauth is restoring the registrations"})}
	case realtime.Unavailable:
		// Kiwoom's SYSTEM notice (its R10001 closes a replaced session), and
		// its error fields, which the SDK's kiwoom/core/ws_client.py reads
		// off any answer (return_code, return_msg). The registrations stay
		// and are made once the session is back.
		return [][]byte{mustJSON(map[string]any{"trnm": "SYSTEM", "code": "kauth_upstream_down",
			"message":     "kauth: " + realtime.Short(realtime.Cause(msg)) + "; retrying",
			"return_code": 1, "return_msg": "kauth: " + realtime.Short(realtime.Cause(msg))})}
	case realtime.Available:
		return [][]byte{mustJSON(map[string]any{"trnm": "SYSTEM", "code": "kauth_upstream_back",
			"message":     "kauth: upstream session open again; restoring the registrations",
			"return_code": 0, "return_msg": ""})}
	}
	return nil
}

// Handle serves a LOGIN, REG, REMOVE or PING. LOGIN is answered at once:
// the session logs in with the managed token, so a bot may send a
// placeholder.
func (cl *client) Handle(ctx context.Context, data []byte) [][]byte {
	var req struct {
		Trnm    string `json:"trnm"`
		GrpNo   string `json:"grp_no"`
		Refresh string `json:"refresh"`
		Data    []struct {
			Item []string `json:"item"`
			Type []string `json:"type"`
		} `json:"data"`
	}
	if json.Unmarshal(data, &req) != nil {
		return [][]byte{mustJSON(map[string]string{"trnm": "SYSTEM", "code": "kauth_bad_request", "message": "invalid JSON"})}
	}
	answer := func(code int, msg string) [][]byte {
		return [][]byte{mustJSON(map[string]any{"trnm": req.Trnm, "return_code": code, "return_msg": msg})}
	}
	switch strings.ToUpper(req.Trnm) {
	case "PING":
		return nil
	case "LOGIN":
		return answer(0, "")
	case "REG", "REMOVE":
	default:
		return answer(1, "unknown trnm")
	}
	var topics []realtime.Topic
	for _, d := range req.Data {
		for _, typ := range d.Type {
			for _, item := range d.Item {
				topics = append(topics, realtime.Topic{ID: typ, Key: item})
			}
		}
	}
	m := cl.cfg.Member
	if strings.EqualFold(req.Trnm, "REMOVE") {
		for _, t := range topics {
			m.Unsubscribe(ctx, t)
			cl.forget(t)
		}
		return answer(0, "")
	}
	for _, t := range topics {
		if !(Realtime{}).Published(t.ID) {
			return answer(1, "kauth: 실시간 항목 "+t.ID+" is not a Kiwoom real-time type")
		}
	}
	cl.mu.Lock()
	var replaced []realtime.Topic
	if req.Refresh == "0" {
		replaced = cl.groups[req.GrpNo]
	}
	fits := realtime.Fits(cl.topics, topics, replaced, cl.cfg.MaxSubscriptions)
	cl.mu.Unlock()
	if !fits {
		// The whole REG is refused, as Kiwoom refuses one past its limit.
		return answer(1, fmt.Sprintf("등록 종목수 초과 (kauth: %d per client)", cl.cfg.MaxSubscriptions))
	}
	if req.Refresh == "0" {
		cl.mu.Lock()
		old := cl.groups[req.GrpNo]
		delete(cl.groups, req.GrpNo)
		cl.mu.Unlock()
		for _, t := range old {
			m.Unsubscribe(ctx, t)
			cl.forget(t)
		}
	}
	for _, t := range topics {
		if _, err := m.Subscribe(ctx, t); err != nil {
			var re *realtime.Error
			if errors.As(err, &re) {
				code := 1
				fmt.Sscan(re.Code, &code)
				return answer(code, re.Message)
			}
			return answer(1, "kauth: upstream session unavailable: "+err.Error())
		}
		cl.mu.Lock()
		cl.topics[t] = true
		cl.groups[req.GrpNo] = append(cl.groups[req.GrpNo], t)
		cl.mu.Unlock()
	}
	return answer(0, "")
}

func (cl *client) forget(t realtime.Topic) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	delete(cl.topics, t)
	for g, ts := range cl.groups {
		for i, x := range ts {
			if x == t {
				cl.groups[g] = append(ts[:i:i], ts[i+1:]...)
				break
			}
		}
	}
}
