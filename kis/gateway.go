package kis

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/kauth/kauth/realtime"
)

// NewClient returns the handler of one local client that speaks KIS's
// real-time protocol to a gateway (the kauth agent's /ws/{account}, or a
// WebSocket under its facade URL) over a shared session.
func (Realtime) NewClient(c realtime.ClientConfig) realtime.Client {
	return &client{cfg: c, topics: map[realtime.Topic]bool{}}
}

// client is one local client speaking KIS's protocol.
type client struct {
	cfg realtime.ClientConfig

	mu     sync.Mutex
	topics map[realtime.Topic]bool
	output json.RawMessage // the key and iv of the last subscribe answer

	// pending is the subscribe waiting for its answer while the next
	// request is read (only Handle and Close touch the pointer).
	pending *pendingSub
}

// pendingSub is a subscribe on its way upstream.
type pendingSub struct {
	t      realtime.Topic
	cancel context.CancelFunc
	done   chan struct{} // closed once the client has its answer
	// undone says the client unsubscribed t before the answer; canceled
	// that nothing went upstream. Both are guarded by client.mu.
	undone, canceled bool
}

func (cl *client) Close() {
	if p := cl.pending; p != nil {
		p.cancel()
		<-p.done
	}
}

// Translate: data and keep-alives as they came; a restored topic is KIS's
// SUBSCRIBE SUCCESS with the new key and iv; an interruption is an
// OPSP0007 for each of the client's topics.
func (cl *client) Translate(msg realtime.Message) [][]byte {
	switch msg.Kind {
	case realtime.Data, realtime.KeepAlive, realtime.Restored:
		return [][]byte{msg.Raw}
	case realtime.Lost:
		cl.mu.Lock()
		delete(cl.topics, msg.Topic)
		cl.mu.Unlock()
		return [][]byte{msg.Raw}
	case realtime.Interrupted:
		cl.mu.Lock()
		defer cl.mu.Unlock()
		var out [][]byte
		for t := range cl.topics {
			out = append(out, answer(t, "1", "OPSP0007", "kauth: upstream session interrupted; resubscribing", nil))
		}
		return out
	case realtime.Unavailable:
		// Every topic the client holds or waits for hears why, in the
		// shape of a refused subscribe, so that the clients' own control
		// handlers show it (kis_auth.py system_resp reads header.tr_id,
		// tr_key, encrypt and body.rt_cd, msg1; python-kis
		// pykis/client/websocket.py _handle_control logs an unknown
		// msg_cd with msg1). The subscriptions stay: SUBSCRIBE SUCCESS
		// follows once the session is back.
		msg1 := "kauth: " + realtime.Short(realtime.Cause(msg)) + "; retrying"
		return cl.each(msg.Topic, func(t realtime.Topic) []byte {
			return answer(t, "1", WSUpstreamDown, msg1, nil)
		})
	case realtime.Available:
		return cl.each(msg.Topic, func(t realtime.Topic) []byte {
			return answer(t, "0", WSUpstreamBack, "kauth: upstream session open again; resubscribing", nil)
		})
	}
	return nil
}

// The msg_cd of kauth's own control answers to a local client.
const (
	// WSUpstreamDown (rt_cd "1") says the upstream session cannot be
	// opened now; msg1 names the broker, env and cause. kauth keeps trying.
	WSUpstreamDown = "KAUTH0001"
	// WSUpstreamBack (rt_cd "0") says it is open again; the subscribe
	// answers follow.
	WSUpstreamBack = "KAUTH0002"
)

