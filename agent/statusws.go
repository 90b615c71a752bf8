package agent

import "github.com/kauth/kauth/realtime"

// statusOf returns the state of acct's app key's upstream session for the
// status page, or nil if none is open (no client has connected, or the
// broker has no real-time protocol).
func (g *gateway) statusOf(acct *account) *statusRealtime {
	g.mu.Lock()
	s := g.sessions[idOf(acct)]
	g.mu.Unlock()
	if s == nil {
		return nil
	}
	st := s.Stats()
	out := &statusRealtime{Connected: st.Connected, Subscriptions: st.Subscriptions, Members: st.Members,
		FramesIn: st.FramesIn, Reconnects: st.Reconnects}
	if p := protocolOf(acct.mgr.Provider()); p != nil {
		out.Limit = limitOf(p)
	}
	return out
}

// limitOf is the broker's subscriptions per session.
func limitOf(p realtime.ClientProtocol) int {
	n, _, _ := p.Limits(0)
	return n
}
