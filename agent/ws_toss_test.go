package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
)

var tossReal = brokersim.DemoTossReal

// newTossWSHarness is the WebSocket harness with one account, toss-real.
func newTossWSHarness(t *testing.T) *harness {
	t.Helper()
	return newTossWSHarnessDown(t, nil)
}

// newTossWSHarnessDown is newTossWSHarness with a front before the
// simulator that answers WebSocket upgrades 404 while down is set (REST
// goes through), as a broker whose WebSocket host is gone does. A nil down
// means no front.
func newTossWSHarnessDown(t *testing.T, down *atomic.Bool) *harness {
	t.Helper()
	env := map[string]string{"K_TOSS": tossReal.AppKey, "S_TOSS": tossReal.Secret}
	s := wsSetup(nil)
	s.cfg = func(c *agent.Config) {
		c.Accounts = []agent.Account{{Name: "toss-real", Broker: tossReal.Broker, Env: kauth.Real,
			AppKey: agent.Secret{Env: "K_TOSS"}, AppSecret: agent.Secret{Env: "S_TOSS"}}}
	}
	s.opts = func(o *agent.Options) {
		get := o.Getenv
		o.Getenv = func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return get(k)
		}
	}
	s.onSim = func(u string) {
		if down != nil {
			target, _ := url.Parse(u)
			rp := httputil.NewSingleHostReverseProxy(target)
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if down.Load() && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
					http.NotFound(w, r)
					return
				}
				rp.ServeHTTP(w, r)
			}))
			t.Cleanup(front.Close)
			u = front.URL
		}
		env["TOSS_BASE_URL"] = brokersim.BaseURL(u, tossReal.Broker, kauth.Real)
	}
	h := newHarness(t, s)
	h.secrets = append(h.secrets, tossReal.AppKey, tossReal.Secret)
	return h
}

func (h *harness) tossWS() brokersim.WSStats {
	return h.sim.WSStats(tossReal.Broker, kauth.Real, tossReal.AppKey)
}

// tossAnswer is what a Toss bot reads: an ack, an error or a data frame.
type tossAnswer struct {
	Type       string   `json:"type"`
	ID         string   `json:"id"`
	Topic      string   `json:"topic"`
	Subscribed []string `json:"subscribed"`
	Rejected   []struct {
		Target, Code string
	} `json:"rejected"`
	Error struct {
		Code string `json:"code"`
	} `json:"error"`
}

func (w *wsConn) toss() tossAnswer {
	w.t.Helper()
	var a tossAnswer
	if m := w.next(); json.Unmarshal([]byte(m), &a) != nil {
		w.t.Fatalf("not JSON: %s", m)
	}
	return a
}

// declare sends a Toss declaration: an id, then trade:kr codes.
func (w *wsConn) declare(id string, codes ...string) tossAnswer {
	w.t.Helper()
	items := []any{map[string]string{"id": id}}
	if len(codes) > 0 {
		items = append(items, map[string]any{"type": "trade:kr", "codes": codes})
	}
	w.send(items)
	return w.toss()
}

