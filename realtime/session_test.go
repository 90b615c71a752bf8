package realtime_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kis"
	"github.com/kauth/kauth/kiwoom"
	"github.com/kauth/kauth/realtime"
)

var quiet = slog.New(slog.DiscardHandler)

type env struct {
	sim  *brokersim.Server
	ts   *httptest.Server
	app  brokersim.App
	keys *kauth.Manager
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newEnv(t *testing.T, b kauth.Broker, tune func(*brokersim.Server)) *env {
	t.Helper()
	sim := brokersim.New()
	sim.WS.TickInterval = -1 // frames come from Tick
	sim.WS.PingInterval = -1
	if tune != nil {
		tune(sim)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	app := brokersim.Demo(b, kauth.Mock)
	base := brokersim.BaseURL(ts.URL, b, kauth.Mock)
	var keys *kauth.Manager
	var err error
	if b == kauth.KIS {
		keys, err = kis.NewApprovalManager(&kis.Provider{BaseURL: base}, kauth.Config{Credentials: app.Credentials(), Store: kauth.NewMemoryStore(), Logger: quiet, MinIssueInterval: time.Millisecond})
	} else {
		keys, err = kauth.NewManager(kauth.Config{Credentials: app.Credentials(), Provider: &kiwoom.Provider{BaseURL: base}, Store: kauth.NewMemoryStore(), Logger: quiet, MinIssueInterval: time.Millisecond})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	return &env{sim: sim, ts: ts, app: app, keys: keys}
}

func (e *env) session(t *testing.T, tune func(*realtime.Config)) *realtime.Session {
	t.Helper()
	cfg := realtime.Config{
		Credentials: e.app.Credentials(),
		Keys:        e.keys,
		Protocol:    protocolOf(e.app.Broker),
		URL:         wsURL(e.app.Broker, e.app.Env, brokersim.BaseURL(e.ts.URL, e.app.Broker, e.app.Env)),
		MinBackoff:  time.Millisecond,
		MaxBackoff:  20 * time.Millisecond,
		AckTimeout:  5 * time.Second,
		Logger:      quiet,
	}
	if tune != nil {
		tune(&cfg)
	}
	s, err := realtime.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (e *env) stats() brokersim.WSStats {
	return e.sim.WSStats(e.app.Broker, e.app.Env, e.app.AppKey)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func subscribe(t *testing.T, m *realtime.Member, topic realtime.Topic) realtime.Ack {
	t.Helper()
	a, err := m.Subscribe(ctx(t), topic)
	if err != nil {
		t.Fatalf("Subscribe(%v): %v", topic, err)
	}
	return a
}

// next returns m's next message of a kind in kinds, skipping keep-alives.
func next(t *testing.T, m *realtime.Member) realtime.Message {
	t.Helper()
	for {
		select {
		case msg := <-m.Messages():
			if msg.Kind == realtime.KeepAlive {
				continue
			}
			return msg
		case <-m.Done():
			t.Fatalf("member ended: %v", m.Err())
		case <-time.After(5 * time.Second):
			t.Fatal("no message within 5s")
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var (
	samsung = realtime.Topic{ID: "H0STCNT0", Key: "005930"}
	hynix   = realtime.Topic{ID: "H0STCNT0", Key: "000660"}
)

func TestSessionSharesOneUpstreamSubscription(t *testing.T) {
	e := newEnv(t, kauth.KIS, nil)
	s := e.session(t, nil)
	a, b := s.Join(64), s.Join(64)
	ackA := subscribe(t, a, samsung)
	ackB := subscribe(t, b, samsung)
	subscribe(t, b, hynix)
	if !strings.Contains(string(ackA.Raw), "OPSP0000") || string(ackA.Raw) != string(ackB.Raw) {
		t.Errorf("acks = %s / %s; want the broker's OPSP0000 answer for both", ackA.Raw, ackB.Raw)
	}
	if again := subscribe(t, a, samsung); !again.Already {
		t.Errorf("second Subscribe of one member: Already = false")
	}
	st := e.stats()
	if st.Opened != 1 || st.Subscribes != 2 || strings.Join(st.Topics, ",") != "H0STCNT0|000660,H0STCNT0|005930" {
		t.Fatalf("simulator saw %+v; want one session, two subscriptions", st)
	}
	e.sim.Tick()
	if m := next(t, a); m.Kind != realtime.Data || m.Topic != samsung || !strings.HasPrefix(string(m.Raw), "0|H0STCNT0|001|005930^") {
		t.Errorf("a got %v %v %q", m.Kind, m.Topic, m.Raw)
	}
	got := map[realtime.Topic]bool{}
	for range 2 {
		got[next(t, b).Topic] = true
	}
	if !got[samsung] || !got[hynix] {
		t.Errorf("b got %v; want both codes", got)
	}
	// The last member leaving unsubscribes upstream; not before.
	if err := a.Unsubscribe(ctx(t), samsung); err != nil {
		t.Fatal(err)
	}
	if st := e.stats(); st.Unsubscribes != 0 {
		t.Errorf("unsubscribed upstream while b still wants it")
	}
	b.Close()
	eventually(t, "upstream unsubscribes", func() bool { return len(e.stats().Topics) == 0 })
	if st := e.stats(); st.Unsubscribes != 2 || st.Opened != 1 {
		t.Errorf("stats = %+v; want both unsubscribed on one session", st)
	}
}

func TestSessionRestoresAfterDrop(t *testing.T) {
	e := newEnv(t, kauth.KIS, nil)
	s := e.session(t, nil)
	m := s.Join(64)
	subscribe(t, m, samsung)
	subscribe(t, m, hynix)
	if n := e.sim.DropWS(kauth.KIS, kauth.Mock, e.app.AppKey); n != 1 {
		t.Fatalf("dropped %d sessions", n)
	}
	if msg := next(t, m); msg.Kind != realtime.Interrupted {
		t.Fatalf("first message after the drop = %v; want Interrupted", msg.Kind)
	}
	restored := map[realtime.Topic]bool{}
	for range 2 {
		msg := next(t, m)
		if msg.Kind != realtime.Restored || !strings.Contains(string(msg.Raw), "OPSP0000") {
			t.Fatalf("got %v %s; want Restored with the broker's answer", msg.Kind, msg.Raw)
		}
		restored[msg.Topic] = true
	}
	if !restored[samsung] || !restored[hynix] {
		t.Errorf("restored %v", restored)
	}
	st := e.stats()
	if st.Opened != 2 || len(st.Topics) != 2 || st.Live != 1 {
		t.Errorf("simulator: %+v; want a second session with both topics", st)
	}
	e.sim.Tick()
	next(t, m)
	// The session opens to new subscriptions a moment after its last
	// restore answer, which the frames may overtake.
	deadline := time.Now().Add(5 * time.Second)
	got := s.Stats()
	for !got.Connected && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		got = s.Stats()
	}
	if got.Reconnects != 1 || got.Subscriptions != 2 || !got.Connected {
		t.Errorf("Stats = %+v", got)
	}
}

func TestSessionReplacesRefusedApprovalKey(t *testing.T) {
	e := newEnv(t, kauth.KIS, nil)
	s := e.session(t, nil)
	m := s.Join(64)
	subscribe(t, m, samsung)
	old, _ := e.keys.Cached()
	e.sim.InvalidateApprovalKey(old.AccessToken)
	e.sim.DropWS(kauth.KIS, kauth.Mock, e.app.AppKey)
	next(t, m) // Interrupted
	if msg := next(t, m); msg.Kind != realtime.Restored {
		t.Fatalf("got %v; want Restored", msg.Kind)
	}
	cur, _ := e.keys.Cached()
	if cur.AccessToken == old.AccessToken {
		t.Error("still on the refused key")
	}
	if st := e.stats(); st.Rejected != 1 {
		t.Errorf("rejected = %d; want 1 (OPSP0011 once, then a new key)", st.Rejected)
	}
	if n := e.sim.Stats().Approvals; n != 2 {
		t.Errorf("approvals = %d; want 2", n)
	}
}

func TestSessionLimit(t *testing.T) {
	t.Run("broker", func(t *testing.T) {
		e := newEnv(t, kauth.KIS, func(s *brokersim.Server) { s.WS.KISMaxSubscriptions = 1 })
		m := e.session(t, nil).Join(8)
		subscribe(t, m, samsung)
		_, err := m.Subscribe(ctx(t), hynix)
		var re *realtime.Error
		if !errors.Is(err, realtime.ErrLimit) || !errors.As(err, &re) || re.Local || re.Code != "OPSP0008" {
			t.Fatalf("err = %v; want the broker's OPSP0008", err)
		}
	})
	t.Run("counted", func(t *testing.T) {
		e := newEnv(t, kauth.KIS, nil)
		m := e.session(t, func(c *realtime.Config) { c.MaxSubscriptions = 1 }).Join(8)
		subscribe(t, m, samsung)
		_, err := m.Subscribe(ctx(t), hynix)
		var re *realtime.Error
		if !errors.Is(err, realtime.ErrLimit) || !errors.As(err, &re) || !re.Local || re.Code != "OPSP0008" {
			t.Fatalf("err = %v; want OPSP0008 answered by the session", err)
		}
		if st := e.stats(); st.Subscribes != 1 {
			t.Errorf("broker asked %d times; want once", st.Subscribes)
		}
	})
}

func TestSessionDropsSlowMemberAlone(t *testing.T) {
	e := newEnv(t, kauth.KIS, nil)
	s := e.session(t, nil)
	slow, fast := s.Join(2), s.Join(64)
	subscribe(t, slow, samsung)
	subscribe(t, fast, samsung)
	for range 5 {
		e.sim.Tick()
		next(t, fast)
	}
	select {
	case <-slow.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("slow member not dropped")
	}
	if !errors.Is(slow.Err(), realtime.ErrSlow) {
		t.Errorf("Err = %v; want ErrSlow", slow.Err())
	}
	e.sim.Tick()
	if msg := next(t, fast); msg.Kind != realtime.Data {
		t.Errorf("fast got %v", msg.Kind)
	}
	if st := s.Stats(); st.Drops != 1 {
		t.Errorf("Drops = %d", st.Drops)
	}
	if st := e.stats(); len(st.Topics) != 1 {
		t.Errorf("the fast member's topic went: %v", st.Topics)
	}
}

func TestSessionKiwoom(t *testing.T) {
	e := newEnv(t, kauth.Kiwoom, nil)
	// The token is invalidated behind kauth's back: the LOGIN is refused
	// (8005), the token replaced, and the LOGIN tried again.
	tok, err := e.keys.Token(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	e.sim.InvalidateToken(tok.AccessToken)
	s := e.session(t, nil)
	a, b := s.Join(64), s.Join(64)
	sam, hyn := realtime.Topic{ID: "0B", Key: "005930"}, realtime.Topic{ID: "0B", Key: "000660"}
	subscribe(t, a, sam)
	subscribe(t, b, sam)
	subscribe(t, b, hyn)
	st := e.stats()
	if st.Live != 1 || st.Subscribes != 2 || st.Rejected != 1 {
		t.Fatalf("simulator: %+v; want one session (after one refused login), two registrations", st)
	}
	e.sim.Tick() // one REAL frame with both items
	ma, mb := next(t, a), next(t, b)
	if strings.Contains(string(ma.Raw), "000660") || !strings.Contains(string(ma.Raw), "005930") {
		t.Errorf("a got %s; want only its own item", ma.Raw)
	}
	if !strings.Contains(string(mb.Raw), "000660") || !strings.Contains(string(mb.Raw), "005930") {
		t.Errorf("b got %s; want both items", mb.Raw)
	}
	e.sim.DropWS(kauth.Kiwoom, kauth.Mock, e.app.AppKey)
	if msg := next(t, b); msg.Kind != realtime.Interrupted {
		t.Fatalf("got %v", msg.Kind)
	}
	next(t, b)
	next(t, b)
	eventually(t, "both topics restored", func() bool { return len(e.stats().Topics) == 2 })
}

// TestSessionReconnectsAfterStall: a broker that goes silent (no frames, no
// keep-alives) while its socket stays open is given up on after
// IdleTimeout, and the feed comes back on a new session.
func TestSessionReconnectsAfterStall(t *testing.T) {
	e := newEnv(t, kauth.KIS, func(s *brokersim.Server) { s.WS.PingInterval = 10 * time.Millisecond })
	s := e.session(t, func(c *realtime.Config) { c.IdleTimeout = 200 * time.Millisecond })
	m := s.Join(64)
	subscribe(t, m, samsung)
	e.sim.StallWS(kauth.KIS, kauth.Mock, e.app.AppKey, time.Hour)
	if msg := next(t, m); msg.Kind != realtime.Interrupted {
		t.Fatalf("got %v; want Interrupted", msg.Kind)
	}
	if msg := next(t, m); msg.Kind != realtime.Restored {
		t.Fatalf("got %v; want Restored", msg.Kind)
	}
	if st := e.stats(); st.Opened != 2 || st.Live != 1 {
		t.Errorf("simulator: %+v; want a second session", st)
	}
}

// TestSessionEchoesKeepAlives: a session that answers every PINGPONG keeps
// its one upstream session (the simulator drops one that misses 10), and
// members see the keep-alives.
func TestSessionEchoesKeepAlives(t *testing.T) {
	e := newEnv(t, kauth.KIS, func(s *brokersim.Server) {
		s.WS.PingInterval = 10 * time.Millisecond
		s.WS.MissedPings = 10
	})
	m := e.session(t, nil).Join(256)
	subscribe(t, m, samsung)
	keepalives := 0
	for deadline := time.After(300 * time.Millisecond); keepalives >= 0; {
		select {
		case msg := <-m.Messages():
			if msg.Kind == realtime.KeepAlive {
				keepalives++
			} else {
				t.Fatalf("got %v", msg.Kind)
			}
		case <-deadline:
			if keepalives < 5 {
				t.Errorf("%d keep-alives in 300 ms; want more than 5", keepalives)
			}
			keepalives = -1
		}
	}
	if st := e.stats(); st.Opened != 1 || st.Live != 1 {
		t.Errorf("simulator: %+v; want the one session kept", st)
	}
}

// protocolOf returns broker b's real-time protocol, as its Provider does.
func protocolOf(b kauth.Broker) realtime.Protocol {
	if b == kauth.KIS {
		return kis.Realtime{}
	}
	return kiwoom.Realtime{}
}

// wsURL is the WebSocket URL of broker b at env for a REST base.
func wsURL(b kauth.Broker, env kauth.Env, restBase string) string {
	return protocolOf(b).URL(env, restBase)
}
