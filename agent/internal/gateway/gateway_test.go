package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/gateway"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/promtext"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/kis"
	"github.com/kauth/kauth/kiwoom"
	"github.com/kauth/kauth/ls"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// account is an account as the gateway sees it: a name, a real Manager
// against the simulator, and its settings.
type account struct {
	name string
	mgr  *kauth.Manager
	set  gateway.Settings
}

func (a *account) Name() string               { return a.name }
func (a *account) Manager() *kauth.Manager    { return a.mgr }
func (a *account) Realtime() gateway.Settings { return a.set }

// env is a gateway over simulator accounts, served at /ws/{name}: a
// request with ?keyed=1 is a keyed client, and an account with a gate in
// gates is gated.
type env struct {
	t      *testing.T
	sim    *brokersim.Server
	simURL string
	store  kauth.Store
	group  *kauth.Group
	logs   *testlog.Buffer
	g      *gateway.Gateway
	srv    *httptest.Server

	mu    sync.Mutex
	accts map[string]*account
	gates map[string]func([]byte) bool
}

func newEnv(t *testing.T, tune func(*gateway.Config)) *env {
	t.Helper()
	e := &env{t: t, sim: brokersim.New(), store: kauth.NewMemoryStore(), group: kauth.NewGroup(), logs: new(testlog.Buffer),
		accts: map[string]*account{}, gates: map[string]func([]byte) bool{}}
	// Frames only on Tick, and no keep-alives to skip.
	e.sim.WS.TickInterval, e.sim.WS.PingInterval = -1, -1
	sim := httptest.NewServer(e.sim)
	t.Cleanup(sim.Close)
	e.simURL = sim.URL
	c := gateway.Config{Store: e.store, Group: e.group, Logger: e.logs.Logger()}
	if tune != nil {
		tune(&c)
	}
	e.g = gateway.New(c)
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	t.Cleanup(e.g.Close) // before the servers close: it ends the clients
	return e
}

func (e *env) serve(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/ws/")
	e.mu.Lock()
	acct, gate := e.accts[name], e.gates[name]
	e.mu.Unlock()
	if acct == nil {
		http.NotFound(w, r)
		return
	}
	if err := e.g.Serve(w, r, acct, gateway.Admission{Keyed: r.URL.Query().Get("keyed") == "1", Gate: gate}); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	}
}

// add serves an account of app at the simulator through prov.
func (e *env) add(name string, app brokersim.App, prov kauth.Provider, set gateway.Settings) *account {
	e.t.Helper()
	mgr, err := kauth.NewManager(kauth.Config{Credentials: app.Credentials(), Provider: prov, Store: e.store, Group: e.group,
		Logger: e.logs.Logger().With("account", name)})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { mgr.Close() })
	acct := &account{name: name, mgr: mgr, set: set}
	e.mu.Lock()
	e.accts[name] = acct
	e.mu.Unlock()
	return acct
}

// addKIS serves an account of the KIS mock demo app, whose sessions log
// in with an approval key.
func (e *env) addKIS(name string) *account {
	base := brokersim.BaseURL(e.simURL, kauth.KIS, kauth.Mock)
	prov := &kis.Provider{BaseURL: base}
	return e.add(name, brokersim.DemoKISMock, prov, gateway.Settings{BaseURL: base, NewApprovalManager: prov.NewApprovalManager, ClientMaxSubscriptions: 20})
}

// addKiwoom serves an account of the Kiwoom mock demo app, whose sessions
// log in with the access token.
func (e *env) addKiwoom(name string) *account {
	base := brokersim.BaseURL(e.simURL, kauth.Kiwoom, kauth.Mock)
	return e.add(name, brokersim.DemoKiwoomMock, &kiwoom.Provider{BaseURL: base}, gateway.Settings{BaseURL: base, ClientMaxSubscriptions: 50})
}

func (e *env) kisWS() brokersim.WSStats {
	return e.sim.WSStats(kauth.KIS, kauth.Mock, brokersim.DemoKISMock.AppKey)
}

type conn struct {
	t *testing.T
	c *websocket.Conn
}

