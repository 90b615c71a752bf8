package agent_test

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/agent/internal/rtowner"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/tcpproxy"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/store/redis"
)

// peer is one of several agents sharing a Redis store.
type peer struct {
	t      *testing.T
	agent  *agent.Agent
	logs   *testlog.Buffer
	ep     agent.Endpoints
	key    string
	cancel context.CancelFunc
	served chan error
	closed bool
}

// startPeers starts n agents serving the KIS mock demo app of sim on one
// Redis store (prefix), sharing real-time sessions.
func startPeers(t *testing.T, n int, simURL, prefix string, storeKey []byte, ttl time.Duration) []*peer {
	return startPeersWith(t, n, simURL, prefix, storeKey, ttl, nil)
}

// startPeersWith is startPeers with tune applied to each agent's Listen.
func startPeersWith(t *testing.T, n int, simURL, prefix string, storeKey []byte, ttl time.Duration, tune func(i int, l *agent.Listen)) []*peer {
	t.Helper()
	return startPeersConfig(t, n, simURL, prefix, storeKey, ttl, func(i int, c *agent.Config) {
		if tune != nil {
			tune(i, &c.Listen)
		}
	})
}

// startPeersConfig is startPeers with tune applied to each agent's Config.
func startPeersConfig(t *testing.T, n int, simURL, prefix string, storeKey []byte, ttl time.Duration, tune func(i int, c *agent.Config)) []*peer {
	t.Helper()
	peers := make([]*peer, n)
	for i := range peers {
		dir := shortTempDir(t)
		client := testredis.Client(t)
		st, err := redis.New(client, storeKey, redis.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"KIS_MOCK_KEY": kisMock.AppKey, "KIS_MOCK_SECRET": kisMock.Secret,
			"KIWOOM_MOCK_KEY": kiwoomMock.AppKey, "KIWOOM_MOCK_SECRET": kiwoomMock.Secret,
			"TOSS_REAL_KEY": tossReal.AppKey, "TOSS_REAL_SECRET": tossReal.Secret, "KAUTH_CACHE_DIR": filepath.Join(dir, "cache")}
		cfg := agent.Config{
			Listen: agent.Listen{Socket: filepath.Join(dir, "run", "agent.sock"), TCP: "127.0.0.1:0", KeyFile: filepath.Join(dir, "cache", "agent.key")},
			Accounts: []agent.Account{{Name: "kis-mock", Broker: "kis", Env: "mock",
				AppKey: agent.Secret{Env: "KIS_MOCK_KEY"}, AppSecret: agent.Secret{Env: "KIS_MOCK_SECRET"},
				BaseURL: brokersim.BaseURL(simURL, kauth.KIS, kauth.Mock)},
				{Name: "kiwoom-mock", Broker: "kiwoom", Env: "mock",
					AppKey: agent.Secret{Env: "KIWOOM_MOCK_KEY"}, AppSecret: agent.Secret{Env: "KIWOOM_MOCK_SECRET"},
					BaseURL: brokersim.BaseURL(simURL, kauth.Kiwoom, kauth.Mock)}},
		}
		if tune != nil {
			tune(i, &cfg)
		}
		p := &peer{t: t, logs: new(testlog.Buffer)}
		a, err := agent.New(cfg, agent.Options{
			Logger: p.logs.Logger(), Getenv: func(k string) string { return env[k] }, Store: st,
			RealtimeShare: &agent.RealtimeShare{Client: client, Prefix: prefix, Secret: agent.RealtimeSecret(storeKey), TTL: ttl},
		})
		if err != nil {
			t.Fatal(err)
		}
		p.agent = a
		ctx, cancel := context.WithCancel(context.Background())
		p.cancel, p.served = cancel, make(chan error, 1)
		go func() { p.served <- a.ListenAndServe(ctx) }()
		<-a.Ready()
		p.ep = a.Endpoints()
		k, err := os.ReadFile(p.ep.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		p.key = strings.TrimSpace(string(k))
		t.Cleanup(p.close)
		peers[i] = p
	}
	return peers
}

func (p *peer) close() {
	if p.closed {
		return
	}
	p.closed = true
	p.cancel()
	<-p.served
	p.agent.Close()
}

func (p *peer) holds() bool {
	return strings.Contains(p.logs.String(), "this agent holds the shared session")
}

// dial connects a KIS client to p's gateway.
func (p *peer) dial() *wsConn { return p.dialAccount("kis-mock") }

// dialAccount connects a client of account to p's gateway.
func (p *peer) dialAccount(account string) *wsConn {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+p.ep.TCP+"/ws/"+account, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + p.key}}})
	if err != nil {
		p.t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(1 << 20)
	p.t.Cleanup(func() { c.CloseNow() })
	return &wsConn{t: p.t, c: c}
}

