package brokersim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

const tossName kauth.Broker = "toss"

func tossWSToken(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	app := brokersim.DemoTossReal
	resp, err := http.PostForm(brokersim.BaseURL(ts.URL, tossName, kauth.Real)+"/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {app.AppKey}, "client_secret": {app.Secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("token: %s %v", resp.Status, err)
	}
	return body.AccessToken
}

// tossDial opens /ws/v1 with tok, and returns the connection or the
// handshake's status.
func tossDial(t *testing.T, ts *httptest.Server, tok string) (*websocket.Conn, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, wsURL(ts, tossName, kauth.Real, "/ws/v1"), &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
	if err != nil {
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, http.StatusSwitchingProtocols
}

type tossFrame struct {
	Type       string   `json:"type"`
	ID         string   `json:"id"`
	Topic      string   `json:"topic"`
	Subscribed []string `json:"subscribed"`
	Error      struct {
		Code string `json:"code"`
	} `json:"error"`
}

func tossRecv(t *testing.T, c *websocket.Conn) tossFrame {
	t.Helper()
	var f tossFrame
	if s := recv(t, c); json.Unmarshal([]byte(s), &f) != nil {
		t.Fatalf("not JSON: %s", s)
	}
	return f
}

func declaration(id string, n int) []byte {
	codes := make([]string, n)
	for i := range codes {
		codes[i] = fmt.Sprintf("%06d", i)
	}
	b, _ := json.Marshal([]map[string]any{{"id": id}, {"type": "trade:kr", "codes": codes}})
	return b
}

func TestTossWebSocket(t *testing.T) {
	sim, ts := wsSim(t, nil)
	if _, status := tossDial(t, ts, "not-a-token"); status != http.StatusUnauthorized {
		t.Fatalf("handshake with a bad token = %d; want 401", status)
	}
	tok := tossWSToken(t, ts)
	c, status := tossDial(t, ts, tok)
	if c == nil {
		t.Fatalf("handshake = %d", status)
	}

	// Each declaration replaces the set.
	send(t, c, declaration("req-1", 2))
	if f := tossRecv(t, c); f.Type != "subscriptions" || f.ID != "req-1" || len(f.Subscribed) != 2 {
		t.Fatalf("ack = %+v", f)
	}
	send(t, c, []byte(`[{"id":"req-2"},{"type":"orderbook:kr","codes":["005930"]}]`))
	if f := tossRecv(t, c); f.Type != "subscriptions" || strings.Join(f.Subscribed, ",") != "orderbook:kr:005930" {
		t.Fatalf("second ack = %+v; want the set replaced", f)
	}
	sim.Tick()
	if f := tossRecv(t, c); f.Type != "message" || f.Topic != "orderbook:kr:005930" {
		t.Fatalf("tick = %+v", f)
	}
	// PING, a text frame, is answered pong.
	send(t, c, []byte("PING"))
	if f := tossRecv(t, c); f.Type != "pong" {
		t.Fatalf("PING answered %+v", f)
	}
	// 101 topics are refused and the set is kept.
	send(t, c, declaration("big", 101))
	if f := tossRecv(t, c); f.Type != "error" || f.Error.Code != "too-many-topics" {
		t.Fatalf("101 topics = %+v; want too-many-topics", f)
	}
	if st := sim.WSStats(tossName, kauth.Real, brokersim.DemoTossReal.AppKey); strings.Join(st.Topics, ",") != "orderbook:kr:005930" || st.Live != 1 {
		t.Fatalf("stats = %+v; want the earlier set kept", st)
	}
	// More than 5 declarations a second: rate-limit-exceeded.
	var codes []string
	for i := range 6 {
		send(t, c, declaration(fmt.Sprint("r", i), 1))
		codes = append(codes, tossRecv(t, c).Type)
	}
	if codes[5] != "error" {
		t.Fatalf("6 declarations in a second answered %v; want the last refused", codes)
	}
	other := []byte(`[{"type":"bogus:kr","codes":["1"]}]`)
	time.Sleep(time.Second)
	send(t, c, other)
	if f := tossRecv(t, c); f.Error.Code != "invalid-type" {
		t.Fatalf("bogus type = %+v", f)
	}
}

// TestTossWebSocketThirdDisplacesOldest: at most two connections per
// account; a third is accepted and the oldest is closed.
func TestTossWebSocketThirdDisplacesOldest(t *testing.T) {
	sim, ts := wsSim(t, nil)
	tok := tossWSToken(t, ts)
	first, _ := tossDial(t, ts, tok)
	second, _ := tossDial(t, ts, tok)
	third, _ := tossDial(t, ts, tok)
	if first == nil || second == nil || third == nil {
		t.Fatal("a handshake failed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := first.Read(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("the oldest connection still reads: %v", err)
	}
	for _, c := range []*websocket.Conn{second, third} {
		send(t, c, []byte("PING"))
		if f := tossRecv(t, c); f.Type != "pong" {
			t.Fatalf("a newer connection answered %+v", f)
		}
	}
	st := sim.WSStats(tossName, kauth.Real, brokersim.DemoTossReal.AppKey)
	if st.Live != 2 || st.Opened != 3 || st.Replaced != 1 {
		t.Errorf("stats = %+v; want 2 live, 3 opened, 1 displaced", st)
	}
}

// TestTossWebSocketIdle: a connection the client sends nothing on is
// closed after the idle timeout; one that sends PING stays.
func TestTossWebSocketIdle(t *testing.T) {
	// The talking connection pings every 300 ms against a 1 s idle
	// timeout, a margin that a loaded machine's scheduling delays stay
	// within; the silent one outlives the timeout by half.
	_, ts := wsSim(t, func(s *brokersim.Server) { s.WS.TossIdleTimeout = time.Second })
	tok := tossWSToken(t, ts)
	quiet, _ := tossDial(t, ts, tok)
	talking, _ := tossDial(t, ts, tok)
	for range 5 {
		time.Sleep(300 * time.Millisecond)
		send(t, talking, []byte("PING"))
		if f := tossRecv(t, talking); f.Type != "pong" {
			t.Fatalf("PING answered %+v", f)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := quiet.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("the silent connection: %v; want closed for idling", err)
	}
}

func TestTossWebSocketIPAllowList(t *testing.T) {
	sim, ts := wsSim(t, nil)
	tok := tossWSToken(t, ts)
	sim.SetTossAllowList("203.0.113.7")
	if _, status := tossDial(t, ts, tok); status != http.StatusForbidden {
		t.Fatalf("handshake from an unregistered IP = %d; want 403", status)
	}
}

// TestTossWebSocketFrames: data frames have the AsyncAPI shapes with
// plausible values: a trade's price is the stock's, on its tick, in KRW for
// trade:kr and in dollars and cents for trade:us; an orderbook has asks
// above bids, asks rising and bids falling.
func TestTossWebSocketFrames(t *testing.T) {
	sim, ts := wsSim(t, nil)
	c, status := tossDial(t, ts, tossWSToken(t, ts))
	if c == nil {
		t.Fatalf("handshake = %d", status)
	}
	send(t, c, []byte(`[{"type":"trade:kr","codes":["005930"]},{"type":"trade:us","codes":["AAPL"]},{"type":"orderbook:kr","codes":["000660"]}]`))
	if f := tossRecv(t, c); f.Type != "subscriptions" || len(f.Subscribed) != 3 {
		t.Fatalf("ack = %+v", f)
	}
	type level struct{ Price, Volume string }
	type frame struct {
		Type, Topic string
		Data        struct {
			Price, Volume, Timestamp, Currency string
			Asks, Bids                         []level
		}
	}
	sim.Tick()
	got := map[string]frame{}
	for range 3 {
		var f frame
		if s := recv(t, c); json.Unmarshal([]byte(s), &f) != nil || f.Type != "message" {
			t.Fatalf("frame %s", s)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000-07:00", f.Data.Timestamp); f.Data.Timestamp != "" && err != nil {
			t.Errorf("%s timestamp %q: %v", f.Topic, f.Data.Timestamp, err)
		}
		got[f.Topic] = f
	}
	num := func(s string) float64 {
		var v float64
		if _, err := fmt.Sscan(s, &v); err != nil {
			t.Fatalf("%q is not a number", s)
		}
		return v
	}
	kr := got["trade:kr:005930"].Data
	if p := num(kr.Price); kr.Currency != "KRW" || p < 60000 || p > 80000 || int(p)%100 != 0 || num(kr.Volume) <= 0 || kr.Timestamp == "" {
		t.Errorf("trade:kr:005930 = %+v; want a KRW price near 71,000 on its 100-won tick", kr)
	}
	us := got["trade:us:AAPL"].Data
	if us.Currency != "USD" || !strings.Contains(us.Price, ".") || num(us.Price) <= 0 {
		t.Errorf("trade:us:AAPL = %+v; want a USD price in dollars and cents", us)
	}
	ob := got["orderbook:kr:000660"].Data
	if ob.Currency != "KRW" || len(ob.Asks) == 0 || len(ob.Bids) == 0 || num(ob.Asks[0].Price) <= num(ob.Bids[0].Price) {
		t.Fatalf("orderbook:kr:000660 = %+v; want asks above bids", ob)
	}
	for i := 1; i < len(ob.Asks); i++ {
		if num(ob.Asks[i].Price) <= num(ob.Asks[i-1].Price) || num(ob.Bids[i].Price) >= num(ob.Bids[i-1].Price) {
			t.Fatalf("orderbook levels out of order: %+v", ob)
		}
	}
}
