package agent_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
)

// wsOutageSetup puts a front before the simulator that answers WebSocket
// upgrades 404 while down is set (REST goes through), as a broker whose
// WebSocket host is gone does, and points the KIS and Kiwoom mock accounts
// at it.
func wsOutageSetup(t *testing.T, down *atomic.Bool) setup {
	s := wsSetup(nil)
	var front string
	s.onSim = func(simURL string) {
		target, _ := url.Parse(simURL)
		rp := httputil.NewSingleHostReverseProxy(target)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				http.NotFound(w, r)
				return
			}
			rp.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		front = srv.URL
	}
	s.cfg = func(c *agent.Config) {
		for i := range c.Accounts {
			switch c.Accounts[i].Name {
			case "kis-mock":
				c.Accounts[i].BaseURL = brokersim.BaseURL(front, kauth.KIS, kauth.Mock)
			case "kiwoom-mock":
				c.Accounts[i].BaseURL = brokersim.BaseURL(front, kauth.Kiwoom, kauth.Mock)
			}
		}
	}
	return s
}

// TestWSKISToldWhenUpstreamUnavailable: a KIS bot that subscribes while
// the broker's WebSocket answers 404 is told at once, for its tr_id and
// tr_key, in a shape kis_auth.py's system_resp and python-kis parse
// (rt_cd "1", msg_cd KAUTH0001, msg1 naming broker, env and cause); when
// the broker is back it hears so (KAUTH0002), gets its SUBSCRIBE SUCCESS
// and frames.
// After a drop into the same outage: interrupted, unavailable, back,
// restored.
func TestWSKISToldWhenUpstreamUnavailable(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	h := newHarness(t, wsOutageSetup(t, &down))
	w := h.ws("tcp", "kis-mock")
	w.kisSubscribe("1", "H0STCNT0", "005930")
	raw := w.next()
	trID, trKey, ok, msg := kisSampleSystemResp(t, raw)
	c := w.decodeControl(raw)
	if trID != "H0STCNT0" || trKey != "005930" || ok || c.Body.MsgCd != "KAUTH0001" ||
		!strings.Contains(msg, "kis mock") || !strings.Contains(msg, "404") {
		t.Fatalf("while the broker 404s: %s; want rt_cd 1 KAUTH0001 naming kis mock and the 404", raw)
	}
	down.Store(false)
	// The news that the session is back and the answer to the subscribe
	// that waited for it travel separately: either may come first.
	got := map[string]bool{}
	for range 2 {
		c := w.control()
		if c.Header.TrKey != "005930" {
			t.Fatalf("answer for %q", c.Header.TrKey)
		}
		got[c.Body.MsgCd] = true
	}
	if !got["KAUTH0002"] || !got["OPSP0000"] {
		t.Fatalf("after the outage: %v; want KAUTH0002 and OPSP0000", got)
	}
	h.sim.Tick()
	if code, _ := w.frame(); code != "005930" {
		t.Fatalf("frame for %s", code)
	}

	down.Store(true)
	h.sim.DropWS(kauth.KIS, kauth.Mock, kisMock.AppKey)
	w.wantControl("OPSP0007", "005930")
	w.wantControl("KAUTH0001", "005930")
	down.Store(false)
	w.wantControl("KAUTH0002", "005930")
	w.wantControl("OPSP0000", "005930")
	h.sim.Tick()
	if code, _ := w.frame(); code != "005930" {
		t.Fatalf("frame after the restore for %s", code)
	}
}

// TestWSKiwoomToldWhenUpstreamUnavailable: a Kiwoom bot whose REG waits
// for a broker that 404s gets a SYSTEM notice with return_code 1 naming
// the cause at once, another when the broker is back, then its REG answer
// and REAL frames.
func TestWSKiwoomToldWhenUpstreamUnavailable(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	h := newHarness(t, wsOutageSetup(t, &down))
	w := h.ws("tcp", "kiwoom-mock")
	w.send(map[string]string{"trnm": "LOGIN", "token": "placeholder"})
	if m := w.next(); !strings.Contains(m, `"return_code":0`) {
		t.Fatalf("login = %s", m)
	}
	w.sendRaw(`{"trnm": "REG", "grp_no": "1", "refresh": "1", "data": [{"item": ["005930"], "type": ["0B"]}]}`)
	m := w.next()
	if !strings.Contains(m, `"trnm":"SYSTEM"`) || !strings.Contains(m, `"return_code":1`) ||
		!strings.Contains(m, "kiwoom mock") || !strings.Contains(m, "404") {
		t.Fatalf("while the broker 404s: %s; want a SYSTEM notice naming kiwoom mock and the 404", m)
	}
	down.Store(false)
	// The SYSTEM notice and the REG answer travel separately: either may
	// come first.
	var back, reg bool
	for range 2 {
		switch m := w.next(); {
		case strings.Contains(m, `"trnm":"SYSTEM"`) && strings.Contains(m, "kauth_upstream_back") && strings.Contains(m, `"return_code":0`):
			back = true
		case strings.Contains(m, `"trnm":"REG"`) && strings.Contains(m, `"return_code":0`):
			reg = true
		default:
			t.Fatalf("after the outage: %s", m)
		}
	}
	if !back || !reg {
		t.Fatalf("back %v, REG answered %v; want both", back, reg)
	}
	h.sim.Tick()
	if m := w.next(); !strings.Contains(m, `"REAL"`) || !strings.Contains(m, "005930") {
		t.Fatalf("frame = %s", m)
	}
}