// bot connects a KIS client to p's gateway and subscribes to code.
func (p *peer) bot(code string) *wsConn {
	p.t.Helper()
	w := p.dial()
	w.kisSubscribe("1", "H0STCNT0", code)
	if got := w.next(); !strings.Contains(got, "SUBSCRIBE SUCCESS") {
		p.t.Fatalf("subscribe %s: %s", code, got)
	}
	return w
}

// awaitControl reads w's messages until one contains want, within 10 s.
func awaitControl(t *testing.T, w *wsConn, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var seen []string
	for {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %q: %v; got %q", want, err, seen)
		}
		if strings.Contains(string(b), want) {
			return
		}
		if !strings.Contains(string(b), "PINGPONG") {
			seen = append(seen, string(b))
		}
	}
}

// awaitFrame ticks the simulator until w gets a data frame of code.
// It returns the frame's cumulative volume.
func awaitFrame(t *testing.T, sim *brokersim.Server, w *wsConn, code string) int {
	t.Helper()
	m := awaitTicked(t, sim, w, func(m string) bool { return strings.HasPrefix(m, "0|H0STCNT0|001|"+code+"^") }, code)
	n, _ := strconv.Atoi(strings.Split(m, "^")[13])
	return n
}

// awaitTicked ticks the simulator until w reads a message that match
// accepts, within 10 s. (A Read whose context ends closes the connection:
// one Read waits while another goroutine ticks.)
func awaitTicked(t *testing.T, sim *brokersim.Server, w *wsConn, match func(string) bool, what string) string {
	t.Helper()
	stop, ticked := make(chan struct{}), make(chan struct{})
	defer func() {
		close(stop)
		<-ticked // no tick of it overlaps the caller's next ones
	}()
	go func() {
		defer close(ticked)
		for {
			sim.Tick()
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for a frame of %s: %v", what, err)
		}
		if match(string(b)) {
			return string(b)
		}
	}
}