// dial connects to the account called name, with query (such as
// "keyed=1") if not empty, through client if not nil.
func (e *env) dial(name, query string, client *http.Client) *conn {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws/" + name
	if query != "" {
		u += "?" + query
	}
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		e.t.Fatalf("dial %s: %v", u, err)
	}
	c.SetReadLimit(1 << 20)
	e.t.Cleanup(func() { c.CloseNow() })
	return &conn{t: e.t, c: c}
}

func (w *conn) send(v any) {
	w.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatal(err)
	}
}

func (w *conn) next() string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return string(b)
}

// closed reads until the gateway closes the client and returns how.
func (w *conn) closed() (websocket.StatusCode, string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := w.c.Read(ctx); err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				w.t.Fatalf("read ended with %v; want a close frame", err)
			}
			return ce.Code, ce.Reason
		}
	}
}

// kisSubscribe sends a KIS subscribe (tr_type "1") or unsubscribe ("2")
// with a placeholder approval key, which the session replaces.
func kisSubscribe(trType, code string) map[string]any {
	return map[string]any{
		"header": map[string]string{"approval_key": "placeholder", "custtype": "P", "tr_type": trType, "content-type": "utf-8"},
		"body":   map[string]any{"input": map[string]string{"tr_id": "H0STCNT0", "tr_key": code}},
	}
}

// wantControl reads KIS's answer to a subscribe and checks its code.
func (w *conn) wantControl(msgCd, code string) {
	w.t.Helper()
	s := w.next()
	var c struct {
		Header struct {
			TrKey string `json:"tr_key"`
		} `json:"header"`
		Body struct {
			MsgCd string `json:"msg_cd"`
		} `json:"body"`
	}
	if json.Unmarshal([]byte(s), &c) != nil || c.Body.MsgCd != msgCd || c.Header.TrKey != code {
		w.t.Fatalf("answer = %.200s; want %s for %s", s, msgCd, code)
	}
}

// frame reads a KIS data frame and returns its code and sequence number.
func (w *conn) frame() (string, int) {
	w.t.Helper()
	s := w.next()
	parts := strings.SplitN(s, "|", 4)
	if len(parts) != 4 || parts[0] != "0" {
		w.t.Fatalf("not a data frame: %.100s", s)
	}
	f := strings.Split(parts[3], "^")
	n, _ := strconv.Atoi(f[13])
	return f[0], n
}

// metric returns the value of the gateway's series name with labels, and
// whether it has one.
func metric(t *testing.T, g *gateway.Gateway, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	b := promtext.NewBatch()
	g.Collector().Collect(b)
	var text strings.Builder
	b.WriteTo(&text)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text.String()))
	if err != nil {
		t.Fatalf("%v:\n%s", err, text.String())
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue(), true
			}
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

func kisLabels() map[string]string {
	return map[string]string{"broker": "kis", "env": "mock", "app": brokersim.DemoKISMock.Credentials().Fingerprint()}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGatewayAccountsOfOneAppKeyShareOneSession: two accounts of one app
// key, one client each, get one upstream session, logged in with one
// approval key; both clients get every frame of their code, and the
// gateway's metrics count them.
func TestGatewayAccountsOfOneAppKeyShareOneSession(t *testing.T) {
	e := newEnv(t, nil)
	e.addKIS("kis-a")
	e.addKIS("kis-b")
	a, b := e.dial("kis-a", "", nil), e.dial("kis-b", "keyed=1", nil)
	a.send(kisSubscribe("1", "005930"))
	a.wantControl("OPSP0000", "005930")
	b.send(kisSubscribe("1", "005930"))
	b.wantControl("OPSP0000", "005930")
	for range 3 {
		e.sim.Tick()
	}
	for _, w := range []*conn{a, b} {
		for i := 1; i <= 3; i++ {
			if code, seq := w.frame(); code != "005930" || seq != i {
				t.Fatalf("frame %d = %s #%d; want 005930 #%d", i, code, seq, i)
			}
		}
	}
	if st := e.kisWS(); st.Opened != 1 || st.Subscribes != 1 || strings.Join(st.Topics, ",") != "H0STCNT0|005930" {
		t.Errorf("simulator saw %+v; want one session with one subscription", st)
	}
	if n := e.sim.Stats().Approvals; n != 1 {
		t.Errorf("approvals issued = %d; want 1", n)
	}
	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"kauth_ws_clients", nil, 2},
		{"kauth_ws_upstream_sessions", kisLabels(), 1},
		{"kauth_ws_members", kisLabels(), 2},
		{"kauth_ws_subscriptions", kisLabels(), 1},
		{"kauth_ws_frames_in_total", kisLabels(), 3},
	} {
		if got, ok := metric(t, e.g, m.name, m.labels); !ok || got != m.want {
			t.Errorf("%s%v = %v (present %v); want %v", m.name, m.labels, got, ok, m.want)
		}
	}
}

