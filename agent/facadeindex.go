package agent

import (
	"reflect"

	"github.com/kauth/kauth/agent/internal/proxy"
)

// facadeIndex is the facade's index of the accounts served (proxy.Index),
// with the identity of the accounts map it was built from.
type facadeIndex struct {
	src uintptr // identity of the accounts map it was built from
	ix  *proxy.Index
}

// facadeIndex returns the index of the accounts served now, building it
// if the accounts changed since it was last built.
func (a *Agent) facadeIndex() *proxy.Index {
	a.mu.RLock()
	accounts := a.accounts
	a.mu.RUnlock()
	src := reflect.ValueOf(accounts).Pointer()
	if fi := a.fidx.Load(); fi != nil && fi.src == src {
		return fi.ix
	}
	accts := make([]proxy.Account, 0, len(accounts))
	for _, acct := range accounts {
		accts = append(accts, acct)
	}
	fi := &facadeIndex{src: src, ix: proxy.NewIndex(accts)}
	a.fidx.Store(fi)
	return fi.ix
}
