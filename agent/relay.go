package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/gateway"
	"github.com/kauth/kauth/agent/internal/rtowner"
)

// RealtimeShare makes the agents on one Redis store hold each app key's
// one upstream real-time session between them, as the brokers require (KIS
// answers a second session OPSP8996 ALREADY IN USE, Kiwoom closes the older
// one, Toss displaces the oldest of two). The agents that serve clients of
// an app key elect one holder with a lease in Redis; the others relay their
// clients' subscriptions to it, over its TCP listener (listen.tcp, or
// listen.advertise_addr), and its frames back. The agents prove to each
// other that they hold the store key with HMACs under Secret.
type RealtimeShare struct {
	// Client is the shared Redis, and Prefix the store's key prefix
	// (redis.Store.Client and Prefix).
	Client goredis.UniversalClient
	Prefix string
	// Secret authenticates the agents to each other: RealtimeSecret of the
	// store key (KAUTH_KEY), which is never sent.
	Secret []byte
	// TTL is how long a holder's lease lives without renewal; it gives the
	// session up after TTL/2 without one, and another agent takes over
	// after TTL. Zero means 5 s.
	TTL time.Duration
}

// RealtimeSecret derives RealtimeShare.Secret from the store key.
func RealtimeSecret(storeKey []byte) []byte { return rtowner.Secret(storeKey) }

// shareUpstream returns the gateway's Config.Share: each app key's session
// held once among the agents on a.share's store, by a lease in it. Nil if
// the agent does not share its sessions.
func (a *Agent) shareUpstream() func(kauth.Key, string, *slog.Logger) *rtowner.Upstream {
	if a.share == nil {
		return nil
	}
	return func(key kauth.Key, name string, log *slog.Logger) *rtowner.Upstream {
		l := rtowner.NewLease(a.share.Client, a.share.Prefix, key.String(), name, a.share.TTL)
		return rtowner.New(rtowner.Config{
			Lease:  l,
			ID:     name,
			Self:   a.self,
			Addr:   a.advertised,
			Secret: a.share.Secret,
			Logger: log,
		})
	}
}

// newInstanceID returns a random id for this agent among those it shares
// sessions with.
func newInstanceID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// advertised returns where the other agents reach this one: the config's
// listen.advertise_addr, else the TCP address it listens on, else "".
func (a *Agent) advertised() string {
	if s := a.config().Listen.AdvertiseAddr; s != "" {
		return s
	}
	select {
	case <-a.ready:
		return a.endpoints.TCP
	default:
		return ""
	}
}

// isRelay reports whether r is another agent's relay request, which
// authenticates itself (serveRelay) instead of with an agent key.
func isRelay(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/v1/relay/") && r.Header.Get(rtowner.HeaderMAC) != "" &&
		r.Header.Get("Origin") == "" && strings.HasPrefix(r.RequestURI, "/") &&
		r.Context().Value(connKind{}) != "unix"
}

// serveRelay serves another agent's relay of a session this agent holds
// (gateway.ServeRelay), which proves itself with the store key.
func (a *Agent) serveRelay(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !isUpgrade(r) || a.share == nil {
		writeError(w, http.StatusBadRequest, "bad_request", "relay: a WebSocket GET between agents sharing a Redis store")
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/v1/relay/")
	var re *gateway.RelayError
	if err := a.ws.ServeRelay(w, r, name); errors.As(err, &re) {
		writeError(w, re.Status, re.Code, re.Message)
	}
}