func newStoreKey(t *testing.T) []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// Three agents on one Redis and one app key: the simulator sees one
// session; bots on all three get their frames, counted against one
// session's limit; when the holder goes, another takes over and every
// bot left is told and restored.
func TestRealtimeSharedAmongAgents(t *testing.T) {
	sim := brokersim.New()
	sim.WS.TickInterval = -1
	sim.WS.PingInterval = 50 * time.Millisecond
	sim.WS.MissedPings = 40
	sim.WS.KISMaxSubscriptions = 3
	srv := httptest.NewServer(sim)
	defer srv.Close()
	prefix := testredis.Prefix(t)
	storeKey := newStoreKey(t)
	peers := startPeers(t, 3, srv.URL, prefix, storeKey, 1500*time.Millisecond)
	codes := []string{"005930", "000660", "035420"}
	bots := make([]*wsConn, 3)
	for i, p := range peers {
		bots[i] = p.bot(codes[i])
	}
	st := sim.WSStats(kauth.KIS, kauth.Mock, kisMock.AppKey)
	if st.Opened != 1 || st.Refused != 0 || len(st.Topics) != 3 {
		t.Fatalf("simulator: %+v; want one session with the three bots' topics", st)
	}
	// Every frame reaches every bot, in order, whichever agent it is on.
	last := make([]int, 3)
	for i, w := range bots {
		last[i] = awaitFrame(t, sim, w, codes[i])
	}
	for range 10 {
		sim.Tick()
	}
	for i, w := range bots {
		for range 10 {
			code, seq := w.frame()
			if code != codes[i] || seq != last[i]+1 {
				t.Fatalf("bot of %s got %s #%d after #%d; want every frame of its code in order", codes[i], code, seq, last[i])
			}
			last[i] = seq
		}
	}
	// The limit counts across hosts: a fourth topic, from any agent, is
	// over the session's three.
	extra := peers[1].dial()
	extra.kisSubscribe("1", "H0STCNT0", "068270")
	if got := extra.next(); !strings.Contains(got, "OPSP0008") {
		t.Errorf("a fourth topic on one session of three: %s; want OPSP0008 MAX SUBSCRIBE OVER", got)
	}
	// The lease lives under the store's prefix.
	if keys, _ := testredis.Client(t).Keys(context.Background(), prefix+":{*}:rt:*").Result(); len(keys) == 0 {
		t.Errorf("no lease under the prefix %s", prefix)
	}

	// Another agent's relay must prove it holds the store key; nothing
	// else opens it, and without its headers the route wants an agent key.
	for _, hdr := range []http.Header{
		{"Kauth-Relay-Mac": {"00"}, "Kauth-Relay-Nonce": {"n"}, "Kauth-Relay-Fence": {"1"}, "Kauth-Relay-Time": {strconv.FormatInt(time.Now().Unix(), 10)}},
		{},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, resp, err := websocket.Dial(ctx, "ws://"+peers[0].ep.TCP+"/v1/relay/0123", &websocket.DialOptions{HTTPHeader: hdr})
		cancel()
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("relay request with %v: %v, %v; want 401", hdr, resp, err)
		}
	}

	// A relay request signed with the store key, but to an agent that does
	// not hold the session, or for another fence, is refused (409); one
	// played again is refused (401).
	var leaseKey, leaseVal string
	keys, _ := testredis.Client(t).Keys(context.Background(), prefix+":{*}:rt:*").Result()
	for _, k := range keys {
		if !strings.HasSuffix(k, ":fence") {
			leaseKey = k
			leaseVal, _ = testredis.Client(t).Get(context.Background(), k).Result()
		}
	}
	name := leaseKey[strings.LastIndex(leaseKey, ":")+1:]
	fence, _ := strconv.ParseInt(strings.Fields(leaseVal)[0], 10, 64)
	holderAddr := strings.Fields(leaseVal)[2]
	secret := agent.RealtimeSecret(storeKey)
	relay := func(addr string, hdr http.Header) int {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, "ws://"+addr+rtowner.RelayPath(name), &websocket.DialOptions{HTTPHeader: hdr})
		if err == nil {
			c.CloseNow()
		}
		if resp == nil {
			t.Fatalf("relay request to %s: %v", addr, err)
		}
		return resp.StatusCode
	}
	for _, p := range peers {
		if p.ep.TCP == holderAddr {
			continue
		}
		h, _ := rtowner.Sign(secret, name, fence, time.Now())
		if got := relay(p.ep.TCP, h); got != http.StatusConflict && got != http.StatusNotFound {
			t.Errorf("signed relay request to an agent that does not hold the session: %d; want 409 or 404", got)
		}
	}
	stale, _ := rtowner.Sign(secret, name, fence-1, time.Now())
	if got := relay(holderAddr, stale); got != http.StatusConflict {
		t.Errorf("relay request for an older fence: %d; want 409", got)
	}
	good, _ := rtowner.Sign(secret, name, fence, time.Now())
	if got := relay(holderAddr, good); got != http.StatusSwitchingProtocols {
		t.Errorf("signed relay request to the holder: %d; want 101", got)
	}
	if got := relay(holderAddr, good); got != http.StatusUnauthorized {
		t.Errorf("the same relay request played again: %d; want 401", got)
	}

	// The holder goes: another agent takes over; the other bots hear of
	// the interruption and are restored, then get frames again.
	owner := -1
	for i, p := range peers {
		if p.holds() {
			owner = i
		}
	}
	if owner < 0 {
		t.Fatal("no agent says it holds the session")
	}
	began := time.Now()
	peers[owner].close()
	for i, w := range bots {
		if i == owner {
			continue
		}
		awaitControl(t, w, "OPSP0007")
		awaitControl(t, w, "SUBSCRIBE SUCCESS")
		awaitFrame(t, sim, w, codes[i])
	}
	t.Logf("bots restored %v after the holder closed", time.Since(began))
	st = sim.WSStats(kauth.KIS, kauth.Mock, kisMock.AppKey)
	if st.Opened != 2 || st.Refused != 0 || st.Live != 1 {
		t.Errorf("simulator: %+v; want a second session after the first, never two at once", st)
	}
}

