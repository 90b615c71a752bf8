package agent

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/config"
	"github.com/kauth/kauth/agent/internal/gateway"
)

// DefaultWSClientBuffer is how many messages the WebSocket gateway queues
// for one local client before it gives up on it (see Options.WSClientBuffer).
const DefaultWSClientBuffer = gateway.DefaultClientBuffer

// WSCloseSlow is the close status a local WebSocket client gets when it did
// not read fast enough and its queue overflowed: 1008 (policy violation),
// with the reason "kauth: client too slow; frames dropped".
const WSCloseSlow = gateway.CloseSlow

// wsGateway is the agent's WebSocket gateway (agent/internal/gateway),
// which serves the agent's accounts.
type wsGateway struct{ *gateway.Gateway }

func newGateway(a *Agent) *wsGateway {
	var secret []byte
	if a.share != nil {
		secret = a.share.Secret
	}
	g := gateway.New(gateway.Config{
		Store:        a.store,
		Group:        a.group,
		Clock:        a.clock,
		HTTPClient:   a.client,
		Logger:       a.log,
		ClientBuffer: a.wsClientBuffer,
		Share:        a.shareUpstream(),
		RelaySecret:  secret,
	})
	a.metrics.Register(g.Collector())
	return &wsGateway{g}
}

// approvalManager returns the approval-key Manager of acct's app key.
func (g *wsGateway) approvalManager(acct *account) (*kauth.Manager, error) {
	return g.ApprovalManager(acct)
}

// cachedApproval returns acct's app key's approval key if the gateway
// holds one, without making one.
func (g *wsGateway) cachedApproval(acct *account) string { return g.CachedApproval(acct) }

// closeKeyed closes every WebSocket client a key admitted (see
// gateway.CloseKeyed); close ends every session.
func (g *wsGateway) closeKeyed() { g.CloseKeyed() }
func (g *wsGateway) close()      { g.Close() }

// An account is what the gateway serves.
var _ gateway.Account = (*account)(nil)

// Name returns the account's name.
func (acct *account) Name() string { return acct.name }

// Manager returns the account's token Manager.
func (acct *account) Manager() *kauth.Manager { return acct.mgr }

// Realtime returns the account's real-time settings.
func (acct *account) Realtime() gateway.Settings {
	s := gateway.Settings{
		BaseURL:                acct.baseURL.String(),
		ClientMaxSubscriptions: acct.wsClientMax,
		ControlRate:            acct.wsControlRate,
		Quiet:                  acct.quiet,
		OnOutage:               acct.onOutage,
		OutageAfter:            acct.outageAfter(),
	}
	if ai, ok := acct.mgr.Provider().(approvalIssuer); ok {
		s.NewApprovalManager = ai.NewApprovalManager
	}
	return s
}

// ApprovalResponse is the answer of GET /v1/accounts/{name}/approval.
type ApprovalResponse struct {
	ApprovalKey string       `json:"approval_key"`
	ExpiresAt   string       `json:"expires_at"` // RFC 3339 in KST (+09:00)
	Broker      kauth.Broker `json:"broker"`
	Env         kauth.Env    `json:"env"`
}

// serveApproval answers the account's managed KIS approval key.
func (a *Agent) serveApproval(w http.ResponseWriter, r *http.Request) {
	acct := a.account(w, r, r.PathValue("name"))
	if acct == nil {
		return
	}
	defer acct.done()
	m, err := a.ws.approvalManager(acct)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	tok, err := m.Token(r.Context())
	if err != nil {
		writeKauthError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ApprovalResponse{
		ApprovalKey: tok.AccessToken,
		ExpiresAt:   tok.ExpiresAt.In(kauth.KST).Format(time.RFC3339),
		Broker:      acct.creds.Broker,
		Env:         acct.creds.Env,
	})
}

// serveWS serves ws://…/ws/{account}: the broker's own WebSocket protocol,
// over the app key's one upstream session. The guard has already applied
// the agent's access rules (socket mode, key, Origin, Host).
func (a *Agent) serveWS(w http.ResponseWriter, r *http.Request) {
	acct := a.account(w, r, r.PathValue("account"))
	if acct == nil {
		return
	}
	// A WebSocket lives as long as its bot: it must not hold up a Reload's
	// drain, which waits for requests, not for sessions (the gateway's
	// sessions end with the agent).
	acct.done()
	if !isUpgrade(r) {
		writeError(w, http.StatusBadRequest, "bad_request", "GET /ws/"+acct.name+" is a WebSocket endpoint: connect with a WebSocket client")
		return
	}
	a.serveGateway(w, r, acct)
}

// isUpgrade reports whether r asks for a WebSocket.
func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// serveGateway hands one local WebSocket client of acct, whose access the
// caller has checked (and whose request it has marked done), to the
// gateway. A client of a facade port joins only once its first frame
// carries the account's credential (port.go, wsGate); a client that came
// through a key (not the unix socket's mode) is closed when the keys
// change.
func (a *Agent) serveGateway(w http.ResponseWriter, r *http.Request, acct *account) {
	gate, _ := r.Context().Value(wsGateKey{}).(func([]byte) bool)
	adm := gateway.Admission{Keyed: r.Context().Value(connKind{}) != "unix", Gate: gate}
	if err := a.ws.Serve(w, r, acct, adm); err != nil {
		if errors.Is(err, gateway.ErrBusy) {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
	}
}

// DefaultWSClientMaxSubscriptions returns how many topics one local
// WebSocket client may hold by default: half of what the broker allows one
// session (KIS 20 of 41, Kiwoom 50 of 100; its real-time protocol's
// Limits), so that one bot always leaves room for others. A broker with no
// real-time protocol gets 0.
func DefaultWSClientMaxSubscriptions(b kauth.Broker) int {
	return config.DefaultWSClientMax(providerOf(b))
}
