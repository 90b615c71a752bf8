package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth/agent/internal/rtowner"
	"github.com/kauth/kauth/realtime"
)

// shared is an upstream whose session the agents on the store share.
type shared struct {
	up    *rtowner.Upstream
	proto realtime.ClientProtocol
	name  string // in relay paths
}

// relayName names id in relay paths and lease keys, the same on every
// agent: the app key and broker URL, hashed.
func relayName(id upstreamID) string {
	sum := sha256.Sum256([]byte(id.key.String() + "\n" + id.base))
	return hex.EncodeToString(sum[:12])
}

// upstream returns the realtime.Upstream of id's session: nil (the broker,
// directly) unless the gateway shares sessions (Config.Share). The caller
// holds g.mu.
func (g *Gateway) upstream(acct Account, id upstreamID, proto realtime.ClientProtocol) realtime.Upstream {
	if g.c.Share == nil {
		return nil
	}
	if g.shared == nil {
		g.shared = map[upstreamID]*shared{}
	}
	name := relayName(id)
	up := g.c.Share(id.key, name, g.log.With("account", acct.Name()))
	g.shared[id] = &shared{up: up, proto: proto, name: name}
	return up
}

// dropShared gives up id's shared upstream, whose session could not be
// made. The caller holds g.mu.
func (g *Gateway) dropShared(id upstreamID) {
	if s := g.shared[id]; s != nil {
		delete(g.shared, id)
		go s.up.Close()
	}
}

// closeShared gives up the leases this agent holds, for the next holder to
// take at once. The sessions are closed.
func (g *Gateway) closeShared() {
	g.mu.Lock()
	all := g.shared
	g.shared = nil
	g.mu.Unlock()
	for _, s := range all {
		s.up.Close()
	}
}

// RelayError is ServeRelay's refusal of a request, to which it has written
// nothing: the caller answers it with Status and its own error body.
type RelayError struct {
	Status  int
	Code    string // the error code of the agent's API
	Message string
}

func (e *RelayError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// ServeRelay serves another agent's relay of the session named name, which
// this agent holds: the follower speaks the broker's protocol, as a local
// client would, on behalf of all its clients, and its subscriptions count
// against the session's limit with everyone else's. The request must be
// a WebSocket GET that proves it comes from an agent with the store key
// (rtowner.Sign) and names the fence of this agent's lease. ServeRelay
// returns a *RelayError when it refused the request without writing.
func (g *Gateway) ServeRelay(w http.ResponseWriter, r *http.Request, name string) error {
	if g.c.Share == nil {
		return &RelayError{http.StatusBadRequest, "bad_request", "relay: a WebSocket GET between agents sharing a Redis store"}
	}
	secret := g.c.RelaySecret
	fence, nonce, err := g.verifier.Verify(secret, name, r.Header, time.Now())
	if err != nil {
		// Anyone who reaches the port can send one: the first refusal,
		// then one a minute with the count of those left out.
		if log, held := g.relayRefusals.Allow(""); log {
			g.log.Warn("agent: relay request refused", "remote", r.RemoteAddr, "err", err, slog.Any("suppressed", held))
		}
		return &RelayError{http.StatusUnauthorized, "unauthenticated", "relay: not authenticated"}
	}
	g.mu.Lock()
	var sh *shared
	var sess *realtime.Session
	for id, s := range g.shared {
		if s.name == name {
			sh, sess = s, g.sessions[id]
		}
	}
	g.mu.Unlock()
	if sh == nil || sess == nil {
		return &RelayError{http.StatusNotFound, "not_found", "relay: this agent has no such session"}
	}
	rec, lost, ok := sh.up.Holding()
	// A follower may read the lease a moment before its new holder keeps
	// it: give the holder that moment.
	for wait := time.Now().Add(time.Second); !ok && time.Now().Before(wait); {
		time.Sleep(20 * time.Millisecond)
		rec, lost, ok = sh.up.Holding()
	}
	if !ok || rec.Fence != fence {
		return &RelayError{http.StatusConflict, "not_holder", "relay: this agent does not hold the session at that fence"}
	}
	w.Header().Set(rtowner.HeaderProof, rtowner.Proof(secret, name, fence, nonce))
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return nil
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 16)
	cl := &client{log: g.log, name: "relay", c: c, m: sess.Join(g.c.ClientBuffer)}
	defer cl.m.Close()
	// The follower's clients have had their own limits applied on its
	// host; here they count, together, against the session's.
	cl.proto = sh.proto.NewClient(realtime.ClientConfig{Member: cl.m, MaxSubscriptions: sess.Limit(), Send: cl.send})
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		relayWrite(ctx, g.log, cl, lost)
		cancel()
	}()
	cl.read(ctx, nil)
	return nil
}

// relayWrite forwards the session's messages to a follower until it goes.
// An interruption of the session ends the relay: the follower's own
// session then interrupts and restores its clients, exactly as on a
// reconnect of its own; notices of an outage are not relayed (the follower
// hears of it as its subscriptions wait).
func relayWrite(ctx context.Context, log *slog.Logger, cl *client, lost <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-lost:
			cl.c.Close(websocket.StatusServiceRestart, "kauth: this agent no longer holds the session")
			return
		case <-cl.m.Done():
			if errors.Is(cl.m.Err(), realtime.ErrSlow) {
				log.Warn("agent: relay follower too slow; closing it")
				cl.c.Close(CloseSlow, "kauth: client too slow; frames dropped")
				return
			}
			cl.c.Close(websocket.StatusGoingAway, "kauth agent closing")
			return
		case msg := <-cl.m.Messages():
			switch msg.Kind {
			case realtime.Interrupted:
				cl.c.Close(websocket.StatusServiceRestart, "kauth: upstream session interrupted")
				return
			case realtime.Unavailable, realtime.Available:
				continue
			}
			for _, out := range cl.proto.Translate(msg) {
				if cl.send(ctx, out) != nil {
					return
				}
			}
		}
	}
}
