package brokersim_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kis"
)

// wsSim starts a simulator whose frames come only from Tick.
func wsSim(t *testing.T, tune func(*brokersim.Server)) (*brokersim.Server, *httptest.Server) {
	t.Helper()
	sim := brokersim.New()
	sim.WS.TickInterval = -1
	sim.WS.PingInterval = -1
	if tune != nil {
		tune(sim)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, ts
}

func wsURL(ts *httptest.Server, b kauth.Broker, e kauth.Env, path string) string {
	return "ws" + strings.TrimPrefix(brokersim.BaseURL(ts.URL, b, e), "http") + path
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func approvalKey(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	p := &kis.Provider{BaseURL: brokersim.BaseURL(ts.URL, kauth.KIS, kauth.Mock)}
	key, err := p.ApprovalKey(context.Background(), brokersim.DemoKISMock.Credentials())
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func kisSub(key, trType, trID, trKey string) []byte {
	b, _ := json.Marshal(map[string]any{
		"header": map[string]string{"approval_key": key, "custtype": "P", "tr_type": trType, "content-type": "utf-8"},
		"body":   map[string]any{"input": map[string]string{"tr_id": trID, "tr_key": trKey}},
	})
	return b
}

func send(t *testing.T, c *websocket.Conn, msg []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

type kisAnswer struct {
	Header struct {
		TrID  string `json:"tr_id"`
		TrKey string `json:"tr_key"`
	} `json:"header"`
	Body struct {
		RtCd   string `json:"rt_cd"`
		MsgCd  string `json:"msg_cd"`
		Msg1   string `json:"msg1"`
		Output struct {
			IV  string `json:"iv"`
			Key string `json:"key"`
		} `json:"output"`
	} `json:"body"`
}

func answer(t *testing.T, c *websocket.Conn) kisAnswer {
	t.Helper()
	var a kisAnswer
	if s := recv(t, c); json.Unmarshal([]byte(s), &a) != nil {
		t.Fatalf("not a JSON answer: %s", s)
	}
	return a
}

func TestKISWebSocketSubscribeAndFrames(t *testing.T) {
	sim, ts := wsSim(t, nil)
	key := approvalKey(t, ts)
	c := dial(t, wsURL(ts, kauth.KIS, kauth.Mock, "/tryitout/H0STCNT0"))
	send(t, c, kisSub(key, "1", "H0STCNT0", "005930"))
	a := answer(t, c)
	if a.Body.RtCd != "0" || a.Body.MsgCd != "OPSP0000" || a.Body.Msg1 != "SUBSCRIBE SUCCESS" || a.Header.TrKey != "005930" {
		t.Fatalf("answer = %+v; want OPSP0000 SUBSCRIBE SUCCESS for 005930", a)
	}
	if len(a.Body.Output.Key) != 32 || len(a.Body.Output.IV) != 16 {
		t.Errorf("output key/iv = %q/%q; want 32 and 16 characters", a.Body.Output.Key, a.Body.Output.IV)
	}
	send(t, c, kisSub(key, "1", "H0STCNT0", "005930"))
	if a := answer(t, c); a.Body.MsgCd != "OPSP0002" {
		t.Errorf("second subscribe = %s; want OPSP0002", a.Body.MsgCd)
	}
	sim.Tick()
	f := recv(t, c)
	parts := strings.SplitN(f, "|", 4)
	if len(parts) != 4 || parts[0] != "0" || parts[1] != "H0STCNT0" || parts[2] != "001" {
		t.Fatalf("frame = %q; want 0|H0STCNT0|001|…", f)
	}
	fields := strings.Split(parts[3], "^")
	if len(fields) != 46 || fields[0] != "005930" || fields[13] != fields[12] {
		t.Errorf("fields = %d %v; want 46 fields for 005930, the first trade the whole volume", len(fields), fields[:4])
	}
	send(t, c, kisSub(key, "2", "H0STCNT0", "005930"))
	if a := answer(t, c); a.Body.MsgCd != "OPSP0001" || a.Body.RtCd != "0" {
		t.Errorf("unsubscribe = %+v; want OPSP0001", a.Body)
	}
	send(t, c, kisSub(key, "2", "H0STCNT0", "005930"))
	if a := answer(t, c); a.Body.MsgCd != "OPSP0003" {
		t.Errorf("unsubscribe again = %s; want OPSP0003", a.Body.MsgCd)
	}
	st := sim.WSStats(kauth.KIS, kauth.Mock, brokersim.DemoKISMock.AppKey)
	if st.Live != 1 || st.Opened != 1 || st.Subscribes != 1 || st.Unsubscribes != 1 || st.Frames != 1 || st.Controls != 4 {
		t.Errorf("stats = %+v; want 4 control frames among them", st)
	}
}

func TestKISWebSocketRefusals(t *testing.T) {
	sim, ts := wsSim(t, func(s *brokersim.Server) { s.WS.KISMaxSubscriptions = 2 })
	key := approvalKey(t, ts)
	url := wsURL(ts, kauth.KIS, kauth.Mock, "")
	c := dial(t, url)

	send(t, c, kisSub("not-a-key", "1", "H0STCNT0", "005930"))
	if a := answer(t, c); a.Body.MsgCd != "OPSP0011" || a.Body.RtCd == "0" {
		t.Errorf("unknown key = %+v; want OPSP0011", a.Body)
	}
	send(t, c, []byte("{not json"))
	if a := answer(t, c); a.Body.RtCd == "0" {
		t.Errorf("bad JSON answered success")
	}
	for _, code := range []string{"005930", "000660"} {
		send(t, c, kisSub(key, "1", "H0STCNT0", code))
		if a := answer(t, c); a.Body.MsgCd != "OPSP0000" {
			t.Fatalf("subscribe %s = %s", code, a.Body.MsgCd)
		}
	}
	send(t, c, kisSub(key, "1", "H0STCNT0", "035420"))
	if a := answer(t, c); a.Body.MsgCd != "OPSP0008" || a.Body.Msg1 != "MAX SUBSCRIBE OVER" {
		t.Errorf("third subscribe = %+v; want OPSP0008 MAX SUBSCRIBE OVER", a.Body)
	}

	// One session per app key: a second connection is refused, even with a
	// fresh approval key.
	c2 := dial(t, url)
	send(t, c2, kisSub(approvalKey(t, ts), "1", "H0STCNT0", "035420"))
	if a := answer(t, c2); a.Body.MsgCd != "OPSP8996" {
		t.Errorf("second session = %+v; want OPSP8996", a.Body)
	}
	// Once the first goes, the second may take the app key.
	c.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for sim.WSStats(kauth.KIS, kauth.Mock, brokersim.DemoKISMock.AppKey).Live != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	send(t, c2, kisSub(key, "1", "H0STCNT0", "035420"))
	if a := answer(t, c2); a.Body.MsgCd != "OPSP0000" {
		t.Errorf("after the first closed = %+v; want OPSP0000", a.Body)
	}

	// A key invalidated behind the holder's back.
	sim.InvalidateApprovalKey(key)
	send(t, c2, kisSub(key, "1", "H0STCNT0", "005930"))
	if a := answer(t, c2); a.Body.MsgCd != "OPSP0011" {
		t.Errorf("invalidated key = %+v; want OPSP0011", a.Body)
	}
	st := sim.WSStats(kauth.KIS, kauth.Mock, brokersim.DemoKISMock.AppKey)
	if st.Refused != 1 || st.Rejected != 1 {
		t.Errorf("stats = %+v; want 1 refused, 1 rejected", st)
	}
}

func TestKISWebSocketPingPong(t *testing.T) {
	for _, tc := range []struct {
		name string
		echo func(c *websocket.Conn, msg string) error
		kept bool
	}{
		{"text echo", func(c *websocket.Conn, msg string) error {
			return c.Write(context.Background(), websocket.MessageText, []byte(msg))
		}, true},
		{"no echo", func(*websocket.Conn, string) error { return nil }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ts := wsSim(t, func(s *brokersim.Server) {
				s.WS.PingInterval = 20 * time.Millisecond
				s.WS.MissedPings = 8
			})
			c := dial(t, wsURL(ts, kauth.KIS, kauth.Mock, ""))
			ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
			defer cancel()
			var err error
			pings := 0
			for {
				var b []byte
				_, b, err = c.Read(ctx)
				if err != nil {
					break
				}
				if !bytes.Contains(b, []byte(`"tr_id":"PINGPONG"`)) {
					t.Fatalf("unexpected %s", b)
				}
				pings++
				tc.echo(c, string(b))
			}
			closed := websocket.CloseStatus(err) == websocket.StatusPolicyViolation
			if closed == tc.kept {
				t.Errorf("after %d pings: err = %v; kept open = %v, want %v", pings, err, !closed, tc.kept)
			}
		})
	}
}

func TestKISWebSocketExecutionNotice(t *testing.T) {
	sim, ts := wsSim(t, nil)
	key := approvalKey(t, ts)
	c := dial(t, wsURL(ts, kauth.KIS, kauth.Mock, ""))
	send(t, c, kisSub(key, "1", "H0STCNI9", "myhtsid"))
	a := answer(t, c)
	if a.Body.MsgCd != "OPSP0000" {
		t.Fatalf("subscribe = %+v", a.Body)
	}
	if !sim.NotifyExecution(kauth.Mock, brokersim.DemoKISMock.AppKey, "005930", 10, 71000) {
		t.Fatal("no session took the notice")
	}
	f := recv(t, c)
	parts := strings.SplitN(f, "|", 4)
	if len(parts) != 4 || parts[0] != "1" || parts[1] != "H0STCNI9" {
		t.Fatalf("frame = %q; want 1|H0STCNI9|001|…", f)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(raw)%aes.BlockSize != 0 {
		t.Fatalf("not base64 AES blocks: %v", err)
	}
	block, _ := aes.NewCipher([]byte(a.Body.Output.Key))
	cipher.NewCBCDecrypter(block, []byte(a.Body.Output.IV)).CryptBlocks(raw, raw)
	raw = raw[:len(raw)-int(raw[len(raw)-1])]
	fields := strings.Split(string(raw), "^")
	if len(fields) != 26 || fields[0] != "myhtsid" || fields[8] != "005930" || fields[9] != "10" || fields[13] != "2" {
		t.Errorf("decrypted notice = %v", fields)
	}
}

func TestWebSocketUnknownPath(t *testing.T) {
	_, ts := wsSim(t, nil)
	_, resp, err := websocket.Dial(context.Background(), wsURL(ts, kauth.Kiwoom, kauth.Mock, "/elsewhere"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("dial elsewhere: %v; want 404", err)
	}
}

func TestWebSocketControls(t *testing.T) {
	_, ts := wsSim(t, nil)
	key := approvalKey(t, ts)
	c := dial(t, wsURL(ts, kauth.KIS, kauth.Mock, ""))
	send(t, c, kisSub(key, "1", "H0STCNT0", "005930"))
	answer(t, c)
	get := func(method, path string) map[string]json.RawMessage {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, err)
		}
		return m
	}
	m := get("GET", "/_sim/ws")
	var st brokersim.WSStats
	json.Unmarshal(m[brokersim.DemoKISMock.Credentials().Key().String()], &st)
	if st.Live != 1 || st.Subscribes != 1 || len(st.Topics) != 1 {
		t.Errorf("/_sim/ws = %s", m)
	}
	if d := get("POST", "/_sim/ws/tick?n=2"); string(d["ticks"]) != "2" {
		t.Errorf("/_sim/ws/tick = %v", d)
	}
	for range 2 {
		if f := recv(t, c); !strings.HasPrefix(f, "0|H0STCNT0|001|005930^") {
			t.Errorf("after a tick: %q", f)
		}
	}
	if d := get("POST", "/_sim/ws/drop"); string(d["dropped"]) != "1" {
		t.Errorf("/_sim/ws/drop = %v", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := c.Read(ctx); err == nil {
		t.Error("session survived the drop")
	}
}