// TestGatewayTokenBrokerLogsInWithTheAccountsToken: a broker without
// approval keys (Kiwoom) logs its session in with the account's own token,
// and the gateway has no approval key to give for it.
func TestGatewayTokenBrokerLogsInWithTheAccountsToken(t *testing.T) {
	e := newEnv(t, nil)
	acct := e.addKiwoom("kiwoom")
	w := e.dial("kiwoom", "", nil)
	w.send(map[string]string{"trnm": "LOGIN", "token": "placeholder"})
	if m := w.next(); !strings.Contains(m, `"return_code":0`) || !strings.Contains(m, "LOGIN") {
		t.Fatalf("login = %s", m)
	}
	w.send(map[string]any{"trnm": "REG", "grp_no": "1", "refresh": "1", "data": []map[string]any{{"item": []string{"005930"}, "type": []string{"0B"}}}})
	if m := w.next(); !strings.Contains(m, `"return_code":0`) {
		t.Fatalf("REG = %s", m)
	}
	st := e.sim.WSStats(kauth.Kiwoom, kauth.Mock, brokersim.DemoKiwoomMock.AppKey)
	if st.Opened != 1 || strings.Join(st.Topics, ",") != "0B|005930" {
		t.Errorf("simulator saw %+v; want one session holding 0B|005930", st)
	}
	if tok, _ := acct.mgr.Cached(); tok.AccessToken == "" {
		t.Error("the account's Manager holds no token; the session should have logged in with it")
	}
	if n := e.sim.Stats().Approvals; n != 0 {
		t.Errorf("approvals issued = %d; want none for Kiwoom", n)
	}
	m, err := e.g.ApprovalManager(acct)
	if m != nil || err == nil || !strings.Contains(err.Error(), "account kiwoom: kiwoom has no approval keys") {
		t.Errorf("ApprovalManager = %v, %v; want the error naming the account and the broker", m, err)
	}
	if k := e.g.CachedApproval(acct); k != "" {
		t.Errorf("CachedApproval = %q; want none", k)
	}
}

