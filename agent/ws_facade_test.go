package agent_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
)

// These tests speak to the gateway under the facade's base URL as the
// official clients speak to the brokers' WebSocket servers, changing only
// the base URL. What each client sends and parses was read from its code:
//
//   - KIS's sample, koreainvestment/open-trading-api at 885dd4e2f5c3
//     examples_user/kis_auth.py, KISWebSocket: it connects with
//     websockets.connect(f"{my_url_ws}{api_url}"), api_url "/tryitout"
//     (examples_user/domestic_stock/domestic_stock_examples_ws.py), with
//     the library's default headers only (no Authorization, no Origin; a
//     User-Agent "Python/x websockets/y" and a permessage-deflate offer).
//     data_fetch sends {"header": {"content-type", "approval_key",
//     "tr_type", "custtype"}, "body": {"input": {"tr_id", "tr_key"}}}, in
//     that key order. A frame starting with "0" or "1" is split on "|"
//     (4 parts, tr_id the second); anything else goes to system_resp,
//     which reads header.tr_id, and for any tr_id but PINGPONG
//     header.tr_key and header.encrypt, then body.rt_cd and body.msg1.
//   - python-kis, Soju06/python-kis at 6fcde3fa0801
//     pykis/client/websocket.py: WebSocketApp(f"{WEBSOCKET_…_DOMAIN}/tryitout")
//     of websocket-client, which sends Origin: http://<host:port> and no
//     User-Agent; KisWebsocketRequest.build (pykis/client/messaging.py)
//     sends header {"approval_key", "custtype", "tr_type", "content-type"};
//     _handle_control reads body.msg_cd (OPSP0000 subscribed) and echoes
//     PINGPONG as text; _handle_event splits a frame "|" into 4 with an int
//     count.
//   - Kiwoom's SDK, Kiwoom-Securities/Kiwoom-REST-API at 439395b82e9a
//     kiwoom/core/ws_client.py: websockets' connect to
//     f"{get_ws_base_url(mode)}{path}" (the base from W_MOCK / W_PRD,
//     kiwoom/core/auth.py), path "/api/dostk/websocket"; the
//     first packet is {"trnm": "LOGIN", "token": <its access token>}, and
//     it waits for a LOGIN answer with return_code 0 before anything else;
//     then the caller's REG; PING (trnm) is echoed.

// wsFacadeURL is the gateway under the facade's base URL, as a client
// builds it from a changed base plus its own path.
func (h *harness) wsFacadeURL(key, account, path string) string {
	return "ws://" + h.ep.TCP + "/broker/" + key + "/" + account + path
}

// pyWebsocketsHeader is what Python's websockets library sends beyond the
// handshake's own headers.
func pyWebsocketsHeader() http.Header {
	return http.Header{
		"User-Agent":               {"Python/3.11 websockets/10.4"},
		"Sec-Websocket-Extensions": {"permessage-deflate; client_max_window_bits"},
	}
}

// dialAs dials u with exactly hdr beyond the handshake (no agent key).
func (h *harness) dialAs(u string, hdr http.Header) (*wsConn, *http.Response, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: hdr, HTTPClient: &http.Client{}})
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(1 << 20)
	h.t.Cleanup(func() { c.CloseNow() })
	return &wsConn{t: h.t, c: c}, resp, nil
}

// sendRaw sends s as it is (key order matters to nobody, but the tests
// send what the clients send).
func (w *wsConn) sendRaw(s string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		w.t.Fatal(err)
	}
}

// decodeControl decodes a KIS control answer.
func (w *wsConn) decodeControl(raw string) kisControl {
	w.t.Helper()
	var c kisControl
	if json.Unmarshal([]byte(raw), &c) != nil {
		w.t.Fatalf("not a control answer: %.100s", raw)
	}
	return c
}

// kisSampleSystemResp parses a control message as kis_auth.py's
// system_resp does, failing where it would raise.
func kisSampleSystemResp(t *testing.T, raw string) (trID, trKey string, ok bool, msg string) {
	t.Helper()
	var m map[string]map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("json.loads(%.100s): %v", raw, err)
	}
	hdr := m["header"]
	trID, _ = hdr["tr_id"].(string)
	if trID == "PINGPONG" {
		return trID, "", false, ""
	}
	for _, k := range []string{"tr_key", "encrypt"} {
		if _, has := hdr[k]; !has {
			t.Fatalf("system_resp: KeyError %q in %s", k, raw)
		}
	}
	trKey, _ = hdr["tr_key"].(string)
	if body, has := m["body"]; has {
		rt, _ := body["rt_cd"].(string)
		msg, _ = body["msg1"].(string)
		return trID, trKey, rt == "0", msg
	}
	return trID, trKey, false, ""
}

