package agent_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
)

// wsSetup makes the simulator send frames only on Tick, and keep-alives
// now and then (the gateway must echo them; realtime's tests check that it
// does).
func wsSetup(tune func(*brokersim.Server)) setup {
	return setup{sim: func(s *brokersim.Server) {
		s.WS.TickInterval = -1
		s.WS.PingInterval = 50 * time.Millisecond
		s.WS.MissedPings = 40
		if tune != nil {
			tune(s)
		}
	}}
}

type wsConn struct {
	t *testing.T
	c *websocket.Conn
}

func (h *harness) wsDial(via, account string, hdr http.Header, client *http.Client) (*wsConn, *http.Response, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{HTTPHeader: hdr, HTTPClient: client}
	url := "ws://localhost/ws/" + account
	if via == "tcp" {
		url = "ws://" + h.ep.TCP + "/ws/" + account
		if opts.HTTPHeader == nil {
			opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + h.key}}
		}
	} else if opts.HTTPClient == nil {
		opts.HTTPClient = h.unix
	}
	c, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(1 << 20)
	w := &wsConn{t: h.t, c: c}
	h.t.Cleanup(func() { c.CloseNow() })
	return w, resp, nil
}

func (h *harness) ws(via, account string) *wsConn {
	h.t.Helper()
	w, _, err := h.wsDial(via, account, nil, nil)
	if err != nil {
		h.t.Fatalf("dial %s /ws/%s: %v", via, account, err)
	}
	return w
}

func (w *wsConn) send(v any) {
	w.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatal(err)
	}
}

// next returns the next message that is not a keep-alive.
func (w *wsConn) next() string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			w.t.Fatalf("read: %v", err)
		}
		s := string(b)
		if strings.Contains(s, `"PINGPONG"`) || s == `{"trnm":"PING"}` {
			continue
		}
		return s
	}
}

// kisSubscribe sends a KIS subscribe with a placeholder approval key, as
// a bot that leaves the key to the agent would.
func (w *wsConn) kisSubscribe(trType, trID, code string) {
	w.send(map[string]any{
		"header": map[string]string{"approval_key": "placeholder", "custtype": "P", "tr_type": trType, "content-type": "utf-8"},
		"body":   map[string]any{"input": map[string]string{"tr_id": trID, "tr_key": code}},
	})
}

type kisControl struct {
	Header struct {
		TrID  string `json:"tr_id"`
		TrKey string `json:"tr_key"`
	} `json:"header"`
	Body struct {
		RtCd  string `json:"rt_cd"`
		MsgCd string `json:"msg_cd"`
		Msg1  string `json:"msg1"`
	} `json:"body"`
}

func (w *wsConn) control() kisControl {
	w.t.Helper()
	s := w.next()
	var c kisControl
	if json.Unmarshal([]byte(s), &c) != nil {
		w.t.Fatalf("not a control answer: %.100s", s)
	}
	return c
}

func (w *wsConn) wantControl(code, key string) {
	w.t.Helper()
	if c := w.control(); c.Body.MsgCd != code || c.Header.TrKey != key {
		w.t.Fatalf("answer = %+v; want %s for %s", c, code, key)
	}
}