// An agent behind NAT advertises listen.advertise_addr: the lease names
// it, and the other agents' relays reach the holder there.
func TestRealtimeAdvertiseAddr(t *testing.T) {
	sim := brokersim.New()
	sim.WS.TickInterval = -1
	srv := httptest.NewServer(sim)
	defer srv.Close()
	// The holder listens on port; the others reach it only through nat.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().String()
	ln.Close()
	nat, err := tcpproxy.New(port)
	if err != nil {
		t.Fatal(err)
	}
	defer nat.Close()
	prefix := testredis.Prefix(t)
	peers := startPeersWith(t, 2, srv.URL, prefix, newStoreKey(t), 1500*time.Millisecond, func(i int, l *agent.Listen) {
		if i == 0 {
			l.TCP, l.AdvertiseAddr = port, nat.Addr()
		}
	})
	holderBot := peers[0].bot("005930") // the first to subscribe holds the session
	if !peers[0].holds() {
		t.Fatal("agent 0 does not hold the session")
	}
	keys, _ := testredis.Client(t).Keys(context.Background(), prefix+":{*}:rt:*").Result()
	var lease string
	for _, k := range keys {
		if !strings.HasSuffix(k, ":fence") {
			lease, _ = testredis.Client(t).Get(context.Background(), k).Result()
		}
	}
	if !strings.HasSuffix(lease, " "+nat.Addr()) {
		t.Fatalf("lease = %q; want the advertised address %s", lease, nat.Addr())
	}
	follower := peers[1].bot("000660")
	awaitFrame(t, sim, follower, "000660")
	awaitFrame(t, sim, holderBot, "005930")
	// Cut the advertised path: the follower's relay breaks with it.
	nat.Cut()
	awaitControl(t, follower, "OPSP0007")
	if st := sim.WSStats(kauth.KIS, kauth.Mock, kisMock.AppKey); st.Opened != 1 || st.Refused != 0 {
		t.Errorf("simulator: %+v; want the one session", st)
	}
}

