package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
)

// fastControls lets the gateway send control frames quickly, for tests
// that subscribe many codes and do not look at the pacing.
func fastControls(s setup) setup {
	s.cfg = func(c *agent.Config) {
		for i := range c.Accounts {
			c.Accounts[i].WSControlRate = agent.MaxWSControlRate
		}
	}
	return s
}

// TestWSOneBotCannotTakeEverySlot: a bot that asks for as many codes as
// KIS allows one session gets the per-client share, and OPSP0008 for the
// rest; a second bot still subscribes.
func TestWSOneBotCannotTakeEverySlot(t *testing.T) {
	h := newHarness(t, fastControls(wsSetup(nil)))
	greedy, other := h.ws("unix", "kis-mock"), h.ws("unix", "kis-mock")
	ok := 0
	for i := 1; i <= 41; i++ {
		code := fmt.Sprintf("%06d", i)
		greedy.kisSubscribe("1", "H0STCNT0", code)
		c := greedy.control()
		switch {
		case c.Body.MsgCd == "OPSP0000" && c.Header.TrKey == code:
			ok++
		case c.Body.MsgCd == "OPSP0008" && c.Body.Msg1 == "MAX SUBSCRIBE OVER" && c.Body.RtCd == "1" && c.Header.TrKey == code:
		default:
			t.Fatalf("greedy bot, code %s: answer %+v; want OPSP0000 or OPSP0008", code, c)
		}
	}
	if want := agent.DefaultWSClientMaxSubscriptions(kauth.KIS); ok != want || want != 20 {
		t.Errorf("greedy bot holds %d codes; want the default share %d (20 of KIS's 41)", ok, want)
	}
	for i := 1; i <= 5; i++ {
		code := fmt.Sprintf("1%05d", i)
		other.kisSubscribe("1", "H0STCNT0", code)
		other.wantControl("OPSP0000", code)
	}
	if st := h.kisWS(); len(st.Topics) != 25 {
		t.Errorf("upstream holds %d topics; want 25", len(st.Topics))
	}
}

// TestWSClientCapConfigured: an account's ws_client_max_subscriptions
// caps each bot; an unsubscribe frees room; a Kiwoom REG past the cap is
// refused whole, with nothing sent upstream.
func TestWSClientCapConfigured(t *testing.T) {
	h := newHarness(t, setup{
		sim: wsSetup(nil).sim,
		cfg: func(c *agent.Config) {
			for i := range c.Accounts {
				c.Accounts[i].WSClientMaxSubscriptions = 2
			}
		},
	})
	w := h.ws("unix", "kis-mock")
	for _, code := range []string{"005930", "000660"} {
		w.kisSubscribe("1", "H0STCNT0", code)
		w.wantControl("OPSP0000", code)
	}
	w.kisSubscribe("1", "H0STCNT0", "035420")
	w.wantControl("OPSP0008", "035420")
	w.kisSubscribe("1", "H0STCNT0", "005930") // held already: no new slot
	w.wantControl("OPSP0002", "005930")
	w.kisSubscribe("2", "H0STCNT0", "000660")
	w.wantControl("OPSP0001", "000660")
	w.kisSubscribe("1", "H0STCNT0", "035420")
	w.wantControl("OPSP0000", "035420")

	k := h.ws("unix", "kiwoom-mock")
	k.send(map[string]string{"trnm": "LOGIN", "token": "placeholder"})
	if m := k.next(); !strings.Contains(m, `"return_code":0`) {
		t.Fatalf("login = %s", m)
	}
	k.send(map[string]any{"trnm": "REG", "grp_no": "1", "refresh": "1", "data": []map[string]any{{"item": []string{"005930", "000660", "035420"}, "type": []string{"0B"}}}})
	if m := k.next(); !strings.Contains(m, `"trnm":"REG"`) || strings.Contains(m, `"return_code":0`) {
		t.Errorf("REG of 3 items past a cap of 2 = %s; want a refusal", m)
	}
	if st := h.sim.WSStats(kauth.Kiwoom, kauth.Mock, kiwoomMock.AppKey); st.Subscribes != 0 {
		t.Errorf("upstream saw %d registrations; want none", st.Subscribes)
	}
	k.send(map[string]any{"trnm": "REG", "grp_no": "1", "refresh": "1", "data": []map[string]any{{"item": []string{"005930", "000660"}, "type": []string{"0B"}}}})
	if m := k.next(); !strings.Contains(m, `"return_code":0`) {
		t.Errorf("REG of 2 items = %s; want accepted", m)
	}
}