// frame reads a KIS data frame: its code and cumulative volume.
func (w *wsConn) frame() (code string, seq int) {
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

func (h *harness) kisWS() brokersim.WSStats {
	return h.sim.WSStats(kauth.KIS, kauth.Mock, kisMock.AppKey)
}

// TestWSTwoBotsShareOneUpstreamSession: two bots, one on the socket and one
// on TCP, subscribe to overlapping codes; the simulator sees one session
// and one subscription per code, and both bots get every frame.
func TestWSTwoBotsShareOneUpstreamSession(t *testing.T) {
	h := newHarness(t, wsSetup(nil))
	a, b := h.ws("unix", "kis-mock"), h.ws("tcp", "kis-mock")
	a.kisSubscribe("1", "H0STCNT0", "005930")
	a.wantControl("OPSP0000", "005930")
	b.kisSubscribe("1", "H0STCNT0", "005930")
	b.wantControl("OPSP0000", "005930")
	b.kisSubscribe("1", "H0STCNT0", "000660")
	b.wantControl("OPSP0000", "000660")
	b.kisSubscribe("1", "H0STCNT0", "000660")
	b.wantControl("OPSP0002", "000660")

	const ticks = 50
	for range ticks {
		h.sim.Tick()
	}
	for i := 1; i <= ticks; i++ {
		if code, seq := a.frame(); code != "005930" || seq != i {
			t.Fatalf("bot a frame %d = %s #%d", i, code, seq)
		}
	}
	got := map[string]int{}
	for range 2 * ticks {
		code, seq := b.frame()
		if seq != got[code]+1 {
			t.Fatalf("bot b: %s #%d after #%d: a frame was lost", code, seq, got[code])
		}
		got[code] = seq
	}
	st := h.kisWS()
	if st.Opened != 1 || st.Subscribes != 2 || st.Refused != 0 || strings.Join(st.Topics, ",") != "H0STCNT0|000660,H0STCNT0|005930" {
		t.Errorf("simulator saw %+v; want one session with one subscription per code", st)
	}
	if n := h.sim.Stats().Approvals; n != 1 {
		t.Errorf("approvals = %d; want 1", n)
	}

	// a leaves 005930: b still wants it, so it stays upstream.
	a.kisSubscribe("2", "H0STCNT0", "005930")
	a.wantControl("OPSP0001", "005930")
	a.kisSubscribe("2", "H0STCNT0", "005930")
	a.wantControl("OPSP0003", "005930")
	if st := h.kisWS(); st.Unsubscribes != 0 {
		t.Errorf("unsubscribed upstream while bot b wants the code")
	}
	// b disconnects: its subscriptions go upstream too.
	b.c.Close(websocket.StatusNormalClosure, "")
	eventually(t, "upstream unsubscribes", func() bool { return len(h.kisWS().Topics) == 0 })
	if st := h.kisWS(); st.Opened != 1 || st.Live != 1 {
		t.Errorf("simulator: %+v; want the one session kept", st)
	}
	m := h.metrics()
	for _, want := range []string{"kauth_ws_upstream_sessions{", "kauth_ws_frames_in_total{", "kauth_ws_frames_out_total{", "kauth_ws_clients 1", "kauth_ws_reconnects_total{"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestWSDropRestoresEverySubscription: the upstream socket drops; the
// gateway reconnects with the managed key, restores every subscription and
// tells each client in KIS's shape.
func TestWSDropRestoresEverySubscription(t *testing.T) {
	h := newHarness(t, wsSetup(nil))
	a, b := h.ws("unix", "kis-mock"), h.ws("unix", "kis-mock")
	a.kisSubscribe("1", "H0STCNT0", "005930")
	a.wantControl("OPSP0000", "005930")
	b.kisSubscribe("1", "H0STASP0", "000660")
	b.wantControl("OPSP0000", "000660")
	if n := h.sim.DropWS(kauth.KIS, kauth.Mock, kisMock.AppKey); n != 1 {
		t.Fatalf("dropped %d", n)
	}
	for _, w := range []*wsConn{a, b} {
		if c := w.control(); c.Body.RtCd != "1" || !strings.Contains(c.Body.Msg1, "interrupted") {
			t.Errorf("first after the drop = %+v; want the interruption", c)
		}
	}
	a.wantControl("OPSP0000", "005930")
	b.wantControl("OPSP0000", "000660")
	st := h.kisWS()
	if st.Opened != 2 || st.Live != 1 || len(st.Topics) != 2 {
		t.Errorf("simulator: %+v; want a second session with both subscriptions", st)
	}
	h.sim.Tick()
	if code, _ := a.frame(); code != "005930" {
		t.Errorf("a got %s", code)
	}
	if !strings.Contains(h.metrics(), "kauth_ws_reconnects_total{app=") {
		t.Error("no reconnect metric")
	}
}

// TestWSAgentRestart: a new agent on the same simulator (the old one shut
// down) opens the app key's session again and serves its bots.
func TestWSAgentRestart(t *testing.T) {
	h := newHarness(t, wsSetup(nil))
	a := h.ws("unix", "kis-mock")
	a.kisSubscribe("1", "H0STCNT0", "005930")
	a.wantControl("OPSP0000", "005930")
	h.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := a.c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("client of the old agent: %v; want 1001 going away", err)
	}
	eventually(t, "the old session ends", func() bool { return h.kisWS().Live == 0 })

	cfg := h.cfg
	cfg.Listen.Socket = filepath.Join(h.dir, "run2", "agent.sock")
	h2 := &harness{t: t, dir: h.dir, sim: h.sim, simURL: h.simURL, logs: h.logs, env: h.env}
	ag, err := agent.New(cfg, agent.Options{Logger: h.logs.Logger(), Getenv: h.getenv})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ag.ListenAndServe(sctx) }()
	defer func() {
		stop()
		<-served
		ag.Close()
	}()
	<-ag.Ready()
	h2.ep = ag.Endpoints()
	h2.unix = unixClient(h2.ep.Socket)
	defer h2.unix.CloseIdleConnections()
	b := h2.ws("unix", "kis-mock")
	b.kisSubscribe("1", "H0STCNT0", "005930")
	b.wantControl("OPSP0000", "005930")
	h.sim.Tick()
	if code, _ := b.frame(); code != "005930" {
		t.Errorf("got %s", code)
	}
	if st := h.kisWS(); st.Opened != 2 || st.Refused != 0 || st.Live != 1 {
		t.Errorf("simulator: %+v; want the second agent's session, nothing refused", st)
	}
}

// TestWSSlowClientIsolated: a bot that stops reading is closed with 1008
// once its queue overflows; the other bot gets every frame.
func TestWSSlowClientIsolated(t *testing.T) {
	h := newHarness(t, setup{
		sim: func(s *brokersim.Server) {
			s.WS.TickInterval, s.WS.PingInterval = -1, -1
		},
		opts: func(o *agent.Options) { o.WSClientBuffer = 64 },
	})
	// The slow bot's socket has a tiny receive buffer, so that the agent
	// notices within a few hundred frames rather than megabytes.
	small := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) { setReceiveBuffer(fd, 1024) })
		}}
		return d.DialContext(ctx, "unix", h.ep.Socket)
	}}}
	slow, _, err := h.wsDial("unix", "kis-mock", nil, small)
	if err != nil {
		t.Fatal(err)
	}
	fast := h.ws("unix", "kis-mock")
	slow.kisSubscribe("1", "H0STCNT0", "005930")
	slow.wantControl("OPSP0000", "005930")
	fast.kisSubscribe("1", "H0STCNT0", "005930")
	fast.wantControl("OPSP0000", "005930")
	dropped := "kauth_ws_slow_client_drops_total{app=\"" + kisMock.Credentials().Fingerprint() + "\",broker=\"kis\",env=\"mock\"} 1"
	for i := 1; ; {
		for range 32 {
			h.sim.Tick()
		}
		for range 32 {
			if _, seq := fast.frame(); seq != i {
				t.Fatalf("fast bot: frame #%d, want #%d", seq, i)
			}
			i++
		}
		if strings.Contains(h.metrics(), dropped) {
			t.Logf("slow bot dropped within %d frames", i-1)
			break
		}
		if i > 20000 {
			t.Fatal("the slow bot was never dropped")
		}
	}
	// The slow bot, reading at last, finds its frames and then 1008.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rerr error
	for rerr == nil {
		_, _, rerr = slow.c.Read(ctx)
	}
	if websocket.CloseStatus(rerr) != agent.WSCloseSlow {
		t.Errorf("slow bot ended with %v; want close status %d", rerr, agent.WSCloseSlow)
	}
	h.sim.Tick()
	fast.frame()
	if st := h.kisWS(); len(st.Topics) != 1 {
		t.Errorf("the fast bot's subscription went: %v", st.Topics)
	}
}

