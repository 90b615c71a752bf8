package brokersim_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// TestWebSocketCountsClientControlFrames: the simulator counts what a
// client sends to keep a session alive — keep-alive echoes and WebSocket
// ping frames — per app, so that tests can tell a client that answers the
// broker's beat from one that probes the broker on its own.
func TestWebSocketCountsClientControlFrames(t *testing.T) {
	for _, tc := range []struct {
		broker kauth.Broker
		app    brokersim.App
		path   string
		ping   string
	}{
		{kauth.KIS, brokersim.DemoKISMock, "", `"tr_id":"PINGPONG"`},
		{kauth.Kiwoom, brokersim.DemoKiwoomMock, "/api/dostk/websocket", `"trnm":"PING"`},
	} {
		t.Run(string(tc.broker), func(t *testing.T) {
			sim, ts := wsSim(t, func(s *brokersim.Server) {
				s.WS.PingInterval = 10 * time.Millisecond
				s.WS.MissedPings = 1000
			})
			c := dial(t, wsURL(ts, tc.broker, kauth.Mock, tc.path))
			// Bind the session to its app first: counters are per app.
			if tc.broker == kauth.KIS {
				send(t, c, kisSub(approvalKey(t, ts), "1", "H0STCNT0", "005930"))
			} else {
				send(t, c, []byte(`{"trnm":"LOGIN","token":"`+kiwoomToken(t, ts)+`"}`))
			}
			bound := false
			for echoes := 0; echoes < 2; {
				msg := recv(t, c)
				if !strings.Contains(msg, tc.ping) {
					bound = true // the subscribe or LOGIN answer
					continue
				}
				if !bound {
					continue // not counted: the app is not known yet
				}
				send(t, c, []byte(msg))
				echoes++
			}
			// A WebSocket ping needs a reader to see its pong.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			go func() {
				for {
					if _, _, err := c.Read(ctx); err != nil {
						return
					}
				}
			}()
			if err := c.Ping(ctx); err != nil {
				t.Fatalf("ping: %v", err)
			}
			var st brokersim.WSStats
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
				st = sim.WSStats(tc.broker, kauth.Mock, tc.app.AppKey)
				if st.Echoes == 2 && st.Pings == 1 || time.Now().After(deadline) {
					break
				}
			}
			if st.Echoes != 2 || st.Pings != 1 {
				t.Errorf("stats = %+v; want 2 echoes and 1 ping", st)
			}
		})
	}
}
