package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth/realtime"
)

// Admission says how a local client got in, which the caller has checked
// before Serve.
type Admission struct {
	// Keyed marks a client that a key admitted (loopback TCP, a facade
	// port), which CloseKeyed closes; false is for a client the unix
	// socket's mode admitted.
	Keyed bool
	// Gate, if set, is the check of the client's first frame, which must
	// carry the account's credential (a facade port's client): until it
	// passes, the client gets nothing and no upstream session is opened
	// for it. A client that Gate refuses, or that sends no frame within
	// Config.AdmitTimeout, is closed with 1008 (policy violation); one
	// whose first frame is larger than AdmitReadLimit, with 1009 (message
	// too big). At most Config.MaxAwaiting clients of one account await
	// admission at once: Serve refuses more with ErrBusy.
	Gate func(first []byte) bool
}

// Serve serves one local WebSocket client of acct on r, the broker's own
// real-time protocol over the app key's one upstream session, until the
// client or the session goes. It accepts any Origin: the caller's checks
// come first. Serve returns an error only when it could not serve and has
// written nothing (no upstream session for acct, or ErrBusy): the caller
// answers it.
func (g *Gateway) Serve(w http.ResponseWriter, r *http.Request, acct Account, adm Admission) error {
	var sess *realtime.Session
	var proto realtime.ClientProtocol
	var err error
	done := func() {}
	if adm.Gate == nil {
		if sess, proto, err = g.session(acct); err != nil {
			return err
		}
	} else {
		var ok bool
		if done, ok = g.await(acct.Name()); !ok {
			if log, held := g.busy.Allow(acct.Name()); log {
				g.log.Warn("agent: facade port refused a WebSocket client: too many await admission",
					"account", acct.Name(), "max", g.c.MaxAwaiting, slog.Any("suppressed", held))
			}
			return ErrBusy
		}
		defer done()
	}
	// The caller refused every request it must (the agent's guard refuses
	// one with an Origin header), so the library's own Origin check has
	// nothing left to do.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return nil
	}
	defer c.CloseNow()
	c.SetReadLimit(AdmitReadLimit)
	var first []byte
	if adm.Gate != nil {
		var ok bool
		first, ok = g.admit(r.Context(), c, acct, adm.Gate)
		done()
		if !ok {
			return nil
		}
		if sess, proto, err = g.session(acct); err != nil {
			c.Close(websocket.StatusTryAgainLater, "kauth: "+err.Error())
			return nil
		}
	}
	g.clients.Add(1)
	defer g.clients.Add(-1)
	cl := &client{log: g.log, name: acct.Name(), c: c, m: sess.Join(g.c.ClientBuffer)}
	defer cl.m.Close()
	defer g.track(cl, adm.Keyed)()
	cl.proto = proto.NewClient(realtime.ClientConfig{Member: cl.m, MaxSubscriptions: acct.Realtime().ClientMaxSubscriptions, Send: cl.send})
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		cl.write(ctx)
		cancel()
	}()
	cl.read(ctx, first)
	return nil
}

// admit reads the first frame of a gated client and checks it with gate.
// A client that gate refuses, or that sends nothing within the admission
// timeout, is closed with a policy violation; either has received nothing.
func (g *Gateway) admit(ctx context.Context, c *websocket.Conn, acct Account, gate func([]byte) bool) ([]byte, bool) {
	// Not a read deadline: the WebSocket library drops a connection whose
	// read's context ends, without a close frame.
	late := time.AfterFunc(g.c.AdmitTimeout, func() {
		c.Close(websocket.StatusPolicyViolation, "kauth: no credential in time")
	})
	_, data, err := c.Read(ctx)
	if !late.Stop() {
		return nil, false // closing
	}
	if err != nil {
		// Gone, or a frame over the read limit (closed with 1009).
		c.Close(websocket.StatusPolicyViolation, "kauth: no credential received")
		return nil, false
	}
	if !gate(data) {
		// The first refusal, then one a minute with the count of those
		// held back: a neighbour in a loop must not fill the log.
		if log, held := g.refusals.Allow(acct.Name()); log {
			g.log.Warn("agent: facade port refused a WebSocket client without the account's credential",
				"account", acct.Name(), slog.Any("suppressed", held))
		}
		c.Close(websocket.StatusPolicyViolation, "kauth: send the account's client key or the approval key or token this port handed out")
		return nil, false
	}
	return data, true
}

// await counts one more gated client of the account called name awaiting
// admission, unless Config.MaxAwaiting are already; done uncounts it (and
// may be called more than once).
func (g *Gateway) await(name string) (done func(), ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.awaiting[name] >= g.c.MaxAwaiting {
		return nil, false
	}
	g.awaiting[name]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.awaiting[name]--; g.awaiting[name] <= 0 {
				delete(g.awaiting, name)
			}
		})
	}, true
}

// client is one local WebSocket client: the gateway carries its messages,
// and its broker's protocol (realtime.Client) speaks to it.
type client struct {
	log   *slog.Logger
	name  string // the account's
	c     *websocket.Conn
	m     *realtime.Member
	proto realtime.Client
}

// send writes one text message to the client.
func (cl *client) send(ctx context.Context, msg []byte) error {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return cl.c.Write(wctx, websocket.MessageText, msg)
}

// write forwards the member's messages until it ends, then closes the
// client with a status that says why.
func (cl *client) write(ctx context.Context) {
	for {
		select {
		case <-cl.m.Done():
			cl.closeFor(cl.m.Err())
			return
		default:
		}
		select {
		case <-ctx.Done():
			return
		case <-cl.m.Done():
			cl.closeFor(cl.m.Err())
			return
		case msg := <-cl.m.Messages():
			for _, out := range cl.proto.Translate(msg) {
				if cl.send(ctx, out) != nil {
					return
				}
			}
		}
	}
}

func (cl *client) closeFor(err error) {
	switch {
	case errors.Is(err, realtime.ErrSlow):
		cl.log.Warn("agent: websocket client too slow; closing it", "account", cl.name)
		cl.c.Close(CloseSlow, "kauth: client too slow; frames dropped")
	default:
		cl.c.Close(websocket.StatusGoingAway, "kauth agent closing")
	}
}

// read serves the client's requests until it goes, starting with first
// if it is not nil (a frame already read).
func (cl *client) read(ctx context.Context, first []byte) {
	defer cl.proto.Close()
	for {
		data := first
		if first = nil; data == nil {
			var err error
			if _, data, err = cl.c.Read(ctx); err != nil {
				return
			}
		}
		for _, a := range cl.proto.Handle(ctx, data) {
			if cl.send(ctx, a) != nil {
				return
			}
		}
	}
}
