package realtime_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/tcpproxy"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/realtime"
)

// TestSessionNoticesSilenceWithinBeats: once the broker's keep-alive beat is
// known, a connection that goes silent — a broker that stops sending, or a
// half-open link that lets nothing through either way — is taken for dead
// after a few missed beats, not after IdleTimeout (left at its default of
// minutes here), and members hear of it as of a drop.
func TestSessionNoticesSilenceWithinBeats(t *testing.T) {
	for _, tc := range []struct {
		name     string
		broker   kauth.Broker
		topic    realtime.Topic
		halfOpen bool
	}{
		{"kis silent broker", kauth.KIS, samsung, false},
		{"kiwoom silent broker", kauth.Kiwoom, realtime.Topic{ID: "0B", Key: "005930"}, false},
		{"kis half-open link", kauth.KIS, samsung, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.broker, func(s *brokersim.Server) {
				s.WS.PingInterval = 20 * time.Millisecond
				s.WS.MissedPings = 10
			})
			wsURL := wsURL(e.app.Broker, e.app.Env, brokersim.BaseURL(e.ts.URL, e.app.Broker, e.app.Env))
			var proxy *tcpproxy.Proxy
			if tc.halfOpen {
				u, _ := url.Parse(wsURL)
				p, err := tcpproxy.New(u.Host)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
				proxy = p
				u.Host = p.Addr()
				wsURL = u.String()
			}
			var logs testlog.Buffer
			s := e.session(t, func(c *realtime.Config) {
				c.URL = wsURL
				c.Logger = logs.Logger()
			})
			m := s.Join(256)
			subscribe(t, m, tc.topic)
			eventually(t, "three keep-alives echoed", func() bool { return e.stats().Echoes >= 3 })
			if beat := s.Stats().KeepAlive; beat <= 0 || beat > time.Second {
				t.Errorf("Stats().KeepAlive = %v; want the broker's beat, about 20ms", beat)
			}
			if tc.halfOpen {
				proxy.Stall()
			} else {
				e.sim.StallWS(tc.broker, kauth.Mock, e.app.AppKey, time.Hour)
			}
			if msg := next(t, m); msg.Kind != realtime.Interrupted {
				t.Fatalf("got %v; want Interrupted", msg.Kind)
			}
			if tc.halfOpen {
				proxy.Restore()
			}
			if msg := next(t, m); msg.Kind != realtime.Restored || msg.Topic != tc.topic {
				t.Fatalf("got %v %v; want Restored %v", msg.Kind, msg.Topic, tc.topic)
			}
			if l := logs.String(); !strings.Contains(l, "nothing from the broker") || !strings.Contains(l, "keep-alives") {
				t.Errorf("logs do not say the broker went silent:\n%s", l)
			}
			if st := e.stats(); st.Pings != 0 {
				t.Errorf("the session sent %d WebSocket pings; the broker's own beat is what it listens to", st.Pings)
			}
		})
	}
}

// TestSessionLogsWhyTheConnectionEnded: a dropped socket is logged as what
// it is, not as a broker that went silent.
func TestSessionLogsWhyTheConnectionEnded(t *testing.T) {
	e := newEnv(t, kauth.KIS, nil)
	var logs testlog.Buffer
	s := e.session(t, func(c *realtime.Config) { c.Logger = logs.Logger() })
	m := s.Join(64)
	subscribe(t, m, samsung)
	e.sim.DropWS(kauth.KIS, kauth.Mock, e.app.AppKey)
	if msg := next(t, m); msg.Kind != realtime.Interrupted {
		t.Fatalf("got %v; want Interrupted", msg.Kind)
	}
	if msg := next(t, m); msg.Kind != realtime.Restored {
		t.Fatalf("got %v; want Restored", msg.Kind)
	}
	var ended []string
	for _, l := range logs.Warnings() {
		if strings.Contains(l, "nothing from the broker") {
			t.Errorf("a dropped socket logged as silence: %s", l)
		}
		if strings.Contains(l, "connection ended") {
			ended = append(ended, l)
		}
	}
	if len(ended) != 1 || !strings.Contains(ended[0], "reading from the broker") {
		t.Errorf("connection-ended lines = %q; want one naming the failed read", ended)
	}
}