// TestWSUnknownTRRefused: tr_ids and types the broker does not publish are
// refused without asking the broker and without taking a slot.
func TestWSUnknownTRRefused(t *testing.T) {
	h := newHarness(t, fastControls(wsSetup(nil)))
	w := h.ws("unix", "kis-mock")
	for i := range 30 {
		id := fmt.Sprintf("H0FAKE%02d", i)
		w.kisSubscribe("1", id, "005930")
		if c := w.control(); c.Body.RtCd != "1" || c.Body.MsgCd != "OPSP0007" || c.Header.TrID != id || !strings.Contains(c.Body.Msg1, "tr_id") {
			t.Fatalf("made-up tr_id %s: answer %+v; want rt_cd 1 OPSP0007 naming the tr_id", id, c)
		}
	}
	if st := h.kisWS(); st.Subscribes != 0 || len(st.Topics) != 0 {
		t.Errorf("upstream: %+v; want nothing subscribed", st)
	}
	for i := 1; i <= agent.DefaultWSClientMaxSubscriptions(kauth.KIS); i++ {
		code := fmt.Sprintf("%06d", i)
		w.kisSubscribe("1", "H0STCNT0", code)
		w.wantControl("OPSP0000", code)
	}

	k := h.ws("unix", "kiwoom-mock")
	k.send(map[string]string{"trnm": "LOGIN", "token": "placeholder"})
	if m := k.next(); !strings.Contains(m, `"return_code":0`) {
		t.Fatalf("login = %s", m)
	}
	k.send(map[string]any{"trnm": "REG", "grp_no": "1", "refresh": "1", "data": []map[string]any{{"item": []string{"005930"}, "type": []string{"ZZ"}}}})
	if m := k.next(); !strings.Contains(m, `"trnm":"REG"`) || strings.Contains(m, `"return_code":0`) || !strings.Contains(m, "ZZ") {
		t.Errorf("REG of type ZZ = %s; want a refusal naming it", m)
	}
	if st := h.sim.WSStats(kauth.Kiwoom, kauth.Mock, kiwoomMock.AppKey); st.Subscribes != 0 {
		t.Errorf("upstream saw %d registrations; want none", st.Subscribes)
	}
}

