package agent

import (
	"net/http"

	"github.com/kauth/kauth/agent/internal/proxy"
)

// The broker facade, http://127.0.0.1:PORT/broker/{key}/{account}: a base
// URL that looks like the account's broker to a client that appends the
// broker's paths to a domain. Package proxy serves it (its facade.go says
// what it answers); the guard lets it through on the key in its path.

// facadePrincipal returns the principal of the key in a facade request's
// path (the agent key or a client key), or nil (the guard's check for TCP
// callers).
func (a *Agent) facadePrincipal(r *http.Request) *principal {
	key, ok := proxy.FacadeKey(r.URL.EscapedPath())
	if !ok {
		return nil
	}
	return a.principalFor(key)
}

// serveFacade serves /broker/{key}/{account}/{broker path}.
func (a *Agent) serveFacade(w http.ResponseWriter, r *http.Request) { a.px.ServeFacade(w, r) }