// TestWSLimitInKISShape: past the broker's limit, the bot gets KIS's own
// OPSP0008 answer.
func TestWSLimitInKISShape(t *testing.T) {
	h := newHarness(t, wsSetup(func(s *brokersim.Server) { s.WS.KISMaxSubscriptions = 1 }))
	a := h.ws("unix", "kis-mock")
	a.kisSubscribe("1", "H0STCNT0", "005930")
	a.wantControl("OPSP0000", "005930")
	a.kisSubscribe("1", "H0STCNT0", "000660")
	if c := a.control(); c.Body.MsgCd != "OPSP0008" || c.Body.Msg1 != "MAX SUBSCRIBE OVER" || c.Body.RtCd == "0" {
		t.Errorf("answer = %+v; want OPSP0008 MAX SUBSCRIBE OVER", c)
	}
}

func TestWSAccessRules(t *testing.T) {
	h := newHarness(t, wsSetup(nil))
	for _, tc := range []struct {
		name   string
		hdr    http.Header
		status int
	}{
		{"no key", http.Header{"Authorization": {"Bearer wrong"}}, http.StatusUnauthorized},
		{"browser", http.Header{"Authorization": {"Bearer " + h.key}, "Origin": {"https://evil.example"}}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := h.wsDial("tcp", "kis-mock", tc.hdr, nil)
			if err == nil || resp == nil || resp.StatusCode != tc.status {
				t.Errorf("dial: %v; want HTTP %d", err, tc.status)
			}
		})
	}
	// websocket-client (python-kis's library) sends Origin: http://<the
	// URL's host> unless told not to: that is the agent itself, not a page.
	if _, _, err := h.wsDial("tcp", "kis-mock", http.Header{"Authorization": {"Bearer " + h.key}, "Origin": {"http://" + h.ep.TCP}}, nil); err != nil {
		t.Errorf("Origin naming the agent itself: %v; want accepted", err)
	}
	if _, resp, err := h.wsDial("tcp", "kis-mock", http.Header{"Authorization": {"Bearer " + h.key}, "Origin": {"http://evil.example:" + strings.Split(h.ep.TCP, ":")[1]}}, nil); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Origin: %v; want 403", err)
	}
	if _, resp, err := h.wsDial("unix", "nobody", nil, nil); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown account: %v; want 404", err)
	}
	if r := h.viaUnix("GET", "/ws/kis-mock", nil, nil); r.status != http.StatusBadRequest {
		t.Errorf("plain GET = %d; want 400", r.status)
	}
}

