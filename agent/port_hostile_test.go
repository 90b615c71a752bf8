package agent_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth/agent"
)

// TestPortCapsClientsAwaitingAdmission: a neighbour that opens WebSockets
// on a facade port and sends nothing holds at most 64 of them awaiting
// admission; the next upgrade is answered 503 with Retry-After, while the
// client admitted before keeps its frames and the account's other port
// admits as usual. Requests without the key whose body trickles in hold
// none of the account's max_in_flight slots and are answered 408 after
// body_timeout; headers over 1 MiB are answered 431.
func TestPortCapsClientsAwaitingAdmission(t *testing.T) {
	h, bot, _, _ := portHarnessWith(t, func(c *agent.Config) {
		c.MaxInFlight = 2
		c.BodyTimeout = 500 * time.Millisecond
	})
	port := h.ep.Ports["kis-mock"]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func(addr string) (*websocket.Conn, *http.Response, error) {
		c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/tryitout", nil)
		if err == nil {
			t.Cleanup(func() { c.CloseNow() })
		}
		return c, resp, err
	}
	c, _, err := dial(port)
	if err != nil {
		t.Fatal(err)
	}
	admitted := &wsConn{t: t, c: c}
	admitted.kisSubscribeWith(bot, "005930")
	admitted.wantControl("OPSP0000", "005930")

	for i := range 64 {
		if _, _, err := dial(port); err != nil {
			t.Fatalf("silent client #%d: %v", i+1, err)
		}
	}
	_, resp, err := dial(port)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Errorf("the 65th client awaiting admission: %d, %v; want 503 with Retry-After: 1", status, err)
	}
	h.sim.Tick()
	if code, _ := admitted.frame(); code != "005930" {
		t.Errorf("the admitted client got a frame of %s", code)
	}
	c, _, err = dial(h.ep.Ports["kis-real"])
	if err != nil {
		t.Fatalf("the other port: %v", err)
	}
	other := &wsConn{t: t, c: c}
	other.kisSubscribeWith(bot, "000660")
	other.wantControl("OPSP0000", "000660")

	// Four token requests without the key that never finish their body:
	// past max_in_flight (2), yet a keyed call goes through.
	answers := make(chan string, 4)
	for range 4 {
		conn, err := net.Dial("tcp", port)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("POST /oauth2/tokenP HTTP/1.1\r\nHost: " + port + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"appsecret\":")); err != nil {
			t.Fatal(err)
		}
		go func() {
			line, _ := bufio.NewReader(conn).ReadString('\n')
			answers <- strings.TrimSpace(line)
		}()
	}
	a := pyDo(t, port, "GET", "http://"+port+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930",
		[][2]string{{"tr_id", "FHKST01010100"}, {"Authorization", "Bearer " + bot}}, "")
	if a.status != http.StatusOK {
		t.Errorf("a keyed call while 4 bodies trickle in = %d %s; want 200", a.status, a.body)
	}
	// Headers past Go's 1 MiB (http.DefaultMaxHeaderBytes) are refused
	// before anything reads them.
	conn, err := net.Dial("tcp", port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	// The agent may close before all of it is written.
	go conn.Write([]byte("GET /uapi/x HTTP/1.1\r\nHost: " + port + "\r\nX-Pad: " + strings.Repeat("a", 2<<20) + "\r\n\r\n"))
	if line, _ := bufio.NewReader(conn).ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 431") {
		t.Errorf("2 MiB of headers: %q; want 431", strings.TrimSpace(line))
	}
	for range 4 {
		select {
		case line := <-answers:
			if !strings.HasPrefix(line, "HTTP/1.1 408") {
				t.Errorf("a body that never came: %q; want 408", line)
			}
		case <-ctx.Done():
			t.Fatal("a body that never came was not answered")
		}
	}
}