// each builds one answer for t, or for each of the client's topics if t
// is zero.
func (cl *client) each(t realtime.Topic, build func(realtime.Topic) []byte) [][]byte {
	topics := []realtime.Topic{t}
	if t == (realtime.Topic{}) {
		topics = cl.cfg.Member.Topics()
	}
	out := make([][]byte, 0, len(topics))
	for _, t := range topics {
		out = append(out, build(t))
	}
	return out
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// answer builds a KIS control answer (see brokersim/kis_ws.go).
func answer(t realtime.Topic, rt, code, msg string, output json.RawMessage) []byte {
	body := map[string]any{"rt_cd": rt, "msg_cd": code, "msg1": msg}
	if output != nil {
		body["output"] = output
	}
	return mustJSON(map[string]any{
		"header": map[string]string{"tr_id": t.ID, "tr_key": t.Key, "encrypt": "N"},
		"body":   body,
	})
}

// Handle serves a subscribe or unsubscribe. The client's approval_key is
// ignored: the session uses the managed one, so a bot may send a
// placeholder.
func (cl *client) Handle(ctx context.Context, data []byte) [][]byte {
	var req struct {
		Header struct {
			TrType string `json:"tr_type"`
			TrID   string `json:"tr_id"`
		} `json:"header"`
		Body struct {
			Input struct {
				TrID  string `json:"tr_id"`
				TrKey string `json:"tr_key"`
			} `json:"input"`
		} `json:"body"`
	}
	if json.Unmarshal(data, &req) != nil {
		return [][]byte{answer(realtime.Topic{}, "9", "OPSP9999", "JSON PARSING ERROR : invalid json format", nil)}
	}
	if req.Header.TrID == wsPingPong {
		return nil // the echo of a keep-alive the gateway forwarded; upstream was answered already
	}
	t := realtime.Topic{ID: req.Body.Input.TrID, Key: req.Body.Input.TrKey}
	if p := cl.pending; p != nil {
		// Requests are answered in order; only an unsubscribe of the
		// pending code overtakes it, and undoes it if it has not gone
		// upstream yet.
		if req.Header.TrType == "2" && p.t == t {
			cl.mu.Lock()
			p.undone = true
			cl.mu.Unlock()
			p.cancel()
		}
		<-p.done
		cl.pending = nil
		cl.mu.Lock()
		canceled := p.canceled && p.t == t
		cl.mu.Unlock()
		if canceled {
			return [][]byte{answer(t, "0", wsUnsubscribed, "UNSUBSCRIBE SUCCESS", nil)}
		}
	}
	switch req.Header.TrType {
	case "1":
		if !(Realtime{}).Published(t.ID) {
			// Answered here: a made-up tr_id would take one of the
			// session's 41 slots upstream for nothing.
			return [][]byte{answer(t, "1", "OPSP0007", "invalid tr_id: kauth: "+t.ID+" is not a KIS real-time tr_id", nil)}
		}
		cl.mu.Lock()
		fits := realtime.Fits(cl.topics, []realtime.Topic{t}, nil, cl.cfg.MaxSubscriptions)
		cl.mu.Unlock()
		if !fits {
			return [][]byte{answer(t, "1", wsMaxSubscribe, "MAX SUBSCRIBE OVER", nil)}
		}
		// The subscribe may wait for its turn upstream: its answer comes
		// from its own goroutine, so that an unsubscribe read meanwhile can
		// undo it.
		sctx, cancel := context.WithCancel(ctx)
		p := &pendingSub{t: t, cancel: cancel, done: make(chan struct{})}
		cl.pending = p
		go func() {
			defer close(p.done)
			defer cancel()
			ack, err := cl.cfg.Member.Subscribe(sctx, t)
			cl.cfg.Send(ctx, cl.subscribed(p, ack, err))
		}()
		return nil
	case "2":
		err := cl.cfg.Member.Unsubscribe(ctx, t)
		cl.mu.Lock()
		delete(cl.topics, t)
		cl.mu.Unlock()
		if errors.Is(err, realtime.ErrNotSubscribed) {
			return [][]byte{answer(t, "1", wsNotFound, "UNSUBSCRIBE ERROR(not found!)", nil)}
		}
		return [][]byte{answer(t, "0", wsUnsubscribed, "UNSUBSCRIBE SUCCESS", nil)}
	}
	return [][]byte{answer(t, "1", "OPSP0007", "invalid tr_type", nil)}
}

// subscribed is the answer to the subscribe p.
func (cl *client) subscribed(p *pendingSub, ack realtime.Ack, err error) []byte {
	t := p.t
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if err != nil {
		if p.undone && (errors.Is(err, context.Canceled) || errors.Is(err, realtime.ErrCanceled)) {
			// Undone before it went upstream: answered as the broker
			// would have answered the pair, with the session's key and iv.
			p.canceled = true
			return answer(t, "0", wsSubscribed, "SUBSCRIBE SUCCESS", cl.output)
		}
		return refusal(t, err)
	}
	cl.topics[t] = true
	if o := outputOf(ack.Raw); o != nil {
		cl.output = o
	}
	if ack.Already || ack.Raw == nil {
		return answer(t, "1", wsAlready, "ALREADY IN SUBSCRIBE", outputOf(ack.Raw))
	}
	return ack.Raw
}

// outputOf extracts body.output (the AES key and iv) of a KIS answer.
func outputOf(raw []byte) json.RawMessage {
	var a struct {
		Body struct {
			Output json.RawMessage `json:"output"`
		} `json:"body"`
	}
	if json.Unmarshal(raw, &a) != nil {
		return nil
	}
	return a.Body.Output
}

// refusal answers a failed subscribe in KIS's shape: the broker's own
// answer when it gave one, the limit (OPSP0008) when the session counted
// it, and OPSP0007 when the upstream session is not to be had.
func refusal(t realtime.Topic, err error) []byte {
	var re *realtime.Error
	if errors.As(err, &re) {
		if re.Raw != nil {
			return re.Raw
		}
		return answer(t, "1", re.Code, re.Message, nil)
	}
	return answer(t, "1", "OPSP0007", "kauth: upstream session unavailable: "+err.Error(), nil)
}
