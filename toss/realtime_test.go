package toss_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/realtime"
	"github.com/kauth/kauth/toss"
)

var quiet = slog.New(slog.DiscardHandler)

// rtEnv is a Session over the simulator's Toss WebSocket.
type rtEnv struct {
	sim  *brokersim.Server
	keys *kauth.Manager
	sess *realtime.Session
	base string
}

func newRealtime(t *testing.T, tune func(*brokersim.Server), proto realtime.Protocol, cfgTune ...func(*realtime.Config)) *rtEnv {
	t.Helper()
	sim := brokersim.New()
	sim.Clock = func() time.Time { return start }
	sim.WS.TickInterval = -1 // frames come from Tick
	if tune != nil {
		tune(sim)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	base := brokersim.BaseURL(srv.URL, toss.Broker, kauth.Real)
	p := &toss.Provider{BaseURL: base, Now: sim.Now}
	keys, _ := newManager(t, sim, p, kauth.NewMemoryStore())
	if proto == nil {
		proto = p.Realtime()
	}
	cfg := realtime.Config{
		Credentials: app.Credentials(),
		Keys:        keys,
		Protocol:    proto,
		URL:         proto.URL(kauth.Real, base),
		MinBackoff:  time.Millisecond,
		MaxBackoff:  20 * time.Millisecond,
		AckTimeout:  5 * time.Second,
		Logger:      quiet,
	}
	for _, f := range cfgTune {
		f(&cfg)
	}
	sess, err := realtime.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return &rtEnv{sim: sim, keys: keys, sess: sess, base: base}
}

func (e *rtEnv) stats() brokersim.WSStats {
	return e.sim.WSStats(toss.Broker, kauth.Real, app.AppKey)
}

func rtCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// nextData returns m's next data frame.
func nextData(t *testing.T, m *realtime.Member) realtime.Message {
	t.Helper()
	for {
		select {
		case msg := <-m.Messages():
			if msg.Kind == realtime.Data {
				return msg
			}
		case <-m.Done():
			t.Fatalf("member ended: %v", m.Err())
		case <-time.After(5 * time.Second):
			t.Fatal("no data frame within 5s")
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
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
	samsung = realtime.Topic{ID: "trade:kr", Key: "005930"}
	hynix   = realtime.Topic{ID: "trade:kr", Key: "000660"}
	apple   = realtime.Topic{ID: "orderbook:us", Key: "AAPL"}
)

// TestRealtimeDeclaresTheWholeSet: every change of the members' topics is
// one declaration of the whole set, which replaces the set Toss holds; two
// members of one topic make one subscription, and data reaches both.
func TestRealtimeDeclaresTheWholeSet(t *testing.T) {
	e := newRealtime(t, nil, nil)
	a, b := e.sess.Join(16), e.sess.Join(16)
	defer a.Close()
	defer b.Close()
	for _, tc := range []struct {
		m *realtime.Member
		t realtime.Topic
	}{{a, samsung}, {b, samsung}, {b, apple}} {
		if _, err := tc.m.Subscribe(rtCtx(t), tc.t); err != nil {
			t.Fatalf("Subscribe(%v) = %v", tc.t, err)
		}
	}
	if got, want := e.stats().Topics, []string{"orderbook:us:AAPL", "trade:kr:005930"}; !slices.Equal(got, want) {
		t.Fatalf("Toss holds %v; want %v", got, want)
	}
	if st := e.stats(); st.Live != 1 || st.Opened != 1 {
		t.Fatalf("live %d, opened %d; want one connection", st.Live, st.Opened)
	}
	e.sim.Tick()
	for _, m := range []*realtime.Member{a, b} {
		if msg := nextData(t, m); msg.Topic.ID != "trade:kr" && msg.Topic.ID != "orderbook:us" {
			t.Fatalf("data of %v", msg.Topic)
		}
	}
	// b leaves apple: the next declaration leaves it out, and Toss drops it.
	if err := b.Unsubscribe(rtCtx(t), apple); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the declaration without AAPL", func() bool {
		return slices.Equal(e.stats().Topics, []string{"trade:kr:005930"})
	})
	// a subscribes hynix while b still holds samsung: both stay.
	if _, err := a.Subscribe(rtCtx(t), hynix); err != nil {
		t.Fatal(err)
	}
	if got, want := e.stats().Topics, []string{"trade:kr:000660", "trade:kr:005930"}; !slices.Equal(got, want) {
		t.Fatalf("Toss holds %v; want %v", got, want)
	}
	if err := b.Unsubscribe(rtCtx(t), hynix); !errors.Is(err, realtime.ErrNotSubscribed) {
		t.Fatalf("Unsubscribe of a topic b never held = %v; want ErrNotSubscribed", err)
	}
}

// TestRealtimeCoalescesDeclarations: forty members subscribing at once make
// a handful of declarations, never more than Toss's 5 a second.
func TestRealtimeCoalescesDeclarations(t *testing.T) {
	e := newRealtime(t, nil, nil)
	errs := make(chan error, 40)
	for i := range 40 {
		m := e.sess.Join(16)
		defer m.Close()
		go func() {
			_, err := m.Subscribe(rtCtx(t), realtime.Topic{ID: "trade:kr", Key: fmt.Sprintf("%06d", i)})
			errs <- err
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			t.Fatalf("Subscribe = %v", err)
		}
	}
	st := e.stats()
	if len(st.Topics) != 40 {
		t.Fatalf("Toss holds %d topics; want 40", len(st.Topics))
	}
	if st.Controls > 10 {
		t.Fatalf("%d declarations for 40 topics; want them coalesced", st.Controls)
	}
}

// TestRealtimeLimit: past 100 topics Subscribe fails with ErrLimit in
// Toss's terms, without asking Toss.
func TestRealtimeLimit(t *testing.T) {
	e := newRealtime(t, nil, nil)
	m := e.sess.Join(16)
	defer m.Close()
	errs := make(chan error, toss.WSMaxSubscriptions)
	for i := range toss.WSMaxSubscriptions {
		go func() {
			_, err := m.Subscribe(rtCtx(t), realtime.Topic{ID: "trade:kr", Key: fmt.Sprintf("%06d", i)})
			errs <- err
		}()
	}
	for range toss.WSMaxSubscriptions {
		if err := <-errs; err != nil {
			t.Fatalf("Subscribe = %v", err)
		}
	}
	before := e.stats().Controls
	_, err := m.Subscribe(rtCtx(t), samsung)
	var re *realtime.Error
	if !errors.Is(err, realtime.ErrLimit) || !errors.As(err, &re) || re.Code != "too-many-topics" || !re.Local {
		t.Fatalf("101st Subscribe = %v; want a local too-many-topics ErrLimit", err)
	}
	if st := e.stats(); len(st.Topics) != toss.WSMaxSubscriptions || st.Controls != before {
		t.Fatalf("Toss holds %d topics after %d declarations (%d before); want 100 and nothing sent", len(st.Topics), st.Controls, before)
	}
}

// TestRealtimeReconnectsWithAFreshToken: another program's issuance kills
// the token the connection opened with; when the connection drops, the
// handshake with the old token is refused (401), and the Session redials
// with one new token, the one kauth hands everyone, and declares its set
// again.
func TestRealtimeReconnectsWithAFreshToken(t *testing.T) {
	e := newRealtime(t, nil, nil)
	m := e.sess.Join(16)
	defer m.Close()
	if _, err := m.Subscribe(rtCtx(t), samsung); err != nil {
		t.Fatal(err)
	}
	old, err := e.keys.Token(rtCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	issuedBefore := e.sim.Issued(toss.Broker, kauth.Real, app.AppKey)
	issueBehindKauth(t, e.base)
	if n := e.sim.DropWS(toss.Broker, kauth.Real, app.AppKey); n != 1 {
		t.Fatalf("dropped %d connections; want 1", n)
	}
	waitFor(t, "the restored declaration", func() bool {
		st := e.stats()
		return st.Opened == 2 && st.Live == 1 && slices.Equal(st.Topics, []string{"trade:kr:005930"})
	})
	tok, err := e.keys.Token(rtCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == old.AccessToken {
		t.Fatal("the Session reconnected with the killed token")
	}
	// One issuance behind kauth's back, one by kauth for everyone.
	if n := e.sim.Issued(toss.Broker, kauth.Real, app.AppKey) - issuedBefore; n != 2 {
		t.Fatalf("%d issuances after the kill; want 2 (the killer's and kauth's one)", n)
	}
	var kinds []realtime.Kind
	waitFor(t, "interrupted, then restored", func() bool {
		select {
		case msg := <-m.Messages():
			kinds = append(kinds, msg.Kind)
		default:
		}
		return slices.Contains(kinds, realtime.Restored)
	})
	if kinds[0] != realtime.Interrupted {
		t.Fatalf("messages %v; want interrupted first", kinds)
	}
	e.sim.Tick()
	if msg := nextData(t, m); msg.Topic != samsung {
		t.Fatalf("data of %v after the reconnect; want %v", msg.Topic, samsung)
	}
}

// pingEvery is Toss's protocol with a shorter keep-alive period.
type pingEvery struct {
	toss.Realtime
	every time.Duration
}

func (p pingEvery) Ping() ([]byte, time.Duration) { return []byte("PING"), p.every }

// TestRealtimeSendsPings: a Session over Toss sends the text PING itself
// (Toss closes a connection silent for 180 s, whatever it sends) and does
// not echo the pong; the connection outlives several idle timeouts.
func TestRealtimeSendsPings(t *testing.T) {
	if every, _ := (toss.Realtime{}).Ping(); string(every) != "PING" {
		t.Fatalf("Ping() = %q; want the text PING", every)
	}
	if _, d := (toss.Realtime{}).Ping(); d != time.Minute {
		t.Fatalf("Ping period %v; want 60s", d)
	}
	e := newRealtime(t, func(s *brokersim.Server) { s.WS.TossIdleTimeout = 300 * time.Millisecond },
		pingEvery{every: 50 * time.Millisecond})
	m := e.sess.Join(256)
	defer m.Close()
	if _, err := m.Subscribe(rtCtx(t), samsung); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // three idle timeouts and more
	st := e.stats()
	if st.Opened != 1 || st.Live != 1 {
		t.Fatalf("opened %d, live %d; want the first connection alive", st.Opened, st.Live)
	}
	if st.Echoes < 5 {
		t.Fatalf("%d PINGs in 1s; want one every 50ms", st.Echoes)
	}
	if st.Controls != 1 {
		t.Fatalf("%d declarations; want 1 (a pong is not echoed as one)", st.Controls)
	}
}

// TestRealtimePacesDeclarations: one change at a time, each waited for,
// makes one declaration each, spaced so that no second holds more than
// Toss's 5: none is refused with rate-limit-exceeded (which would cost a
// retry, and a sixth declaration on the simulator).
func TestRealtimePacesDeclarations(t *testing.T) {
	e := newRealtime(t, nil, nil)
	m := e.sess.Join(16)
	defer m.Close()
	began := time.Now()
	const n = 12
	for i := range n {
		if _, err := m.Subscribe(rtCtx(t), realtime.Topic{ID: "trade:kr", Key: fmt.Sprintf("%06d", i)}); err != nil {
			t.Fatalf("Subscribe #%d = %v", i, err)
		}
	}
	took := time.Since(began)
	if st := e.stats(); st.Controls != n || len(st.Topics) != n {
		t.Fatalf("%d declarations for %d topics (Toss holds %d); want one each, none refused", st.Controls, n, len(st.Topics))
	}
	rate := toss.WSDeclareRate
	gap := time.Duration(float64(time.Second) / rate)
	if took < time.Duration(n-1)*gap-50*time.Millisecond {
		t.Fatalf("%d declarations in %v; want them %v apart at least", n, took, gap)
	}
}

// TestRealtimeBrokerRefusalKeepsTheSet: a declaration Toss refuses whole
// (here past its 100 topics, with the Session's own count raised) fails
// the Subscribe that added to it with Toss's code, and the set Toss held
// before stays, as Toss keeps it.
func TestRealtimeBrokerRefusalKeepsTheSet(t *testing.T) {
	e := newRealtime(t, nil, nil, func(c *realtime.Config) { c.MaxSubscriptions = toss.WSMaxSubscriptions + 1 })
	m := e.sess.Join(16)
	defer m.Close()
	errs := make(chan error, toss.WSMaxSubscriptions)
	for i := range toss.WSMaxSubscriptions {
		go func() {
			_, err := m.Subscribe(rtCtx(t), realtime.Topic{ID: "trade:kr", Key: fmt.Sprintf("%06d", i)})
			errs <- err
		}()
	}
	for range toss.WSMaxSubscriptions {
		if err := <-errs; err != nil {
			t.Fatalf("Subscribe = %v", err)
		}
	}
	_, err := m.Subscribe(rtCtx(t), samsung)
	var re *realtime.Error
	if !errors.As(err, &re) || re.Code != "too-many-topics" || re.Local || !errors.Is(err, realtime.ErrLimit) {
		t.Fatalf("101st Subscribe = %v; want Toss's own too-many-topics", err)
	}
	if st := e.stats(); len(st.Topics) != toss.WSMaxSubscriptions || slices.Contains(st.Topics, "trade:kr:005930") {
		t.Fatalf("Toss holds %d topics; want the 100 it held", len(st.Topics))
	}
	// The set is usable as before: a change that fits goes through.
	if err := m.Unsubscribe(rtCtx(t), realtime.Topic{ID: "trade:kr", Key: "000000"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Subscribe(rtCtx(t), samsung); err != nil {
		t.Fatalf("Subscribe after making room = %v", err)
	}
	if st := e.stats(); len(st.Topics) != toss.WSMaxSubscriptions || !slices.Contains(st.Topics, "trade:kr:005930") {
		t.Fatalf("Toss holds %v; want 005930 in place of 000000", len(st.Topics))
	}
}

// TestRealtimeOutageToldAndOver: a Session over Toss, which declares
// whole sets, tells a member at once when it cannot open its connection
// (Unavailable) and again when it can (Available), then restores the set;
// an ordinary drop with the broker up is only an interruption, not an
// outage.
func TestRealtimeOutageToldAndOver(t *testing.T) {
	var down atomic.Bool
	e := newRealtime(t, nil, nil, func(c *realtime.Config) {
		// A front before the simulator that answers 404 while down, as a
		// broker host without its WebSocket path does.
		u, _ := url.Parse(c.URL)
		rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: u.Host})
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() {
				http.NotFound(w, r)
				return
			}
			rp.ServeHTTP(w, r)
		}))
		t.Cleanup(front.Close)
		u.Host = strings.TrimPrefix(front.URL, "http://")
		c.URL = u.String()
	})
	next := func(m *realtime.Member) realtime.Message {
		t.Helper()
		for {
			select {
			case msg := <-m.Messages():
				if msg.Kind != realtime.KeepAlive && msg.Kind != realtime.Data {
					return msg
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no message within 5s")
			}
		}
	}
	down.Store(true)
	m := e.sess.Join(64)
	defer m.Close()
	sub := make(chan error, 1)
	go func() { _, err := m.Subscribe(rtCtx(t), samsung); sub <- err }()
	if msg := next(m); msg.Kind != realtime.Unavailable || msg.Err == nil || !strings.Contains(msg.Err.Error(), "404") {
		t.Fatalf("while the broker 404s: %v %v; want Unavailable naming the 404", msg.Kind, msg.Err)
	}
	down.Store(false)
	if msg := next(m); msg.Kind != realtime.Available {
		t.Fatalf("back: %v; want Available", msg.Kind)
	}
	if err := <-sub; err != nil {
		t.Fatalf("Subscribe after the outage: %v", err)
	}

	// An ordinary drop: interrupted, restored, no alarm.
	e.sim.DropWS(toss.Broker, kauth.Real, app.AppKey)
	for _, want := range []realtime.Kind{realtime.Interrupted, realtime.Restored} {
		if msg := next(m); msg.Kind != want {
			t.Fatalf("after a drop: %v %v; want %v", msg.Kind, msg.Err, want)
		}
	}

	// A drop into an outage: interrupted, unavailable, available, restored.
	down.Store(true)
	e.sim.DropWS(toss.Broker, kauth.Real, app.AppKey)
	for _, want := range []realtime.Kind{realtime.Interrupted, realtime.Unavailable} {
		if msg := next(m); msg.Kind != want {
			t.Fatalf("after a drop into an outage: %v %v; want %v", msg.Kind, msg.Err, want)
		}
	}
	down.Store(false)
	for _, want := range []realtime.Kind{realtime.Available, realtime.Restored} {
		if msg := next(m); msg.Kind != want {
			t.Fatalf("after the outage: %v %v; want %v", msg.Kind, msg.Err, want)
		}
	}
	e.sim.Tick()
	if msg := nextData(t, m); msg.Topic != samsung {
		t.Fatalf("data of %v after the restore; want %v", msg.Topic, samsung)
	}
}