// Kiwoom closes the older session when a newer one logs in: agents that
// share the app key log in once between them, and relay REG and REAL.
func TestRealtimeSharedAmongAgentsKiwoom(t *testing.T) {
	sim := brokersim.New()
	sim.WS.TickInterval = -1
	srv := httptest.NewServer(sim)
	defer srv.Close()
	peers := startPeers(t, 2, srv.URL, testredis.Prefix(t), newStoreKey(t), 1500*time.Millisecond)
	items := []string{"005930", "000660"}
	bots := make([]*wsConn, 2)
	for i, p := range peers {
		w := p.dialAccount("kiwoom-mock")
		w.send(map[string]any{"trnm": "LOGIN", "token": "placeholder"})
		if m := w.next(); !strings.Contains(m, `"return_code":0`) {
			t.Fatalf("LOGIN = %s", m)
		}
		w.send(map[string]any{"trnm": "REG", "grp_no": "1", "refresh": "1", "data": []map[string]any{{"item": []string{items[i]}, "type": []string{"0B"}}}})
		if m := w.next(); !strings.Contains(m, `"return_code":0`) {
			t.Fatalf("REG = %s", m)
		}
		bots[i] = w
	}
	real := func(w *wsConn, item string) {
		t.Helper()
		awaitTicked(t, sim, w, func(m string) bool { return strings.Contains(m, `"REAL"`) && strings.Contains(m, item) }, item)
	}
	for i, w := range bots {
		real(w, items[i])
	}
	st := sim.WSStats(kauth.Kiwoom, kauth.Mock, kiwoomMock.AppKey)
	if st.Opened != 1 || st.Replaced != 0 || len(st.Topics) != 2 {
		t.Fatalf("simulator: %+v; want one login holding both items", st)
	}
	owner := 0
	if peers[1].holds() {
		owner = 1
	}
	peers[owner].close()
	other := 1 - owner
	awaitControl(t, bots[other], "kauth_interrupted")
	real(bots[other], items[other])
	if st := sim.WSStats(kauth.Kiwoom, kauth.Mock, kiwoomMock.AppKey); st.Opened != 2 || st.Replaced != 0 || st.Live != 1 {
		t.Errorf("simulator: %+v; want a second login after the first, none replaced", st)
	}
}

// When the holder's own broker connection drops, the bots on the other
// agents hear of it and are restored as the holder's own bots are.
func TestRealtimeRelayedBotsHearOfTheHoldersReconnect(t *testing.T) {
	sim := brokersim.New()
	sim.WS.TickInterval = -1
	srv := httptest.NewServer(sim)
	defer srv.Close()
	peers := startPeers(t, 2, srv.URL, testredis.Prefix(t), newStoreKey(t), 1500*time.Millisecond)
	codes := []string{"005930", "000660"}
	bots := []*wsConn{peers[0].bot(codes[0]), peers[1].bot(codes[1])}
	for i, w := range bots {
		awaitFrame(t, sim, w, codes[i])
	}
	if n := sim.DropWS(kauth.KIS, kauth.Mock, kisMock.AppKey); n != 1 {
		t.Fatalf("dropped %d sessions; want the one", n)
	}
	for i, w := range bots {
		awaitControl(t, w, "OPSP0007")
		awaitControl(t, w, "SUBSCRIBE SUCCESS")
		awaitFrame(t, sim, w, codes[i])
	}
	if st := sim.WSStats(kauth.KIS, kauth.Mock, kisMock.AppKey); st.Opened != 2 || st.Refused != 0 || st.Live != 1 {
		t.Errorf("simulator: %+v; want the session reopened once", st)
	}
}

