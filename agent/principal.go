package agent

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/kauth/kauth/agent/internal/keys"
)

// principal is who a request speaks for: everyone (the unix socket, the
// agent key) or a client key's accounts.
type principal struct {
	all  bool
	name string   // the client key's name
	accs []string // the accounts a client key may use
}

func (p *principal) may(account string) bool {
	return p == nil || p.all || slices.Contains(p.accs, account)
}

type principalKey struct{}

func principalOf(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	return p
}

func withPrincipal(r *http.Request, p *principal) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
}

// authenticate returns the principal of a TCP request's bearer key, or nil
// if it carries none that the agent knows. Keys compare in constant time.
func (a *Agent) authenticate(r *http.Request) *principal {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil
	}
	return a.principalFor(strings.TrimSpace(got))
}

// principalFor returns the principal of a key (the agent key or a client
// key), or nil. Keys compare in constant time.
func (a *Agent) principalFor(got string) *principal {
	if got == "" {
		return nil
	}
	if key, err := a.loadKey(); err == nil && key != "" && keys.Equal(got, key) {
		return &principal{all: true}
	}
	a.keyMu.Lock()
	clients := a.clients
	a.keyMu.Unlock()
	for _, c := range clients {
		if keys.Equal(got, c.Key) {
			return &principal{name: c.Name, accs: c.Accounts}
		}
	}
	return nil
}

// connIDKey holds the number of the connection a request came on.
type connIDKey struct{}

// clientOf names the client of a proxied request for its turns: its
// client key, or else its connection.
func clientOf(r *http.Request) string {
	if p := principalOf(r); p != nil && !p.all && p.name != "" {
		return "key " + p.name
	}
	id, _ := r.Context().Value(connIDKey{}).(uint64)
	return "conn " + strconv.FormatUint(id, 10)
}