// TestWSChurnCoalesced: a bot toggling one code 1,000 times gets every
// answer in KIS's shape, while the broker sees one subscribe, and one
// unsubscribe once the toggling stops and the release's turn comes.
func TestWSChurnCoalesced(t *testing.T) {
	clock := newFakeClock(time.Now())
	h := newHarness(t, setup{sim: wsSetup(nil).sim, clock: clock})
	w := h.ws("unix", "kis-mock")
	const toggles = 1000
	sent := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := range toggles {
			trType := "1"
			if i%2 == 1 {
				trType = "2"
			}
			b, _ := json.Marshal(map[string]any{
				"header": map[string]string{"approval_key": "placeholder", "custtype": "P", "tr_type": trType, "content-type": "utf-8"},
				"body":   map[string]any{"input": map[string]string{"tr_id": "H0STCNT0", "tr_key": "005930"}},
			})
			if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for i := range toggles {
		want := "OPSP0000"
		if i%2 == 1 {
			want = "OPSP0001"
		}
		w.wantControl(want, "005930")
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if st := h.kisWS(); st.Controls != 1 {
		t.Errorf("upstream saw %d control frames for %d toggles; want 1 (the first subscribe)", st.Controls, toggles)
	}
	eventually(t, "the code released upstream", func() bool {
		clock.Advance(100 * time.Millisecond)
		return len(h.kisWS().Topics) == 0
	})
	if st := h.kisWS(); st.Controls != 2 || st.Subscribes != 1 || st.Unsubscribes != 1 {
		t.Errorf("upstream: %+v; want one subscribe and one unsubscribe", st)
	}
}

// TestWSControlFramesPaced: past the account's ws_control_rate, a new
// subscription waits for its turn on the clock before it goes upstream.
func TestWSControlFramesPaced(t *testing.T) {
	clock := newFakeClock(time.Now())
	h := newHarness(t, setup{
		sim:   wsSetup(nil).sim,
		clock: clock,
		cfg: func(c *agent.Config) {
			for i := range c.Accounts {
				c.Accounts[i].WSControlRate = 2
			}
		},
	})
	keepers := clock.Sleepers()
	w := h.ws("unix", "kis-mock")
	for _, code := range []string{"005930", "000660"} {
		w.kisSubscribe("1", "H0STCNT0", code)
		w.wantControl("OPSP0000", code)
	}
	w.kisSubscribe("1", "H0STCNT0", "035420")
	eventually(t, "the third subscribe waits or goes", func() bool {
		return clock.Sleepers() > keepers || h.kisWS().Controls > 2
	})
	if n := h.kisWS().Controls; n != 2 {
		t.Fatalf("upstream saw %d control frames before the clock moved; want 2 (ws_control_rate 2)", n)
	}
	clock.Advance(500 * time.Millisecond)
	w.wantControl("OPSP0000", "035420")
	if n := h.kisWS().Controls; n != 3 {
		t.Errorf("upstream saw %d control frames; want 3", n)
	}
}

// TestWSSubscribeUndoneBeforeItsTurn: a subscribe waiting for its turn and
// the same bot's unsubscribe of that code cancel out: the bot gets both
// answers in KIS's shape at once, and the broker sees neither.
func TestWSSubscribeUndoneBeforeItsTurn(t *testing.T) {
	clock := newFakeClock(time.Now())
	h := newHarness(t, setup{
		sim:   wsSetup(nil).sim,
		clock: clock,
		cfg: func(c *agent.Config) {
			for i := range c.Accounts {
				c.Accounts[i].WSControlRate = 1
			}
		},
	})
	keepers := clock.Sleepers()
	w := h.ws("unix", "kis-mock")
	w.kisSubscribe("1", "H0STCNT0", "005930")
	w.wantControl("OPSP0000", "005930")
	w.kisSubscribe("1", "H0STCNT0", "000660")
	eventually(t, "the subscribe waits for its turn", func() bool { return clock.Sleepers() > keepers })
	w.kisSubscribe("2", "H0STCNT0", "000660")
	w.wantControl("OPSP0000", "000660")
	w.wantControl("OPSP0001", "000660")
	clock.Advance(time.Second)
	w.kisSubscribe("1", "H0STCNT0", "035420")
	w.wantControl("OPSP0000", "035420")
	if st := h.kisWS(); st.Controls != 2 || strings.Join(st.Topics, ",") != "H0STCNT0|005930,H0STCNT0|035420" {
		t.Errorf("upstream: %+v; want only 005930 and 035420 ever sent", st)
	}
}

// TestWSBotLeavingMidSubscribeLeavesNoStray: a bot that goes while its
// subscribe is on the wire neither closes the shared session nor leaves
// the broker holding a subscription nobody counts.
func TestWSBotLeavingMidSubscribeLeavesNoStray(t *testing.T) {
	h := newHarness(t, wsSetup(nil))
	a, b := h.ws("unix", "kis-mock"), h.ws("unix", "kis-mock")
	a.kisSubscribe("1", "H0STCNT0", "005930")
	a.wantControl("OPSP0000", "005930")
	h.sim.StallWS(kauth.KIS, kauth.Mock, kisMock.AppKey, 300*time.Millisecond)
	b.kisSubscribe("1", "H0STCNT0", "000660")
	eventually(t, "the subscribe reaches the broker", func() bool { return h.kisWS().Controls == 2 })
	b.c.CloseNow()
	eventually(t, "the broker holds only 005930", func() bool {
		return strings.Join(h.kisWS().Topics, ",") == "H0STCNT0|005930"
	})
	h.sim.Tick()
	if code, _ := a.frame(); code != "005930" {
		t.Errorf("bot a got %s", code)
	}
	if st := h.kisWS(); st.Opened != 1 {
		t.Errorf("upstream sessions opened: %d; want the first one kept", st.Opened)
	}
}
