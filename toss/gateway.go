package toss

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/kauth/kauth/realtime"
)

// NewClient returns the handler of one local client that speaks Toss's
// real-time protocol to a gateway (the kauth agent's /ws/{account}) over a
// shared session: each declaration of the client becomes its Member's set,
// and the session declares the union of every client's set upstream.
func (Realtime) NewClient(c realtime.ClientConfig) realtime.Client {
	return &client{cfg: c, held: map[realtime.Topic]bool{}}
}

// client is one local client speaking Toss's protocol.
type client struct {
	cfg realtime.ClientConfig

	mu   sync.Mutex
	held map[realtime.Topic]bool
	// down says the client was told the upstream session is unavailable:
	// one error frame an outage, however many of its topics wait.
	down bool
}

func (cl *client) Close() {}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// wsError is Toss's error frame (errorFrame), with id when the declaration
// had one.
func wsError(id, code, msg string) []byte {
	m := map[string]any{"type": "error", "error": map[string]string{"code": code, "message": msg}}
	if id != "" {
		m["id"] = id
	}
	return mustJSON(m)
}

// Translate: data as it came. The pong a client sees answers its own PING
// (Handle), so the session's keep-alives are not passed on; an
// interruption is invisible but for the pause (the session declares the
// set again), and a topic that could not be restored is told in an error
// frame, code kauth-lost.
//
// While the session cannot open its connection, the client hears so at
// once, once, in Toss's error frame (code kauth-upstream-down, the message
// naming broker, env and cause), rather than silence for as long as the
// outage lasts; its set stays declared. Once the session is open again it
// gets Toss's subscriptions frame (no id) naming the set the broker holds
// for it again; a declaration that waited meanwhile gets its own answer.
func (cl *client) Translate(msg realtime.Message) [][]byte {
	switch msg.Kind {
	case realtime.Data:
		return [][]byte{msg.Raw}
	case realtime.Unavailable:
		cl.mu.Lock()
		told := cl.down
		cl.down = true
		cl.mu.Unlock()
		if told {
			return nil
		}
		return [][]byte{wsError("", WSUpstreamDown, "kauth: "+realtime.Short(realtime.Cause(msg))+"; retrying")}
	case realtime.Available:
		cl.mu.Lock()
		cl.down = false
		cl.mu.Unlock()
		subscribed := []string{}
		for _, t := range cl.cfg.Member.Topics() {
			subscribed = append(subscribed, t.ID+":"+t.Key)
		}
		return [][]byte{mustJSON(map[string]any{"type": "subscriptions", "subscribed": subscribed, "rejected": []any{}})}
	case realtime.Lost:
		cl.mu.Lock()
		delete(cl.held, msg.Topic)
		cl.mu.Unlock()
		return [][]byte{wsError("", "kauth-lost", fmt.Sprintf("%s:%s could not be restored after the upstream connection dropped; declare it again", msg.Topic.ID, msg.Topic.Key))}
	}
	return nil
}

// WSUpstreamDown is the code of kauth's error frame to a local client
// while the upstream session cannot be opened; kauth keeps trying.
const WSUpstreamDown = "kauth-upstream-down"

// Handle serves a PING (answered {"type":"pong"}) or a declaration, which
// replaces the client's set as it would at Toss: the answer is Toss's
// subscriptions ack, or an error frame that keeps the set declared before.
func (cl *client) Handle(ctx context.Context, data []byte) [][]byte {
	if bytes.Equal(bytes.TrimSpace(data), []byte("PING")) {
		return [][]byte{[]byte(`{"type":"pong"}`)}
	}
	var items []struct {
		ID    string   `json:"id"`
		Type  *string  `json:"type"`
		Codes []string `json:"codes"`
	}
	if json.Unmarshal(data, &items) != nil {
		return [][]byte{wsError("", "wrong-format", "a declaration is one JSON array")}
	}
	id := ""
	for _, it := range items {
		if it.ID != "" && it.Type == nil {
			id = it.ID
		}
	}
	next := map[realtime.Topic]bool{}
	for _, it := range items {
		switch {
		case it.ID != "" && it.Type == nil:
		case it.Type == nil || *it.Type == "":
			return [][]byte{wsError(id, "no-type", "type is required")}
		case !(Realtime{}).Published(*it.Type):
			return [][]byte{wsError(id, "invalid-type", fmt.Sprintf("unknown type %q", *it.Type))}
		case len(it.Codes) == 0:
			return [][]byte{wsError(id, "no-codes", "codes must be a non-empty array of strings")}
		default:
			for _, c := range it.Codes {
				next[realtime.Topic{ID: *it.Type, Key: c}] = true
			}
		}
	}
	if len(next) > cl.cfg.MaxSubscriptions {
		return [][]byte{wsError(id, "too-many-topics", fmt.Sprintf("at most %d topics a connection (kauth: %d per client)", WSMaxSubscriptions, cl.cfg.MaxSubscriptions))}
	}
	m := cl.cfg.Member
	cl.mu.Lock()
	var gone, added []realtime.Topic
	for t := range cl.held {
		if !next[t] {
			gone = append(gone, t)
			delete(cl.held, t)
		}
	}
	for t := range next {
		if !cl.held[t] {
			added = append(added, t)
		}
	}
	cl.mu.Unlock()
	for _, t := range gone {
		m.Unsubscribe(ctx, t)
	}
	// Concurrently: the session puts every topic that waits into one
	// declaration.
	type reject struct {
		Target  string `json:"target"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	var wg sync.WaitGroup
	var rmu sync.Mutex
	rejected := []reject{}
	for _, t := range added {
		wg.Go(func() {
			_, err := m.Subscribe(ctx, t)
			if err == nil {
				cl.mu.Lock()
				cl.held[t] = true
				cl.mu.Unlock()
				return
			}
			r := reject{Target: t.ID + ":" + t.Key, Code: "kauth-unavailable", Message: "kauth: upstream session unavailable: " + err.Error()}
			var re *realtime.Error
			if errors.As(err, &re) {
				r.Code, r.Message = re.Code, re.Message
			}
			rmu.Lock()
			rejected = append(rejected, r)
			rmu.Unlock()
		})
	}
	wg.Wait()
	cl.mu.Lock()
	subscribed := make([]string, 0, len(cl.held))
	for t := range cl.held {
		subscribed = append(subscribed, t.ID+":"+t.Key)
	}
	cl.mu.Unlock()
	slices.Sort(subscribed)
	slices.SortFunc(rejected, func(a, b reject) int {
		if a.Target < b.Target {
			return -1
		}
		if a.Target > b.Target {
			return 1
		}
		return 0
	})
	ack := map[string]any{"type": "subscriptions", "subscribed": subscribed, "rejected": rejected}
	if id != "" {
		ack["id"] = id
	}
	return [][]byte{mustJSON(ack)}
}