func TestWSKiwoom(t *testing.T) {
	h := newHarness(t, wsSetup(nil))
	a, b := h.ws("unix", "kiwoom-mock"), h.ws("tcp", "kiwoom-mock")
	for _, w := range []*wsConn{a, b} {
		w.send(map[string]string{"trnm": "LOGIN", "token": "placeholder"})
		if m := w.next(); !strings.Contains(m, `"return_code":0`) || !strings.Contains(m, "LOGIN") {
			t.Fatalf("login = %s", m)
		}
	}
	reg := func(w *wsConn, trnm string, items ...string) {
		w.send(map[string]any{"trnm": trnm, "grp_no": "1", "refresh": "1", "data": []map[string]any{{"item": items, "type": []string{"0B"}}}})
		if m := w.next(); !strings.Contains(m, `"return_code":0`) || !strings.Contains(m, trnm) {
			t.Fatalf("%s = %s", trnm, m)
		}
	}
	reg(a, "REG", "005930")
	reg(b, "REG", "005930", "000660")
	st := h.sim.WSStats(kauth.Kiwoom, kauth.Mock, kiwoomMock.AppKey)
	if st.Opened != 1 || st.Subscribes != 2 {
		t.Fatalf("simulator: %+v; want one session, two registrations", st)
	}
	h.sim.Tick()
	if m := a.next(); !strings.Contains(m, `"005930"`) || strings.Contains(m, "000660") {
		t.Errorf("a got %s; want its item only", m)
	}
	if m := b.next(); !strings.Contains(m, `"005930"`) || !strings.Contains(m, "000660") {
		t.Errorf("b got %s; want both items", m)
	}
	reg(b, "REMOVE", "000660")
	eventually(t, "000660 removed upstream", func() bool {
		return len(h.sim.WSStats(kauth.Kiwoom, kauth.Mock, kiwoomMock.AppKey).Topics) == 1
	})
}