// A relay request passes the agent's guard only as another agent sends
// it: over TCP, without an Origin header. The same signed request from a
// browser (an Origin) or over the unix socket is the guard's to judge, and
// reaches no relay.
func TestRealtimeRelayOnlyOverTCPWithoutOrigin(t *testing.T) {
	sim := brokersim.New()
	sim.WS.TickInterval = -1
	srv := httptest.NewServer(sim)
	defer srv.Close()
	prefix := testredis.Prefix(t)
	storeKey := newStoreKey(t)
	p := startPeers(t, 1, srv.URL, prefix, storeKey, 1500*time.Millisecond)[0]
	p.bot("005930")
	var name string
	var fence int64
	keys, _ := testredis.Client(t).Keys(context.Background(), prefix+":{*}:rt:*").Result()
	for _, k := range keys {
		if !strings.HasSuffix(k, ":fence") {
			v, _ := testredis.Client(t).Get(context.Background(), k).Result()
			name = k[strings.LastIndex(k, ":")+1:]
			fence, _ = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	if name == "" {
		t.Fatalf("no lease under the prefix %s", prefix)
	}
	secret := agent.RealtimeSecret(storeKey)
	relay := func(client *http.Client, origin string) int {
		t.Helper()
		h, _ := rtowner.Sign(secret, name, fence, time.Now())
		if origin != "" {
			h.Set("Origin", origin)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, "ws://"+p.ep.TCP+rtowner.RelayPath(name), &websocket.DialOptions{HTTPHeader: h, HTTPClient: client})
		if err == nil {
			c.CloseNow()
		}
		if resp == nil {
			t.Fatalf("relay request: %v", err)
		}
		return resp.StatusCode
	}
	if got := relay(nil, "http://127.0.0.1:1"); got == http.StatusSwitchingProtocols {
		t.Errorf("signed relay request with an Origin header: %d; want the guard's refusal", got)
	}
	if got := relay(unixClient(p.ep.Socket), ""); got == http.StatusSwitchingProtocols {
		t.Errorf("signed relay request over the unix socket: %d; want no relay there", got)
	}
	if got := relay(nil, ""); got != http.StatusSwitchingProtocols {
		t.Errorf("signed relay request over TCP without an Origin: %d; want 101", got)
	}
}

// withToss adds the Toss demo client, as account toss-real, to an agent
// of startPeersConfig.
func withToss(simURL string) func(int, *agent.Config) {
	return func(_ int, c *agent.Config) {
		c.Accounts = append(c.Accounts, agent.Account{Name: "toss-real", Broker: tossReal.Broker, Env: kauth.Real,
			AppKey: agent.Secret{Env: "TOSS_REAL_KEY"}, AppSecret: agent.Secret{Env: "TOSS_REAL_SECRET"},
			BaseURL: brokersim.BaseURL(simURL, tossReal.Broker, kauth.Real)})
	}
}

// tossFrames reads n data frames from w, returning their topics, sorted.
func tossFrames(t *testing.T, w *wsConn, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		a := w.toss()
		if a.Type != "message" {
			t.Fatalf("got %+v; want a data frame", a)
		}
		got = append(got, a.Topic)
	}
	slices.Sort(got)
	return got
}

// Toss keeps at most two connections per client and displaces the oldest
// for a third, and a declaration replaces the connection's whole set:
// agents that share the client keep one connection between them, and a
// follower declares its bots' union, so that no bot's set on one agent
// clobbers another's.
func TestRealtimeSharedAmongAgentsToss(t *testing.T) {
	sim := brokersim.New()
	sim.WS.TickInterval = -1
	srv := httptest.NewServer(sim)
	defer srv.Close()
	peers := startPeersConfig(t, 3, srv.URL, testredis.Prefix(t), newStoreKey(t), 1500*time.Millisecond, withToss(srv.URL))
	stats := func() brokersim.WSStats { return sim.WSStats(tossReal.Broker, kauth.Real, tossReal.AppKey) }
	topics := func(codes ...string) []string {
		var s []string
		for _, c := range codes {
			s = append(s, "trade:kr:"+c)
		}
		slices.Sort(s)
		return s
	}
	// The first to declare holds the session; agent 1 has two bots, agent
	// 2 one.
	a := peers[0].dialAccount("toss-real")
	if ack := a.declare("a-1", "005930"); ack.Type != "subscriptions" || !slices.Equal(ack.Subscribed, topics("005930")) {
		t.Fatalf("a's ack = %+v", ack)
	}
	if !peers[0].holds() {
		t.Fatal("agent 0 does not hold the session")
	}
	b, c := peers[1].dialAccount("toss-real"), peers[1].dialAccount("toss-real")
	d := peers[2].dialAccount("toss-real")
	for _, x := range []struct {
		w     *wsConn
		id    string
		codes []string
	}{{b, "b-1", []string{"000660"}}, {c, "c-1", []string{"035420", "005930"}}, {d, "d-1", []string{"035720"}}} {
		if ack := x.w.declare(x.id, x.codes...); ack.Type != "subscriptions" || ack.ID != x.id || !slices.Equal(ack.Subscribed, topics(x.codes...)) {
			t.Fatalf("%s's ack = %+v; want its own set", x.id, ack)
		}
	}
	eventually(t, "the simulator holding every bot's codes", func() bool {
		return slices.Equal(stats().Topics, topics("005930", "000660", "035420", "035720"))
	})
	if st := stats(); st.Opened != 1 || st.Live != 1 || st.Replaced != 0 {
		t.Fatalf("simulator: %+v; want one connection for the three agents", st)
	}
	// Every bot gets the frames of its own set, whichever agent it is on.
	sim.Tick()
	for _, x := range []struct {
		w    *wsConn
		want []string
	}{{a, topics("005930")}, {b, topics("000660")}, {c, topics("035420", "005930")}, {d, topics("035720")}} {
		if got := tossFrames(t, x.w, len(x.want)); !slices.Equal(got, x.want) {
			t.Fatalf("a bot got frames of %v; want %v", got, x.want)
		}
	}
	// A follower's bot replaces its set: its agent's other bot keeps its
	// own, and so do the bots on the other agents.
	if ack := b.declare("b-2", "005380"); ack.Type != "subscriptions" || !slices.Equal(ack.Subscribed, topics("005380")) {
		t.Fatalf("b's second ack = %+v", ack)
	}
	eventually(t, "000660 replaced by 005380 upstream, the rest kept", func() bool {
		return slices.Equal(stats().Topics, topics("005930", "005380", "035420", "035720"))
	})
	// A follower's bot leaves its set empty: only its codes go.
	if ack := d.declare("d-2"); ack.Type != "subscriptions" || len(ack.Subscribed) != 0 {
		t.Fatalf("d's empty declaration = %+v", ack)
	}
	eventually(t, "035720 dropped upstream, the rest kept", func() bool {
		return slices.Equal(stats().Topics, topics("005930", "005380", "035420"))
	})
	// c shares 005930 with a on the holder: c dropping it keeps it upstream.
	if ack := c.declare("c-2", "035420"); ack.Type != "subscriptions" || !slices.Equal(ack.Subscribed, topics("035420")) {
		t.Fatalf("c's second ack = %+v", ack)
	}
	eventually(t, "005930 kept upstream for a", func() bool {
		return slices.Equal(stats().Topics, topics("005930", "005380", "035420"))
	})
	sim.Tick()
	for _, x := range []struct {
		w    *wsConn
		want []string
	}{{a, topics("005930")}, {b, topics("005380")}, {c, topics("035420")}} {
		if got := tossFrames(t, x.w, len(x.want)); !slices.Equal(got, x.want) {
			t.Fatalf("a bot got frames of %v; want %v", got, x.want)
		}
	}
	// c's declaration reached the holder: once a drops 005930 too, it goes.
	if ack := a.declare("a-2"); ack.Type != "subscriptions" || len(ack.Subscribed) != 0 {
		t.Fatalf("a's empty declaration = %+v", ack)
	}
	eventually(t, "005930 dropped upstream once no bot holds it", func() bool {
		return slices.Equal(stats().Topics, topics("005380", "035420"))
	})
	if st := stats(); st.Opened != 1 || st.Live != 1 || st.Replaced != 0 {
		t.Fatalf("simulator: %+v; want the one connection, nothing displaced", st)
	}
	if peers[1].holds() || peers[2].holds() {
		t.Fatal("a follower says it holds the session")
	}

	// The holder goes: another agent takes over, and the bots left get
	// their frames again, never over a second live connection.
	peers[0].close()
	awaitTicked(t, sim, b, func(m string) bool { return strings.Contains(m, `"message"`) && strings.Contains(m, "005380") }, "005380")
	awaitTicked(t, sim, c, func(m string) bool { return strings.Contains(m, `"message"`) && strings.Contains(m, "035420") }, "035420")
	if got := stats().Topics; !slices.Equal(got, topics("005380", "035420")) {
		t.Errorf("upstream %v after the takeover; want the bots' sets restored", got)
	}
	if st := stats(); st.Opened != 2 || st.Live != 1 || st.Replaced != 0 {
		t.Errorf("simulator: %+v; want a second connection after the first, none displaced", st)
	}
}