// TestGatewayApprovalManagerIsOnePerAppKey: accounts of one app key share
// one approval-key Manager, which CachedApproval reads without issuing, and
// which the session then uses.
func TestGatewayApprovalManagerIsOnePerAppKey(t *testing.T) {
	e := newEnv(t, nil)
	a, b := e.addKIS("kis-a"), e.addKIS("kis-b")
	if k := e.g.CachedApproval(a); k != "" {
		t.Fatalf("CachedApproval before any = %q; want none", k)
	}
	ma, err := e.g.ApprovalManager(a)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := e.g.ApprovalManager(b)
	if err != nil || mb != ma {
		t.Fatalf("second account's ApprovalManager = %p, %v; want the first's %p", mb, err, ma)
	}
	if k := e.g.CachedApproval(a); k != "" {
		t.Errorf("CachedApproval before a Token = %q; want none", k)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tok, err := ma.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k := e.g.CachedApproval(b); k != tok.AccessToken {
		t.Errorf("CachedApproval = %q; want the issued key", k)
	}
	w := e.dial("kis-b", "", nil)
	w.send(kisSubscribe("1", "005930"))
	w.wantControl("OPSP0000", "005930")
	if n := e.sim.Stats().Approvals; n != 1 {
		t.Errorf("approvals issued = %d; want 1, shared by the session", n)
	}
}

// TestGatewayNoRealtimeProtocolRefusedBeforeUpgrade: for a broker with no
// real-time protocol, Serve writes nothing and says why in one line that
// names the account and the broker.
func TestGatewayNoRealtimeProtocolRefusedBeforeUpgrade(t *testing.T) {
	e := newEnv(t, nil)
	base := brokersim.BaseURL(e.simURL, ls.Broker, kauth.Real)
	acct := e.add("ls", brokersim.Demo(ls.Broker, kauth.Real), &ls.Provider{BaseURL: base}, gateway.Settings{BaseURL: base})
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/ws/ls", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	err := e.g.Serve(rec, r, acct, gateway.Admission{})
	if err == nil || err.Error() != "agent: account ls: ls has no real-time protocol kauth can serve" {
		t.Errorf("Serve = %v; want the one-line refusal", err)
	}
	if rec.Body.Len() != 0 || len(rec.Header()) != 0 {
		t.Errorf("Serve wrote %v %q; want nothing, for the caller to answer", rec.Header(), rec.Body)
	}
	if n := e.sim.Stats().Approvals; n != 0 {
		t.Errorf("approvals issued = %d; want none", n)
	}
}

// TestGatewayGateComesBeforeTheSession: a gated client gets nothing and
// opens no upstream session until its first frame passes the gate; that
// frame is then served. One that the gate refuses is closed with 1008; so
// is one that sends nothing in time
// (TestGatewaySilentClientClosedWithPolicyViolation).
func TestGatewayGateComesBeforeTheSession(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.AdmitTimeout = 200 * time.Millisecond })
	e.addKIS("kis")
	var seen [][]byte
	e.gates["kis"] = func(first []byte) bool {
		seen = append(seen, first)
		return strings.Contains(string(first), `"approval_key":"right"`)
	}
	frame := func(key string) map[string]any {
		f := kisSubscribe("1", "005930")
		f["header"].(map[string]string)["approval_key"] = key
		return f
	}

	wrong := e.dial("kis", "keyed=1", nil)
	wrong.send(frame("wrong"))
	if code, reason := wrong.closed(); code != websocket.StatusPolicyViolation || !strings.Contains(reason, "approval key or token this port handed out") {
		t.Errorf("wrong credential: closed %d %q; want 1008 asking for the credential", code, reason)
	}
	if !strings.Contains(e.logs.String(), "agent: facade port refused a WebSocket client without the account's credential") ||
		!strings.Contains(e.logs.String(), "account=kis") {
		t.Errorf("no warning naming the account; logs:\n%s", e.logs)
	}

	// A silent client is closed once the admission timeout passes, with
	// nothing sent to it.
	silent := e.dial("kis", "keyed=1", nil)
	if code, _ := silent.closed(); code != websocket.StatusPolicyViolation {
		t.Errorf("silent client: closed %d; want 1008", code)
	}
	if st := e.kisWS(); st.Opened != 0 || st.Live != 0 || e.sim.Stats().Approvals != 0 {
		t.Errorf("refused clients opened upstream: %+v, %d approvals", st, e.sim.Stats().Approvals)
	}
	if n, _ := metric(t, e.g, "kauth_ws_clients", nil); n != 0 {
		t.Errorf("kauth_ws_clients = %v; want 0 after refusals", n)
	}

	right := e.dial("kis", "keyed=1", nil)
	right.send(frame("right"))
	right.wantControl("OPSP0000", "005930")
	if st := e.kisWS(); st.Opened != 1 {
		t.Errorf("simulator saw %+v; want the session opened for the admitted client", st)
	}
	if len(seen) != 2 {
		t.Errorf("gate saw %d frames; want 2 (the silent client sent none)", len(seen))
	}
}

