package brokersim_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kis"
	"github.com/kauth/kauth/kiwoom"
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
	// The last URL is the one kauth's agent derives from a base_url that
	// is the root port (the realtime protocol's URL).
	for _, url := range []string{ws(kisRoot, "/tryitout/H0STCNT0"), ws(kisRoot, "/tryitout"), ws(kisRoot, ""), kis.Realtime{}.URL(kauth.Mock, kisRoot.URL)} {
		c := dial(t, url)
		send(t, c, kisSub(key, "1", "H0STCNT0", "005930"))
		if a := answer(t, c); a.Body.MsgCd != "OPSP0000" {
			t.Fatalf("%q: subscribe = %+v; want OPSP0000", url, a.Body)
		}
		sim.Tick()
		if f := recv(t, c); !strings.HasPrefix(f, "0|H0STCNT0|001|005930^") {
			t.Errorf("%q: frame = %.40q; want 0|H0STCNT0|001|005930^…", url, f)
		}
		// One session per app key: end this one before the next path.
		sim.DropWS(kauth.KIS, kauth.Mock, brokersim.DemoKISMock.AppKey)
	}

	tok := kiwoomToken(t, ts)
	// The URL kauth derives from the root port: ws://host/api/dostk/websocket.
	c := dial(t, kiwoom.Realtime{}.URL(kauth.Mock, kiwoomRoot.URL))
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

	// Toss at /ws/v1 of its root port; other paths are not served.
	tossRoot := httptest.NewServer(sim.Handler(tossName, kauth.Real))
	t.Cleanup(tossRoot.Close)
	ttok := tossWSToken(t, ts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hdr := &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + ttok}}}
	tc, _, err := websocket.Dial(ctx, ws(tossRoot, "/ws/v1"), hdr)
	if err != nil {
		t.Fatalf("toss at its root port: %v", err)
	}
	tc.CloseNow()
	if _, resp, err := websocket.Dial(ctx, ws(tossRoot, "/elsewhere"), hdr); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("toss at /elsewhere: %v; want 404", err)
	}
	if _, resp, err := websocket.Dial(ctx, ws(kiwoomRoot, "/tryitout"), nil); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("kiwoom at /tryitout: %v; want 404", err)
	}
}
