package agent

// statusOf returns the state of acct's app key's upstream session for the
// status page, or nil if none is open (no client has connected, or the
// broker has no real-time protocol).
func (g *wsGateway) statusOf(acct *account) *statusRealtime {
	st, limit, ok := g.Status(acct)
	if !ok {
		return nil
	}
	return &statusRealtime{Connected: st.Connected, Subscriptions: st.Subscriptions, Limit: limit, Members: st.Members,
		FramesIn: st.FramesIn, Reconnects: st.Reconnects}
}