// kisSampleFrame parses a data frame as KISWebSocket.__subscriber does.
func kisSampleFrame(t *testing.T, raw string) (trID string, fields []string) {
	t.Helper()
	if raw[0] != '0' && raw[0] != '1' {
		t.Fatalf("not a data frame: %.100s", raw)
	}
	d1 := strings.Split(raw, "|")
	if len(d1) < 4 {
		t.Fatalf("data not found: %.100s", raw)
	}
	return d1[1], strings.Split(d1[3], "^")
}

// TestWSFacadeKISSample: KISWebSocket, its base URL changed to the
// facade's, connects to {base}/tryitout and {base}/tryitout/H0STCNT0 with
// websockets' headers only, subscribes as data_fetch builds it and parses
// the answer and the frames.
func TestWSFacadeKISSample(t *testing.T) {
	h := newHarness(t, wsSetup(nil))
	for i, path := range []string{"/tryitout", "/tryitout/H0STCNT0"} {
		w, _, err := h.dialAs(h.wsFacadeURL(h.key, "kis-mock", path), pyWebsocketsHeader())
		if err != nil {
			t.Fatalf("websockets.connect(%s): %v", path, err)
		}
		w.sendRaw(`{"header": {"content-type": "utf-8", "approval_key": "placeholder-approval-key", "tr_type": "1", "custtype": "P"}, "body": {"input": {"tr_id": "H0STCNT0", "tr_key": "005930"}}}`)
		trID, trKey, ok, msg := kisSampleSystemResp(t, w.next())
		if trID != "H0STCNT0" || trKey != "005930" || !ok || msg != "SUBSCRIBE SUCCESS" {
			t.Fatalf("%s: answer %s %s ok=%v %q; want SUBSCRIBE SUCCESS", path, trID, trKey, ok, msg)
		}
		h.sim.Tick()
		id, f := kisSampleFrame(t, w.next())
		if id != "H0STCNT0" || f[0] != "005930" || f[13] != strconv.Itoa(i+1) {
			t.Fatalf("%s: frame %s %v", path, id, f[:1])
		}
		w.c.Close(websocket.StatusNormalClosure, "")
	}
	if st := h.kisWS(); st.Opened != 1 {
		t.Errorf("simulator: %+v; want the one shared session", st)
	}
	h.secrets = append(h.secrets, h.key)
}

// TestWSFacadePykis: pykis' realtime client, WEBSOCKET_REAL_DOMAIN (the
// one it uses, virtual or not: pykis/kis.py builds KisWebsocketClient(self)
// with virtual=False) changed to the facade's base, connects to {base}/tryitout with
// websocket-client's Origin, subscribes as KisWebsocketRequest.build
// sends it, echoes PINGPONG and parses frames.
func TestWSFacadePykis(t *testing.T) {
	h := newHarness(t, wsSetup(nil))
	w, _, err := h.dialAs(h.wsFacadeURL(h.key, "kis-mock", "/tryitout"), http.Header{"Origin": {"http://" + h.ep.TCP}})
	if err != nil {
		t.Fatalf("WebSocketApp(.../tryitout): %v", err)
	}
	w.sendRaw(`{"header": {"approval_key": "placeholder-approval-key", "custtype": "P", "tr_type": "1", "content-type": "utf-8"}, "body": {"input": {"tr_id": "H0STCNT0", "tr_key": "000660"}}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var subscribed bool
	for !subscribed {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var c kisControl
		if json.Unmarshal(b, &c) != nil {
			t.Fatalf("control data not JSON: %.100s", b)
		}
		var hdr struct {
			Header struct {
				TrID string `json:"tr_id"`
			} `json:"header"`
		}
		json.Unmarshal(b, &hdr)
		if hdr.Header.TrID == "PINGPONG" {
			w.sendRaw(string(b)) // _handle_control echoes it
			continue
		}
		if c.Body.MsgCd != "OPSP0000" || c.Header.TrKey != "000660" {
			t.Fatalf("answer = %+v; want OPSP0000 for 000660", c)
		}
		subscribed = true
	}
	h.sim.Tick()
	parts := strings.SplitN(w.next(), "|", 4)
	if len(parts) != 4 || parts[0] != "0" || parts[1] != "H0STCNT0" {
		t.Fatalf("_handle_event: %v", parts)
	}
	if _, err := strconv.Atoi(parts[2]); err != nil {
		t.Fatalf("count %q: %v", parts[2], err)
	}
	h.secrets = append(h.secrets, h.key)
}

// TestWSFacadeKiwoomSDK: the SDK's KiwoomWebSocketClient, its base URL
// changed to the facade's, connects to {base}/api/dostk/websocket, logs in
// with the token the facade gave it, registers and reads REAL frames.
func TestWSFacadeKiwoomSDK(t *testing.T) {
	h := newHarness(t, wsSetup(nil))
	tok := kiwoomSDKToken(t, h, h.facadeURL("kiwoom-mock"))
	w, _, err := h.dialAs(h.wsFacadeURL(h.key, "kiwoom-mock", "/api/dostk/websocket"), pyWebsocketsHeader())
	if err != nil {
		t.Fatalf("connect(.../api/dostk/websocket): %v", err)
	}
	w.send(map[string]string{"trnm": "LOGIN", "token": tok})
	var login struct {
		Trnm       string `json:"trnm"`
		ReturnCode *int   `json:"return_code"`
	}
	if err := json.Unmarshal([]byte(w.next()), &login); err != nil || login.Trnm != "LOGIN" || login.ReturnCode == nil || *login.ReturnCode != 0 {
		t.Fatalf("login ack = %+v (%v); want LOGIN with return_code 0", login, err)
	}
	w.sendRaw(`{"trnm": "REG", "grp_no": "1", "refresh": "1", "data": [{"item": ["005930"], "type": ["0B"]}]}`)
	if m := w.next(); !strings.Contains(m, `"REG"`) || !strings.Contains(m, `"return_code":0`) {
		t.Fatalf("REG answer = %s", m)
	}
	h.sim.Tick()
	var real struct {
		Trnm string `json:"trnm"`
		Data []struct {
			Item string `json:"item"`
			Type string `json:"type"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(w.next()), &real); err != nil || real.Trnm != "REAL" || len(real.Data) == 0 || real.Data[0].Item != "005930" {
		t.Fatalf("REAL = %+v (%v)", real, err)
	}
	h.secrets = append(h.secrets, h.key)
}