func TestApprovalEndpoint(t *testing.T) {
	h := newHarness(t, wsSetup(nil))
	var first agent.ApprovalResponse
	for i := range 2 {
		r := h.viaUnix("GET", "/v1/accounts/kis-mock/approval", nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var ar agent.ApprovalResponse
		r.json(t, &ar)
		if i == 0 {
			first = ar
		}
		h.sawToken(ar.ApprovalKey) // the logs must not hold it either
		if ar.ApprovalKey == "" || ar.ApprovalKey != first.ApprovalKey || !strings.HasSuffix(ar.ExpiresAt, "+09:00") || ar.Broker != kauth.KIS {
			t.Errorf("answer %d = %+v", i, ar)
		}
	}
	if n := h.sim.Stats().Approvals; n != 1 {
		t.Errorf("approvals = %d; want 1", n)
	}
	// The gateway uses the same managed key.
	w := h.ws("unix", "kis-mock")
	w.kisSubscribe("1", "H0STCNT0", "005930")
	w.wantControl("OPSP0000", "005930")
	if n := h.sim.Stats().Approvals; n != 1 {
		t.Errorf("approvals after the session opened = %d; want 1", n)
	}
	if r := h.viaUnix("GET", "/v1/accounts/kiwoom-mock/approval", nil, nil); r.status != http.StatusBadRequest {
		t.Errorf("kiwoom approval = %d; want 400", r.status)
	}
}

// TestWSExecutionNoticesPassThrough: KIS's encrypted execution notices reach
// the bot unchanged, decryptable with the key and iv of its subscribe
// answer.
func TestWSExecutionNoticesPassThrough(t *testing.T) {
	h := newHarness(t, wsSetup(nil))
	w := h.ws("unix", "kis-mock")
	w.kisSubscribe("1", "H0STCNI9", "myhtsid")
	var ans struct {
		Body struct {
			MsgCd  string `json:"msg_cd"`
			Output struct {
				IV  string `json:"iv"`
				Key string `json:"key"`
			} `json:"output"`
		} `json:"body"`
	}
	if err := json.Unmarshal([]byte(w.next()), &ans); err != nil || ans.Body.MsgCd != "OPSP0000" || len(ans.Body.Output.Key) != 32 {
		t.Fatalf("answer = %+v, %v", ans, err)
	}
	if !h.sim.NotifyExecution(kauth.Mock, kisMock.AppKey, "005930", 3, 71000) {
		t.Fatal("no upstream session took the notice")
	}
	parts := strings.SplitN(w.next(), "|", 4)
	if len(parts) != 4 || parts[0] != "1" || parts[1] != "H0STCNI9" {
		t.Fatalf("notice = %v", parts)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(raw)%aes.BlockSize != 0 {
		t.Fatalf("not AES blocks: %v", err)
	}
	block, _ := aes.NewCipher([]byte(ans.Body.Output.Key))
	cipher.NewCBCDecrypter(block, []byte(ans.Body.Output.IV)).CryptBlocks(raw, raw)
	if f := strings.Split(string(raw[:len(raw)-int(raw[len(raw)-1])]), "^"); f[0] != "myhtsid" || f[8] != "005930" || f[9] != "3" {
		t.Errorf("decrypted = %v", f)
	}
}

// TestWSKiwoomInterruptionAndRefresh: Kiwoom bots hear of an interrupted
// upstream session as a SYSTEM frame and get their items again; a REG with
// refresh "0" replaces the bot's group.
func TestWSKiwoomInterruptionAndRefresh(t *testing.T) {
	h := newHarness(t, wsSetup(nil))
	w := h.ws("unix", "kiwoom-mock")
	reg := func(refresh string, items ...string) {
		w.send(map[string]any{"trnm": "REG", "grp_no": "1", "refresh": refresh, "data": []map[string]any{{"item": items, "type": []string{"0B"}}}})
		if m := w.next(); !strings.Contains(m, `"return_code":0`) {
			t.Fatalf("REG = %s", m)
		}
	}
	topics := func() string {
		return strings.Join(h.sim.WSStats(kauth.Kiwoom, kauth.Mock, kiwoomMock.AppKey).Topics, ",")
	}
	reg("1", "005930", "000660")
	reg("0", "035420")
	eventually(t, "the group replaced upstream", func() bool { return topics() == "0B|035420" })
	h.sim.DropWS(kauth.Kiwoom, kauth.Mock, kiwoomMock.AppKey)
	if m := w.next(); !strings.Contains(m, `"trnm":"SYSTEM"`) || !strings.Contains(m, "kauth_interrupted") {
		t.Fatalf("after the drop: %s; want SYSTEM kauth_interrupted", m)
	}
	eventually(t, "the item restored", func() bool {
		st := h.sim.WSStats(kauth.Kiwoom, kauth.Mock, kiwoomMock.AppKey)
		return st.Opened == 2 && topics() == "0B|035420"
	})
	h.sim.Tick()
	if m := w.next(); !strings.Contains(m, `"REAL"`) || !strings.Contains(m, "035420") {
		t.Errorf("after the restore: %s", m)
	}
}