// TestGatewayCloseKeyedLeavesTheOthers: CloseKeyed closes the clients a key
// admitted with 1008 and leaves the others served.
func TestGatewayCloseKeyedLeavesTheOthers(t *testing.T) {
	e := newEnv(t, nil)
	e.addKIS("kis")
	keyed, socket := e.dial("kis", "keyed=1", nil), e.dial("kis", "", nil)
	for _, w := range []*conn{keyed, socket} {
		w.send(kisSubscribe("1", "005930"))
		w.wantControl("OPSP0000", "005930")
	}
	e.g.CloseKeyed()
	if code, reason := keyed.closed(); code != websocket.StatusPolicyViolation || !strings.Contains(reason, "keys changed") {
		t.Errorf("keyed client: closed %d %q; want 1008 saying the keys changed", code, reason)
	}
	e.sim.Tick()
	if code, seq := socket.frame(); code != "005930" || seq != 1 {
		t.Errorf("the other client got %s #%d; want 005930 #1", code, seq)
	}
	eventually(t, "the keyed client gone", func() bool {
		n, _ := metric(t, e.g, "kauth_ws_clients", nil)
		return n == 1
	})
}

// TestGatewayCloseEndsClientsAndServesNoMore: Close ends the sessions,
// whose clients get 1001; afterwards Serve and ApprovalManager refuse.
func TestGatewayCloseEndsClientsAndServesNoMore(t *testing.T) {
	e := newEnv(t, nil)
	acct := e.addKIS("kis")
	w := e.dial("kis", "", nil)
	w.send(kisSubscribe("1", "005930"))
	w.wantControl("OPSP0000", "005930")
	e.g.Close()
	if code, _ := w.closed(); code != websocket.StatusGoingAway {
		t.Errorf("client closed with %d; want 1001 going away", code)
	}
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/ws/kis", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	if err := e.g.Serve(rec, r, acct, gateway.Admission{}); err == nil || err.Error() != "agent: closed" || rec.Body.Len() != 0 {
		t.Errorf("Serve after Close = %v, wrote %q; want agent: closed and nothing written", err, rec.Body)
	}
	if m, err := e.g.ApprovalManager(acct); m != nil || err == nil {
		t.Errorf("ApprovalManager after Close = %v, %v; want an error", m, err)
	}
	eventually(t, "the upstream session closed", func() bool { return e.kisWS().Live == 0 })
}

// pipeListener hands the server one end of a net.Pipe per dial: a client
// that does not read blocks the gateway's next write at once, with no
// socket buffer in between.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.UnixAddr{Name: "pipe", Net: "pipe"} }

func (l *pipeListener) client() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		server, client := net.Pipe()
		select {
		case l.conns <- server:
			return client, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}}
}

// TestGatewaySlowClientClosedOthersServed: a client that stops reading is
// dropped once its queue (Config.ClientBuffer) overflows and, reading at
// last, finds CloseSlow; the other client gets every frame.
func TestGatewaySlowClientClosedOthersServed(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.ClientBuffer = 4 })
	e.addKIS("kis")
	ln := newPipeListener()
	srv := &http.Server{Handler: http.HandlerFunc(e.serve)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	slow, fast := e.dial("kis", "", ln.client()), e.dial("kis", "", nil)
	for _, w := range []*conn{slow, fast} {
		w.send(kisSubscribe("1", "005930"))
		w.wantControl("OPSP0000", "005930")
	}
	ticks := 0
	eventually(t, "the slow client dropped", func() bool {
		e.sim.Tick()
		ticks++
		if _, seq := fast.frame(); seq != ticks {
			t.Fatalf("fast client: frame #%d; want #%d", seq, ticks)
		}
		n, _ := metric(t, e.g, "kauth_ws_slow_client_drops_total", kisLabels())
		return n == 1
	})
	if ticks > 4+2+2 {
		t.Errorf("dropped after %d frames; want soon after the buffer of 4 overflowed", ticks)
	}
	if code, reason := slow.closed(); code != gateway.CloseSlow || reason != "kauth: client too slow; frames dropped" {
		t.Errorf("slow client closed %d %q; want %d too slow", code, reason, gateway.CloseSlow)
	}
	if !strings.Contains(e.logs.String(), "agent: websocket client too slow; closing it") {
		t.Errorf("no warning about the slow client; logs:\n%s", e.logs)
	}
	e.sim.Tick()
	if _, seq := fast.frame(); seq != ticks+1 {
		t.Errorf("fast client after the drop: #%d; want #%d", seq, ticks+1)
	}
}
