package realtime_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kis"
	"github.com/kauth/kauth/realtime"
)

// outage is a front to the simulator's WebSocket server that answers 404
// while it is down, as a broker host without the WebSocket path does.
type outage struct {
	down atomic.Bool
	url  string
}

func (e *env) outage(t *testing.T) *outage {
	t.Helper()
	target, _ := url.Parse(e.ts.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	o := &outage{}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.down.Load() {
			http.NotFound(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	o.url = wsURL(e.app.Broker, e.app.Env, brokersim.BaseURL(front.URL, e.app.Broker, e.app.Env))
	return o
}

// TestSessionTellsMembersWhenUnavailable: while the session cannot open
// its connection, a subscribing member hears why at once (and one that
// subscribes during the outage too), keeps its subscription, and hears
// again when the connection opens; after a drop, the same.
func TestSessionTellsMembersWhenUnavailable(t *testing.T) {
	e := newEnv(t, kauth.KIS, nil)
	o := e.outage(t)
	o.down.Store(true)
	s := e.session(t, func(c *realtime.Config) { c.URL = o.url })
	a, b := s.Join(64), s.Join(64)
	subA := make(chan error, 1)
	go func() { _, err := a.Subscribe(ctx(t), samsung); subA <- err }()
	msg := next(t, a)
	// Whether the session's first dial failed before a subscribed or
	// because it did, a hears of it once: for the session (no topic) or
	// for its own subscription.
	if msg.Kind != realtime.Unavailable || msg.Err == nil || !strings.Contains(msg.Err.Error(), "404") ||
		(msg.Topic != (realtime.Topic{}) && msg.Topic != samsung) {
		t.Fatalf("a got %v %v (topic %v); want Unavailable naming the 404", msg.Kind, msg.Err, msg.Topic)
	}
	if got := a.Topics(); len(got) != 1 || got[0] != samsung {
		t.Errorf("a.Topics() = %v; want the pending subscription kept", got)
	}
	subB := make(chan error, 1)
	go func() { _, err := b.Subscribe(ctx(t), hynix); subB <- err }()
	if msg := next(t, b); msg.Kind != realtime.Unavailable || msg.Topic != hynix || msg.Err == nil {
		t.Fatalf("b got %v for %v; want Unavailable for %v at once", msg.Kind, msg.Topic, hynix)
	}
	select {
	case err := <-subA:
		t.Fatalf("Subscribe returned %v during the outage; want it to wait", err)
	default:
	}

	o.down.Store(false)
	for _, m := range []*realtime.Member{a, b} {
		if msg := next(t, m); msg.Kind != realtime.Available {
			t.Fatalf("after the outage: %v; want Available", msg.Kind)
		}
	}
	for _, ch := range []chan error{subA, subB} {
		if err := <-ch; err != nil {
			t.Fatalf("Subscribe after the outage: %v", err)
		}
	}
	if st := e.stats(); len(st.Topics) != 2 {
		t.Fatalf("simulator: %+v; want both subscribed", st)
	}

	// A drop, then the broker gone: Interrupted, Unavailable, then Available
	// and the topic restored.
	o.down.Store(true)
	e.sim.DropWS(kauth.KIS, kauth.Mock, e.app.AppKey)
	if msg := next(t, a); msg.Kind != realtime.Interrupted {
		t.Fatalf("after the drop: %v; want Interrupted", msg.Kind)
	}
	if msg := next(t, a); msg.Kind != realtime.Unavailable || !strings.Contains(msg.Err.Error(), "404") {
		t.Fatalf("reconnecting to a 404: %v %v; want Unavailable", msg.Kind, msg.Err)
	}
	o.down.Store(false)
	if msg := next(t, a); msg.Kind != realtime.Available {
		t.Fatalf("back: %v; want Available", msg.Kind)
	}
	if msg := next(t, a); msg.Kind != realtime.Restored || msg.Topic != samsung {
		t.Fatalf("then %v %v; want Restored %v", msg.Kind, msg.Topic, samsung)
	}
}

// TestSessionUnavailableCauses: a refused connection and a credential the
// broker will not issue are outages too, told with their cause.
func TestSessionUnavailableCauses(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		e := newEnv(t, kauth.KIS, nil)
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL := wsURL(kauth.KIS, kauth.Mock, brokersim.BaseURL(dead.URL, kauth.KIS, kauth.Mock))
		dead.Close()
		s := e.session(t, func(c *realtime.Config) { c.URL = deadURL })
		m := s.Join(8)
		go m.Subscribe(ctx(t), samsung)
		if msg := next(t, m); msg.Kind != realtime.Unavailable || !strings.Contains(msg.Err.Error(), "refused") {
			t.Fatalf("got %v %v; want Unavailable, connection refused", msg.Kind, msg.Err)
		}
	})
	t.Run("credentials", func(t *testing.T) {
		e := newEnv(t, kauth.KIS, nil)
		creds := e.app.Credentials()
		creds.AppSecret = "not-the-secret"
		keys, err := kis.NewApprovalManager(&kis.Provider{BaseURL: brokersim.BaseURL(e.ts.URL, kauth.KIS, kauth.Mock)},
			kauth.Config{Credentials: creds, Store: kauth.NewMemoryStore(), Logger: quiet, MinIssueInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { keys.Close() })
		s := e.session(t, func(c *realtime.Config) { c.Keys = keys })
		m := s.Join(8)
		go m.Subscribe(ctx(t), samsung)
		msg := next(t, m)
		if msg.Kind != realtime.Unavailable || !strings.Contains(msg.Err.Error(), "credential") || strings.Contains(msg.Err.Error(), "not-the-secret") {
			t.Fatalf("got %v %v; want Unavailable naming the credential, not the secret", msg.Kind, msg.Err)
		}
	})
}

// TestSessionUnavailableWhileInUse: another session holds the app key
// (KIS OPSP8996): the connection opens but nothing can be subscribed, and
// that is an outage too, until the other session goes.
func TestSessionUnavailableWhileInUse(t *testing.T) {
	e := newEnv(t, kauth.KIS, nil)
	key, err := e.keys.Token(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	wsu := wsURL(kauth.KIS, kauth.Mock, brokersim.BaseURL(e.ts.URL, kauth.KIS, kauth.Mock))
	other, _, err := websocket.Dial(ctx(t), wsu, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.CloseNow()
	if err := other.Write(ctx(t), websocket.MessageText, kis.Realtime{}.Request(hynix, true, key.AccessToken)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := other.Read(ctx(t)); err != nil || !strings.Contains(string(b), "OPSP0000") {
		t.Fatalf("the other session: %s %v", b, err)
	}
	s := e.session(t, nil)
	m := s.Join(8)
	sub := make(chan error, 1)
	go func() { _, err := m.Subscribe(ctx(t), samsung); sub <- err }()
	if msg := next(t, m); msg.Kind != realtime.Unavailable || !strings.Contains(msg.Err.Error(), "OPSP8996") {
		t.Fatalf("got %v %v; want Unavailable naming OPSP8996", msg.Kind, msg.Err)
	}
	other.Close(websocket.StatusNormalClosure, "")
	if msg := next(t, m); msg.Kind != realtime.Available {
		t.Fatalf("got %v; want Available once the other session left", msg.Kind)
	}
	if err := <-sub; err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
}

// TestSessionQuietWhileMarketClosed: while Quiet says the market is
// closed, the session keeps trying to connect, but a member is not told
// the upstream is unavailable; once the outage ends its subscription goes
// through.
func TestSessionQuietWhileMarketClosed(t *testing.T) {
	e := newEnv(t, kauth.KIS, nil)
	o := e.outage(t)
	o.down.Store(true)
	var asked atomic.Int64
	s := e.session(t, func(c *realtime.Config) {
		c.URL = o.url
		c.QuietBackoff = 20 * time.Millisecond
		c.Quiet = func(now time.Time) time.Time { asked.Add(1); return now.Add(time.Hour) }
	})
	m := s.Join(64)
	sub := make(chan error, 1)
	go func() { _, err := m.Subscribe(ctx(t), samsung); sub <- err }()
	eventually(t, "reconnection attempts during the outage", func() bool { return s.Stats().Reconnects >= 3 && asked.Load() >= 3 })
	select {
	case msg := <-m.Messages():
		t.Fatalf("a member heard %v %v while the market is closed; want nothing", msg.Kind, msg.Err)
	default:
	}
	o.down.Store(false)
	select {
	case err := <-sub:
		if err != nil {
			t.Fatalf("Subscribe after the outage: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Subscribe did not return after the outage")
	}
}
