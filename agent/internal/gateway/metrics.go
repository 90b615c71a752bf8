package gateway

import (
	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/promtext"
	"github.com/kauth/kauth/realtime"
)

// collector reports the gateway's state at scrape time.
type collector struct {
	g                                                   *Gateway
	sessions, subs, members, in, out, drops, reconnects *promtext.Desc
	clients                                             *promtext.Desc
}

func newCollector(g *Gateway) *collector {
	labels := []string{"broker", "env", "app"}
	gauge := func(name, help string) *promtext.Desc {
		return promtext.NewDesc(promtext.GaugeType, name, help, labels...)
	}
	counter := func(name, help string) *promtext.Desc {
		return promtext.NewDesc(promtext.CounterType, name, help, labels...)
	}
	return &collector{g: g,
		sessions:   gauge("kauth_ws_upstream_sessions", "Upstream WebSocket sessions connected now, per app key."),
		subs:       gauge("kauth_ws_subscriptions", "Topics subscribed upstream now, per app key."),
		members:    gauge("kauth_ws_members", "Local clients joined to the app key's session."),
		in:         counter("kauth_ws_frames_in_total", "Data frames received from the broker."),
		out:        counter("kauth_ws_frames_out_total", "Messages queued to local clients."),
		drops:      counter("kauth_ws_slow_client_drops_total", "Local clients closed because they did not keep up."),
		reconnects: counter("kauth_ws_reconnects_total", "Upstream connections opened after the first."),
		clients:    promtext.NewDesc(promtext.GaugeType, "kauth_ws_clients", "Local WebSocket clients connected now."),
	}
}

func (c *collector) Collect(b *promtext.Batch) {
	b.Add(c.clients, float64(c.g.clients.Load()))
	c.g.mu.Lock()
	sessions := make(map[upstreamID]*realtime.Session, len(c.g.sessions))
	for id, s := range c.g.sessions {
		sessions[id] = s
	}
	c.g.mu.Unlock()
	// Two broker URLs for one app key (rare) add up under one label set.
	type sums struct{ conn, subs, members, in, out, drops, reconnects float64 }
	by := map[kauth.Key]*sums{}
	for id, s := range sessions {
		st := s.Stats()
		x := by[id.key]
		if x == nil {
			x = new(sums)
			by[id.key] = x
		}
		if st.Connected {
			x.conn++
		}
		x.subs += float64(st.Subscriptions)
		x.members += float64(st.Members)
		x.in += float64(st.FramesIn)
		x.out += float64(st.FramesOut)
		x.drops += float64(st.Drops)
		x.reconnects += float64(st.Reconnects)
	}
	for k, x := range by {
		l := []string{string(k.Broker), string(k.Env), k.Fingerprint}
		b.Add(c.sessions, x.conn, l...)
		b.Add(c.subs, x.subs, l...)
		b.Add(c.members, x.members, l...)
		b.Add(c.in, x.in, l...)
		b.Add(c.out, x.out, l...)
		b.Add(c.drops, x.drops, l...)
		b.Add(c.reconnects, x.reconnects, l...)
	}
}
