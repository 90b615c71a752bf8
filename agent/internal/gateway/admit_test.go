package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth/agent/internal/gateway"
	"github.com/kauth/kauth/internal/fakeclock"
)

// kisFrame is a KIS subscribe to 005930 with approval key key.
func kisFrame(key string) map[string]any {
	f := kisSubscribe("1", "005930")
	f["header"].(map[string]string)["approval_key"] = key
	return f
}

// TestGatewaySilentClientClosedWithPolicyViolation: a gated client that
// sends nothing is closed with 1008 and a reason once the admission
// timeout has passed, not before, as a client with a wrong key is.
func TestGatewaySilentClientClosedWithPolicyViolation(t *testing.T) {
	if gateway.DefaultAdmitTimeout != 10*time.Second || gateway.DefaultMaxAwaiting != 64 || gateway.AdmitReadLimit != 64<<10 {
		t.Errorf("defaults %v, %d, %d; the README says 10 s, 64 and 64 KiB", gateway.DefaultAdmitTimeout, gateway.DefaultMaxAwaiting, gateway.AdmitReadLimit)
	}
	const timeout = 300 * time.Millisecond
	e := newEnv(t, func(c *gateway.Config) { c.AdmitTimeout = timeout })
	e.addKIS("kis")
	e.gates["kis"] = func([]byte) bool { return true }
	start := time.Now()
	silent := e.dial("kis", "keyed=1", nil)
	code, reason := silent.closed()
	if took := time.Since(start); took < timeout {
		t.Errorf("closed after %v; want no sooner than the admission timeout %v", took, timeout)
	}
	if code != websocket.StatusPolicyViolation || !strings.Contains(reason, "no credential") {
		t.Errorf("silent client: closed %d %q; want 1008 saying no credential came", code, reason)
	}
	if st := e.kisWS(); st.Opened != 0 {
		t.Errorf("a silent client opened an upstream session: %+v", st)
	}
}

// TestGatewayFirstFrameOverTheLimit: a gated client's first frame larger
// than AdmitReadLimit is not read into memory, not checked, and closes the
// client with 1009 (message too big).
func TestGatewayFirstFrameOverTheLimit(t *testing.T) {
	e := newEnv(t, nil)
	e.addKIS("kis")
	var checked atomic.Int32
	e.gates["kis"] = func([]byte) bool { checked.Add(1); return true }
	big := e.dial("kis", "keyed=1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The server may close before the whole frame is written.
	_ = big.c.Write(ctx, websocket.MessageText, []byte(`{"token":"`+strings.Repeat("A", gateway.AdmitReadLimit)+`"}`))
	if code, _ := big.closed(); code != websocket.StatusMessageTooBig {
		t.Errorf("first frame over %d bytes: closed %d; want 1009", gateway.AdmitReadLimit, code)
	}
	if checked.Load() != 0 {
		t.Errorf("the gate checked %d frames; want none", checked.Load())
	}
}

// TestGatewayRefusalLogThinned: a client refused for its credential in a
// loop writes the first warning, then at most one a minute (LogEvery),
// which counts the refusals held back; another account's first refusal is
// logged as it comes.
func TestGatewayRefusalLogThinned(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	e := newEnv(t, func(c *gateway.Config) { c.Clock = clk })
	e.addKIS("kis")
	e.addKIS("kis2")
	no := func([]byte) bool { return false }
	e.gates["kis"], e.gates["kis2"] = no, no
	const event = "agent: facade port refused a WebSocket client without the account's credential"
	refuse := func(name string) {
		t.Helper()
		w := e.dial(name, "keyed=1", nil)
		w.send(kisFrame("wrong"))
		if code, _ := w.closed(); code != websocket.StatusPolicyViolation {
			t.Fatalf("wrong key: closed %d; want 1008", code)
		}
	}
	for range 20 {
		refuse("kis")
	}
	refuse("kis2")
	if n := strings.Count(e.logs.String(), event); n != 2 {
		t.Fatalf("%d warnings for 20 refusals of kis and 1 of kis2; want 2 (the first of each):\n%s", n, e.logs)
	}
	clk.Advance(time.Minute)
	refuse("kis")
	logs := e.logs.String()
	if n := strings.Count(logs, event); n != 3 {
		t.Fatalf("%d warnings a minute later; want 3", n)
	}
	last := logs[strings.LastIndex(logs, event):]
	if !strings.Contains(last, "account=kis ") || !strings.Contains(last, "suppressed.count=19 suppressed.since=2026-01-05T09:00:00.000Z") {
		t.Errorf("the warning a minute later = %q; want kis's with suppressed=19 since the first held back", last)
	}
	if strings.Contains(logs, "wrong") {
		t.Error("the logs hold the key sent")
	}
}

// TestGatewayCapsClientsAwaitingAdmission: beyond MaxAwaiting gated
// clients of one account awaiting their first frame, an upgrade is refused
// with 503 before it is accepted; the client admitted before is served on,
// another account's clients are not counted, and a slot frees when a
// client is admitted or closed.
func TestGatewayCapsClientsAwaitingAdmission(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.MaxAwaiting = 3; c.AdmitTimeout = time.Minute })
	e.addKIS("kis")
	e.addKIS("kis2")
	gate := func(first []byte) bool { return strings.Contains(string(first), `"approval_key":"right"`) }
	e.gates["kis"], e.gates["kis2"] = gate, gate

	admitted := e.dial("kis", "keyed=1", nil)
	admitted.send(kisFrame("right"))
	admitted.wantControl("OPSP0000", "005930")

	var silent []*conn
	for range 3 {
		silent = append(silent, e.dial("kis", "keyed=1", nil))
	}
	dial := func(name string) (*websocket.Conn, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/ws/"+name+"?keyed=1", nil)
		if err != nil {
			if resp == nil {
				t.Fatalf("dial %s: %v", name, err)
			}
			return nil, resp.StatusCode
		}
		t.Cleanup(func() { c.CloseNow() })
		return c, http.StatusSwitchingProtocols
	}
	if _, status := dial("kis"); status != http.StatusServiceUnavailable {
		t.Errorf("a 4th client awaiting admission: %d; want 503", status)
	}
	if !strings.Contains(e.logs.String(), "agent: facade port refused a WebSocket client: too many await admission") {
		t.Errorf("no warning of the refusal; logs:\n%s", e.logs)
	}
	if c, status := dial("kis2"); c == nil {
		t.Errorf("another account's client: %d; want it upgraded", status)
	}
	// The admitted client is served on.
	e.sim.Tick()
	if code, _ := admitted.frame(); code != "005930" {
		t.Errorf("admitted client got a frame of %s", code)
	}
	// A client that goes frees its slot.
	silent[0].c.CloseNow()
	eventually(t, "a slot freed", func() bool {
		c, _ := dial("kis")
		if c == nil {
			return false
		}
		w := &conn{t: t, c: c}
		w.send(kisFrame("right"))
		w.wantControl("OPSP0000", "005930")
		return true
	})
	// A slot is freed by admission too: the client just admitted holds
	// none, so one more may await.
	if c, status := dial("kis"); c == nil {
		t.Errorf("a client after one was admitted: %d; want it upgraded", status)
	}
}
