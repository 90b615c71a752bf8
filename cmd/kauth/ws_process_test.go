package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
)

// TestProcessServeWebSocketKillAndRestart: two bots share one upstream KIS
// session through a real `kauth serve`; the agent is SIGKILLed; a new one on
// the same cache serves them again, with the approval key from the
// encrypted file store.
func TestProcessServeWebSocketKillAndRestart(t *testing.T) {
	sim := newTestSim(t)
	sim.WS.TickInterval = -1
	sim.WS.PingInterval = -1
	runtime := t.TempDir()
	os.Chmod(runtime, 0o700)
	env := sim.env(t, kauth.Mock)
	env["KIS_ENV"], env["KIWOOM_ENV"], env["XDG_RUNTIME_DIR"] = "mock", "mock", runtime

	start := func() (*daemon, *http.Client) {
		d := startDaemon(t, env, "serve")
		sock := d.waitLine(t, regexp.MustCompile(`^\s+socket\s+(\S+)`))[1]
		return d, &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	}
	bot := func(c *http.Client, codes ...string) *websocket.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, "ws://localhost/ws/kis-mock", &websocket.DialOptions{HTTPClient: c})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.CloseNow() })
		for _, code := range codes {
			msg, _ := json.Marshal(map[string]any{
				"header": map[string]string{"approval_key": "placeholder", "custtype": "P", "tr_type": "1", "content-type": "utf-8"},
				"body":   map[string]any{"input": map[string]string{"tr_id": "H0STCNT0", "tr_key": code}},
			})
			ws.Write(ctx, websocket.MessageText, msg)
			if _, ans, err := ws.Read(ctx); err != nil || !strings.Contains(string(ans), "OPSP0000") {
				t.Fatalf("subscribe %s: %s %v", code, ans, err)
			}
		}
		return ws
	}
	frames := func(ws *websocket.Conn, n int) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var codes []string
		for range n {
			_, b, err := ws.Read(ctx)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			f := strings.SplitN(string(b), "|", 4)
			codes = append(codes, strings.SplitN(f[3], "^", 2)[0])
		}
		return codes
	}
	stats := func() (live, opened int, topics string) {
		st := sim.WSStats(kauth.KIS, kauth.Mock, fakeKISKey)
		return st.Live, st.Opened, strings.Join(st.Topics, ",")
	}

	d, c := start()
	a, b := bot(c, "005930"), bot(c, "005930", "000660")
	sim.Tick()
	if got := frames(a, 1); got[0] != "005930" {
		t.Errorf("bot a got %v", got)
	}
	if got := strings.Join(frames(b, 2), ","); got != "000660,005930" {
		t.Errorf("bot b got %v", got)
	}
	if live, opened, topics := stats(); live != 1 || opened != 1 || topics != "H0STCNT0|000660,H0STCNT0|005930" {
		t.Fatalf("simulator: live %d, opened %d, %s; want one session, one subscription per code", live, opened, topics)
	}

	// SIGKILL: no goodbye. The OS closes the sockets.
	if code := d.stop(t, syscall.SIGKILL); code == 0 {
		t.Errorf("killed agent exited 0")
	}
	deadline := time.Now().Add(10 * time.Second)
	for live, _, _ := stats(); live != 0; live, _, _ = stats() {
		if time.Now().After(deadline) {
			t.Fatal("the killed agent's upstream session lingers")
		}
		time.Sleep(10 * time.Millisecond)
	}

	_, c2 := start()
	a2, b2 := bot(c2, "005930"), bot(c2, "005930", "000660")
	sim.Tick()
	frames(a2, 1)
	frames(b2, 2)
	if live, opened, topics := stats(); live != 1 || opened != 2 || topics != "H0STCNT0|000660,H0STCNT0|005930" {
		t.Errorf("after the restart: live %d, opened %d, %s", live, opened, topics)
	}
	if n := sim.Stats().Approvals; n != 1 {
		t.Errorf("approvals = %d; want 1: the new agent reuses the stored key", n)
	}
}
