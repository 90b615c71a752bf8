package gateway

import "github.com/kauth/kauth/realtime"

// Status returns the stats of acct's app key's upstream session and the
// broker's subscriptions per session, or ok false if no session is open
// (no client has connected, or the broker has no real-time protocol). It
// opens nothing.
func (g *Gateway) Status(acct Account) (st realtime.Stats, limit int, ok bool) {
	g.mu.Lock()
	s := g.sessions[idOf(acct)]
	g.mu.Unlock()
	if s == nil {
		return realtime.Stats{}, 0, false
	}
	if p := protocolOf(acct.Manager().Provider()); p != nil {
		limit, _, _ = p.Limits(0)
	}
	return s.Stats(), limit, true
}