// TestWSTossTwoBotsShareOneConnection: two bots on one Toss account speak
// Toss's own protocol to the agent; each declaration replaces the bot's
// set, the agent declares the union upstream over one connection, and each
// bot gets the frames of its own set.
func TestWSTossTwoBotsShareOneConnection(t *testing.T) {
	h := newTossWSHarness(t)
	a, b := h.ws("unix", "toss-real"), h.ws("tcp", "toss-real")
	if ack := a.declare("a-1", "005930"); ack.Type != "subscriptions" || ack.ID != "a-1" || !slices.Equal(ack.Subscribed, []string{"trade:kr:005930"}) {
		t.Fatalf("a's ack = %+v", ack)
	}
	if ack := b.declare("b-1", "005930", "000660"); ack.Type != "subscriptions" || !slices.Equal(ack.Subscribed, []string{"trade:kr:000660", "trade:kr:005930"}) {
		t.Fatalf("b's ack = %+v", ack)
	}
	st := h.tossWS()
	if st.Opened != 1 || st.Live != 1 || !slices.Equal(st.Topics, []string{"trade:kr:000660", "trade:kr:005930"}) {
		t.Fatalf("simulator: %+v; want one connection holding the union", st)
	}
	h.sim.Tick()
	if f := a.toss(); f.Type != "message" || f.Topic != "trade:kr:005930" {
		t.Fatalf("a got %+v; want its 005930 frame", f)
	}
	var got []string
	for range 2 {
		got = append(got, b.toss().Topic)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"trade:kr:000660", "trade:kr:005930"}) {
		t.Fatalf("b got frames of %v; want both codes", got)
	}
	// b's empty declaration drops its whole set; a keeps 005930 upstream.
	if ack := b.declare("b-2"); ack.Type != "subscriptions" || len(ack.Subscribed) != 0 {
		t.Fatalf("b's empty declaration = %+v", ack)
	}
	eventually(t, "000660 dropped upstream", func() bool {
		return slices.Equal(h.tossWS().Topics, []string{"trade:kr:005930"})
	})
	// A bot's PING is answered by the agent.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.c.Write(ctx, websocket.MessageText, []byte("PING")); err != nil {
		t.Fatal(err)
	}
	if f := a.toss(); f.Type != "pong" {
		t.Fatalf("PING answered %+v; want pong", f)
	}
	if st := h.tossWS(); st.Opened != 1 {
		t.Fatalf("%d connections opened; want 1", st.Opened)
	}
}