// TestWSFacadeAccess: the gateway under the facade keeps the facade's key
// rules, and /ws/{account} still works.
func TestWSFacadeAccess(t *testing.T) {
	dir := shortTempDir(t)
	botFile := filepath.Join(dir, "bot.key")
	s := wsSetup(nil)
	s.cfg = func(c *agent.Config) {
		c.ClientKeys = []agent.ClientKey{{Name: "bot", File: botFile, Accounts: []string{"kis-mock"}}}
	}
	h := newHarness(t, s)
	b, err := os.ReadFile(botFile)
	if err != nil {
		t.Fatal(err)
	}
	bot := strings.TrimSpace(string(b))
	h.secrets = append(h.secrets, h.key, bot)
	for _, tc := range []struct {
		name, key, account string
		status             int
	}{
		{"wrong key", "not-the-key", "kis-mock", http.StatusUnauthorized},
		{"client key, another account", bot, "kiwoom-mock", http.StatusForbidden},
		{"unknown account", h.key, "nobody", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := h.dialAs(h.wsFacadeURL(tc.key, tc.account, "/tryitout"), pyWebsocketsHeader())
			if err == nil || resp == nil || resp.StatusCode != tc.status {
				t.Errorf("dial: %v; want HTTP %d", err, tc.status)
			}
		})
	}
	if _, resp, err := h.dialAs(h.wsFacadeURL(h.key, "kis-mock", "/tryitout"), http.Header{"Origin": {"https://evil.example"}}); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("browser Origin: %v; want 403", err)
	}
	w, _, err := h.dialAs(h.wsFacadeURL(bot, "kis-mock", "/tryitout"), pyWebsocketsHeader())
	if err != nil {
		t.Fatalf("client key on its account: %v", err)
	}
	w.kisSubscribe("1", "H0STCNT0", "005930")
	w.wantControl("OPSP0000", "005930")
	// A plain GET of the same path is no WebSocket: the facade's 404.
	if a := pyDo(t, h.ep.TCP, "GET", h.facadeURL("kis-mock")+"/tryitout", nil, ""); a.status != http.StatusNotFound {
		t.Errorf("plain GET /tryitout = %d; want 404", a.status)
	}
	old := h.ws("tcp", "kis-mock")
	old.kisSubscribe("1", "H0STCNT0", "000660")
	old.wantControl("OPSP0000", "000660")
	if st := h.sim.WSStats(kauth.KIS, kauth.Mock, kisMock.AppKey); st.Opened != 1 || len(st.Topics) != 2 {
		t.Errorf("simulator: %+v; want one session for both URLs", st)
	}
	if strings.Contains(h.logs.String(), bot) || strings.Contains(h.logs.String(), h.key) {
		t.Error("a key reached the log")
	}
}
