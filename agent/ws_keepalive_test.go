package agent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// TestWSSilentUpstreamNoticedInBeats: an upstream session that goes silent
// with its socket open is given up on after a few of the broker's missed
// keep-alives, with the agent's defaults, and each bot hears of it in its
// broker's shape, as of a drop, then gets its subscription back.
func TestWSSilentUpstreamNoticedInBeats(t *testing.T) {
	for _, tc := range []struct {
		broker  kauth.Broker
		account string
		app     brokersim.App
	}{
		{kauth.KIS, "kis-mock", kisMock},
		{kauth.Kiwoom, "kiwoom-mock", kiwoomMock},
	} {
		t.Run(string(tc.broker), func(t *testing.T) {
			h := newHarness(t, wsSetup(nil))
			w := h.ws("unix", tc.account)
			if tc.broker == kauth.KIS {
				w.kisSubscribe("1", "H0STCNT0", "005930")
				w.wantControl("OPSP0000", "005930")
			} else {
				w.send(map[string]string{"trnm": "LOGIN", "token": "placeholder"})
				w.next()
				w.send(map[string]any{"trnm": "REG", "grp_no": "1", "refresh": "1", "data": []map[string]any{{"item": []string{"005930"}, "type": []string{"0B"}}}})
				if m := w.next(); !strings.Contains(m, `"return_code":0`) {
					t.Fatalf("REG = %s", m)
				}
			}
			eventually(t, "the broker's beat heard", func() bool {
				return h.sim.WSStats(tc.broker, kauth.Mock, tc.app.AppKey).Echoes >= 3
			})
			h.sim.StallWS(tc.broker, kauth.Mock, tc.app.AppKey, time.Hour)
			// next waits 5 s; without the beat, the agent would wait minutes.
			if tc.broker == kauth.KIS {
				if c := w.control(); c.Body.RtCd != "1" || c.Body.MsgCd != "OPSP0007" || !strings.Contains(c.Body.Msg1, "interrupted") || c.Header.TrKey != "005930" {
					t.Fatalf("after the silence: %+v; want OPSP0007 interrupted for 005930", c)
				}
				w.wantControl("OPSP0000", "005930")
			} else if m := w.next(); !strings.Contains(m, `"trnm":"SYSTEM"`) || !strings.Contains(m, "kauth_interrupted") {
				t.Fatalf("after the silence: %s; want SYSTEM kauth_interrupted", m)
			}
			eventually(t, "a new upstream session with the subscription", func() bool {
				st := h.sim.WSStats(tc.broker, kauth.Mock, tc.app.AppKey)
				return st.Opened == 2 && st.Live == 1 && len(st.Topics) == 1
			})
			h.sim.Tick()
			if m := w.next(); !strings.Contains(m, "005930") {
				t.Errorf("after the restore: %.100s; want a frame of 005930", m)
			}
			if st := h.sim.WSStats(tc.broker, kauth.Mock, tc.app.AppKey); st.Pings != 0 {
				t.Errorf("the agent sent %d WebSocket pings upstream; want none", st.Pings)
			}
		})
	}
}