// TestWSTossRefusals: a declaration Toss would refuse whole is refused in
// Toss's shape and keeps the bot's set; past the per-client share the
// refusal is too-many-topics.
func TestWSTossRefusals(t *testing.T) {
	h := newTossWSHarness(t)
	w := h.ws("unix", "toss-real")
	if ack := w.declare("1", "005930"); ack.Type != "subscriptions" {
		t.Fatalf("ack = %+v", ack)
	}
	codes := make([]string, 51) // the default share: half of 100
	for i := range codes {
		codes[i] = fmt.Sprintf("%06d", i)
	}
	if f := w.declare("2", codes...); f.Type != "error" || f.Error.Code != "too-many-topics" || f.ID != "2" {
		t.Fatalf("51 codes = %+v; want too-many-topics", f)
	}
	w.send([]any{map[string]any{"type": "quote:kr", "codes": []string{"005930"}}})
	if f := w.toss(); f.Type != "error" || f.Error.Code != "invalid-type" {
		t.Fatalf("unknown type = %+v; want invalid-type", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if f := w.toss(); f.Type != "error" || f.Error.Code != "wrong-format" {
		t.Fatalf("bad JSON = %+v; want wrong-format", f)
	}
	if st := h.tossWS(); !slices.Equal(st.Topics, []string{"trade:kr:005930"}) {
		t.Fatalf("upstream %v after refusals; want the set kept", st.Topics)
	}
	h.sim.Tick()
	if f := w.toss(); f.Topic != "trade:kr:005930" || !strings.Contains(f.Type, "message") {
		t.Fatalf("frame %+v", f)
	}
}

// TestWSTossReconnect: when the upstream connection drops, the agent
// reconnects and declares the bots' union again; the bots keep their
// connections and get frames again, without declaring anything.
func TestWSTossReconnect(t *testing.T) {
	h := newTossWSHarness(t)
	w := h.ws("unix", "toss-real")
	if ack := w.declare("1", "005930", "035420"); ack.Type != "subscriptions" || len(ack.Subscribed) != 2 {
		t.Fatalf("ack = %+v", ack)
	}
	if n := h.sim.DropWS(tossReal.Broker, kauth.Real, tossReal.AppKey); n != 1 {
		t.Fatalf("dropped %d connections; want 1", n)
	}
	eventually(t, "the union declared again", func() bool {
		st := h.tossWS()
		return st.Opened == 2 && st.Live == 1 && slices.Equal(st.Topics, []string{"trade:kr:005930", "trade:kr:035420"})
	})
	h.sim.Tick()
	var got []string
	for range 2 {
		got = append(got, w.toss().Topic)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"trade:kr:005930", "trade:kr:035420"}) {
		t.Fatalf("frames of %v after the reconnect", got)
	}
}

// TestWSTossToldWhenUpstreamUnavailable: a Toss bot whose declaration
// waits for a broker whose WebSocket answers 404 hears so at once, in
// Toss's error frame (code kauth-upstream-down, naming toss and the 404),
// and once the broker is back gets its declaration's answer and Toss's
// subscriptions frame for its set, then data. A drop into the same outage
// is told the same way, and the recovery again with the set restored.
func TestWSTossToldWhenUpstreamUnavailable(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	h := newTossWSHarnessDown(t, &down)
	w := h.ws("tcp", "toss-real")
	w.send([]any{map[string]string{"id": "d-1"}, map[string]any{"type": "trade:kr", "codes": []string{"005930", "000660"}}})
	wantDown := func(w *wsConn, when string) {
		t.Helper()
		raw := w.next()
		var a tossAnswer
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if json.Unmarshal([]byte(raw), &a) != nil || json.Unmarshal([]byte(raw), &e) != nil ||
			a.Type != "error" || a.Error.Code != "kauth-upstream-down" ||
			!strings.Contains(e.Error.Message, "toss real") || !strings.Contains(e.Error.Message, "404") {
			t.Fatalf("%s: %s; want Toss's error frame, kauth-upstream-down, naming toss real and the 404", when, raw)
		}
	}
	wantDown(w, "while the broker 404s")
	// A bot that declares during the outage hears it at once too: one
	// error frame, however many of its topics wait.
	b := h.ws("tcp", "toss-real")
	b.send([]any{map[string]string{"id": "b-1"}, map[string]any{"type": "trade:kr", "codes": []string{"035420", "035720"}}})
	wantDown(b, "a declaration during the outage")
	down.Store(false)
	both := []string{"trade:kr:000660", "trade:kr:005930"}
	// The declaration's answer and the news that the session is back
	// travel separately: either may come first.
	wantBack := func(w *wsConn, id string, set []string) {
		t.Helper()
		var acked, back bool
		for range 2 {
			a := w.toss()
			switch {
			case a.Type == "subscriptions" && a.ID == id && slices.Equal(a.Subscribed, set):
				acked = true
			case a.Type == "subscriptions" && a.ID == "" && slices.Equal(a.Subscribed, set):
				back = true
			default:
				t.Fatalf("after the outage: %+v", a)
			}
		}
		if !acked || !back {
			t.Fatalf("declaration answered %v, back %v; want both", acked, back)
		}
	}
	wantBack(w, "d-1", both)
	wantBack(b, "b-1", []string{"trade:kr:035420", "trade:kr:035720"})
	b.declare("b-2") // b leaves: the rest concerns w alone
	h.sim.Tick()
	var got []string
	for range 2 {
		got = append(got, w.toss().Topic)
	}
	slices.Sort(got)
	if !slices.Equal(got, both) {
		t.Fatalf("frames of %v; want both codes", got)
	}

	down.Store(true)
	h.sim.DropWS(tossReal.Broker, kauth.Real, tossReal.AppKey)
	wantDown(w, "after a drop into the outage")
	down.Store(false)
	if a := w.toss(); a.Type != "subscriptions" || a.ID != "" || !slices.Equal(a.Subscribed, both) {
		t.Fatalf("after the second outage: %+v; want Toss's subscriptions frame for the restored set", a)
	}
	h.sim.Tick()
	got = got[:0]
	for range 2 {
		got = append(got, w.toss().Topic)
	}
	slices.Sort(got)
	if !slices.Equal(got, both) {
		t.Fatalf("frames of %v after the restore; want both codes", got)
	}
}
