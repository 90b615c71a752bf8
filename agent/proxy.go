package agent

import (
	"context"
	"net/http"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/proxy"
)

// The reverse proxy, the broker facade and the facade ports live in
// package proxy; this file gives it what it asks of the agent.

// newProxyServer returns the agent's proxy and facade.
func (a *Agent) newProxyServer() *proxy.Proxy {
	h := proxyHost{a}
	return proxy.New(proxy.Config{
		Upstream: a.upstream,
		Log:      a.log,
		Metrics:  a.metrics,
		API:      h,
		Limits: func() proxy.Limits {
			return proxy.Limits{MaxInFlight: a.maxInFlight(), MaxBody: a.maxBody(), BodyTimeout: a.bodyTimeout()}
		},
		Kind:     errorKind,
		Client:   clientOf,
		Now:      a.clock.Now,
		Unpaced:  a.unpaced,
		Host:     h,
		Realtime: h,
	})
}

// serveProxy serves /proxy/{account}/{broker path}.
func (a *Agent) serveProxy(w http.ResponseWriter, r *http.Request) { a.px.ServeProxy(w, r) }

// readBody reads r's body into memory within the config's body_timeout
// (see proxy.Proxy.ReadBody). On failure it has answered.
func (a *Agent) readBody(w http.ResponseWriter, r *http.Request) bool { return a.px.ReadBody(w, r) }

// An account is what the proxy serves (proxy.Account); Name and Manager
// are in ws.go, since the gateway serves it too.
func (acct *account) Credentials() kauth.Credentials { return acct.creds }
func (acct *account) RevokePass() bool               { return acct.revokePass }
func (acct *account) Pacing() proxy.Pacing {
	return proxy.Pacing{Limiter: acct.limiter, Turns: acct.turns, Shared: acct.shared, Groups: acct.groups}
}

// proxyHost is the agent as the proxy sees it: its keys and accounts
// (proxy.Host, proxy.Ports), its API's answers (proxy.API) and its
// WebSocket gateway (proxy.Realtime).
type proxyHost struct{ a *Agent }

func (h proxyHost) Authorize(r *http.Request, key string) *http.Request {
	p := h.a.principalFor(key)
	if p == nil {
		return nil
	}
	return withPrincipal(r, p)
}

func (h proxyHost) Open(w http.ResponseWriter, r *http.Request, name string) *proxy.Relay {
	if acct := h.a.account(w, r, name); acct != nil {
		return acct.proxy
	}
	return nil
}

func (h proxyHost) Release(rl *proxy.Relay) { rl.Account().(*account).done() }

func (h proxyHost) Index() *proxy.Index { return h.a.facadeIndex() }

func (h proxyHost) Lookup(name string) *proxy.Relay {
	if acct := h.a.lookup(name); acct != nil {
		return acct.proxy
	}
	return nil
}

func (h proxyHost) AgentKey() (string, error) { return h.a.loadKey() }

func (h proxyHost) May(key, name string) bool {
	p := h.a.principalFor(key)
	return p != nil && p.may(name)
}

func (h proxyHost) Upgrade(r *http.Request, name string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), wsGateKey{}, h.a.wsGate(name)))
}

func (h proxyHost) Error(w http.ResponseWriter, status int, code, msg string) {
	writeError(w, status, code, msg)
}

func (h proxyHost) KauthError(w http.ResponseWriter, r *http.Request, err error) {
	writeKauthError(w, r, err)
}

func (h proxyHost) JSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

func (h proxyHost) Serve(w http.ResponseWriter, r *http.Request, acct proxy.Account) {
	h.a.serveGateway(w, r, acct.(*account))
}

func (h proxyHost) ApprovalManager(acct proxy.Account) (*kauth.Manager, error) {
	return h.a.ws.approvalManager(acct.(*account))
}
