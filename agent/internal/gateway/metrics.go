package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/realtime"
)

// collector reports the gateway's state at scrape time.
type collector struct{ g *Gateway }

var (
	sessionsDesc = prometheus.NewDesc("kauth_ws_upstream_sessions",
		"Upstream WebSocket sessions connected now, per app key.", []string{"broker", "env", "app"}, nil)
	subsDesc = prometheus.NewDesc("kauth_ws_subscriptions",
		"Topics subscribed upstream now, per app key.", []string{"broker", "env", "app"}, nil)
	membersDesc = prometheus.NewDesc("kauth_ws_members",
		"Local clients joined to the app key's session.", []string{"broker", "env", "app"}, nil)
	inDesc = prometheus.NewDesc("kauth_ws_frames_in_total",
		"Data frames received from the broker.", []string{"broker", "env", "app"}, nil)
	outDesc = prometheus.NewDesc("kauth_ws_frames_out_total",
		"Messages queued to local clients.", []string{"broker", "env", "app"}, nil)
	dropsDesc = prometheus.NewDesc("kauth_ws_slow_client_drops_total",
		"Local clients closed because they did not keep up.", []string{"broker", "env", "app"}, nil)
	reconnectsDesc = prometheus.NewDesc("kauth_ws_reconnects_total",
		"Upstream connections opened after the first.", []string{"broker", "env", "app"}, nil)
	clientsDesc = prometheus.NewDesc("kauth_ws_clients",
		"Local WebSocket clients connected now.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{sessionsDesc, subsDesc, membersDesc, inDesc, outDesc, dropsDesc, reconnectsDesc, clientsDesc} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(clientsDesc, prometheus.GaugeValue, float64(c.g.clients.Load()))
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
		ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, x.conn, l...)
		ch <- prometheus.MustNewConstMetric(subsDesc, prometheus.GaugeValue, x.subs, l...)
		ch <- prometheus.MustNewConstMetric(membersDesc, prometheus.GaugeValue, x.members, l...)
		ch <- prometheus.MustNewConstMetric(inDesc, prometheus.CounterValue, x.in, l...)
		ch <- prometheus.MustNewConstMetric(outDesc, prometheus.CounterValue, x.out, l...)
		ch <- prometheus.MustNewConstMetric(dropsDesc, prometheus.CounterValue, x.drops, l...)
		ch <- prometheus.MustNewConstMetric(reconnectsDesc, prometheus.CounterValue, x.reconnects, l...)
	}
}
