package brokersim_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// TestRootPortServesWebSockets: a client pointed at the root port of an
// env opens its WebSocket there, at the paths the brokers' own clients use.
func TestRootPortServesWebSockets(t *testing.T) {
	sim, ts := wsSim(t, nil)
	kisRoot := httptest.NewServer(sim.Handler(kauth.KIS, kauth.Mock))
	t.Cleanup(kisRoot.Close)
	kiwoomRoot := httptest.NewServer(sim.Handler(kauth.Kiwoom, kauth.Mock))
	t.Cleanup(kiwoomRoot.Close)
	ws := func(ts *httptest.Server, path string) string { return "ws" + strings.TrimPrefix(ts.URL, "http") + path }

	key := approvalKey(t, ts)
	// kis_auth.py joins "/tryitout" (and pykis "/tryitout/<tr_id>") onto
	// the WebSocket domain; older samples dial the bare domain.
	for _, path := range []string{"/tryitout/H0STCNT0", "/tryitout", ""} {
		c := dial(t, ws(kisRoot, path))
		send(t, c, kisSub(key, "1", "H0STCNT0", "005930"))
		if a := answer(t, c); a.Body.MsgCd != "OPSP0000" {
			t.Fatalf("%q: subscribe = %+v; want OPSP0000", path, a.Body)
		}
		sim.Tick()
		if f := recv(t, c); !strings.HasPrefix(f, "0|H0STCNT0|001|005930^") {
			t.Errorf("%q: frame = %.40q; want 0|H0STCNT0|001|005930^…", path, f)
		}
		// One session per app key: end this one before the next path.
		sim.DropWS(kauth.KIS, kauth.Mock, brokersim.DemoKISMock.AppKey)
	}

	tok := kiwoomToken(t, ts)
	c := dial(t, ws(kiwoomRoot, "/api/dostk/websocket"))
	send(t, c, []byte(`{"trnm":"LOGIN","token":"`+tok+`"}`))
	if m := kiwoomRecv(t, c); m.Trnm != "LOGIN" || m.ReturnCode != 0 {
		t.Fatalf("login at the root port = %+v", m)
	}
	send(t, c, kiwoomReg("REG", "1", []string{"005930"}, []string{"0B"}))
	if m := kiwoomRecv(t, c); m.Trnm != "REG" || m.ReturnCode != 0 {
		t.Fatalf("REG = %+v", m)
	}
	sim.Tick()
	if m := kiwoomRecv(t, c); m.Trnm != "REAL" || len(m.Data) != 1 || m.Data[0].Item != "005930" {
		t.Errorf("REAL = %+v", m)
	}
}
