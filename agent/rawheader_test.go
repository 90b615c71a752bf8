package agent_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
)

// rawUpstream is a broker written byte by byte: it answers the token call
// and a few /uapi paths with header names spelt as KIS and Kiwoom spell
// them, which Go's own server would canonicalize.
type rawUpstream struct {
	ln      net.Listener
	release chan struct{} // lets /uapi/stream send its last chunk
	scheme  string        // "https" when serving TLS

	mu    sync.Mutex
	peers map[string]int // remote address of each /uapi request → count
	wg    sync.WaitGroup
}

// rawAnswer is the header block of /uapi/raw's final answer.
const rawAnswer = "HTTP/1.1 200 OK\r\n" +
	"Content-Type: application/json; charset=UTF-8\r\n" +
	"tr_id: FHKST01010100\r\n" +
	"tr_cont: M\r\n" +
	"gt_uid: 0123456789abcdef\r\n" +
	"api-id: ka10001\r\n" +
	"cont-yn: Y\r\n" +
	"next-key: 20241107\r\n" +
	"X-mIxEd: odd case\r\n"

const rawBody = `{"rt_cd":"0","msg_cd":"MCA00000","msg1":"정상처리 되었습니다."}`

func newRawUpstream(t *testing.T) *rawUpstream { return newRawUpstreamTLS(t, nil) }

// newRawUpstreamTLS serves over TLS with conf when it is not nil.
func newRawUpstreamTLS(t *testing.T, conf *tls.Config) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln, release: make(chan struct{}), peers: map[string]int{}}
	if conf != nil {
		u.ln, u.scheme = tls.NewListener(ln, conf), "https"
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := u.ln.Accept()
			if err != nil {
				return
			}
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				u.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		select {
		case <-u.release:
		default:
			close(u.release)
		}
		u.wg.Wait()
	})
	return u
}

func (u *rawUpstream) url() string {
	scheme := u.scheme
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + u.ln.Addr().String()
}

func (u *rawUpstream) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
		if strings.HasPrefix(req.URL.Path, "/uapi/") {
			u.mu.Lock()
			u.peers[c.RemoteAddr().String()]++
			u.mu.Unlock()
		}
		switch req.URL.Path {
		case "/oauth2/tokenP":
			exp := time.Now().Add(24 * time.Hour).In(kauth.KST).Format("2006-01-02 15:04:05")
			body := fmt.Sprintf(`{"access_token":"raw-upstream-token-%d","token_type":"Bearer","expires_in":86400,"access_token_token_expired":%q}`, time.Now().UnixNano(), exp)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		case "/uapi/raw":
			// An interim answer first: the final one's names must still be
			// the ones relayed.
			io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n")
			fmt.Fprintf(c, "%sContent-Length: %d\r\n\r\n%s", rawAnswer, len(rawBody), rawBody)
		case "/uapi/stream":
			// A chunked answer whose end waits for the client to have read
			// its start: only a proxy that streams gets it through.
			first := `{"rt_cd":"0","pad":"` + strings.Repeat("x", 8<<10) + `",`
			last := `"msg1":"end"}`
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ntr_cont: F\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(first), first)
			<-u.release
			fmt.Fprintf(c, "%x\r\n%s\r\n0\r\n\r\n", len(last), last)
		default:
			io.WriteString(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
		}
	}
}

// rawAgent serves one KIS account whose broker is u.
func rawAgent(t *testing.T, u *rawUpstream) *harness { return rawAgentWith(t, u, nil) }

// rawAgentWith makes the agent's calls through client when it is not nil.
func rawAgentWith(t *testing.T, u *rawUpstream, client *http.Client) *harness {
	return newHarness(t, setup{
		cfg: func(c *agent.Config) {
			c.Accounts = []agent.Account{{Name: "raw", Broker: "kis", Env: "real",
				AppKey: agent.Secret{Env: "KIS_REAL_KEY"}, AppSecret: agent.Secret{Env: "KIS_REAL_SECRET"},
				BaseURL: u.url()}}
		},
		opts: func(o *agent.Options) { o.HTTPClient = client },
	})
}

// rawExchange sends one request over conn and returns the final answer's
// header block as sent and its body, reading the bytes off the wire.
func rawExchange(t *testing.T, conn net.Conn, br *bufio.Reader, request string) (string, string) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	for {
		var block strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the answer: %v (so far %q)", err, block.String())
			}
			block.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		if strings.HasPrefix(block.String(), "HTTP/1.1 1") {
			continue // an interim answer
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(block.String())), nil)
		if err != nil {
			t.Fatalf("parsing %q: %v", block.String(), err)
		}
		resp.Body.Close()
		var body []byte
		switch {
		case resp.ContentLength >= 0:
			body = make([]byte, resp.ContentLength)
			if _, err := io.ReadFull(br, body); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("want a sized answer, got %q", block.String())
		}
		return block.String(), string(body)
	}
}

// TestProxyRelaysHeaderNamesAsSent proves the relay byte for byte: an
// upstream writing tr_cont, gt_uid, api-id and X-mIxEd, the real agent
// listener, and the raw answer read on the client side. Two calls on one
// client connection reach the upstream over one pooled connection.
func TestProxyRelaysHeaderNamesAsSent(t *testing.T) {
	u := newRawUpstream(t)
	checkRawRelay(t, u, rawAgent(t, u))
}

// TestProxyRelaysHeaderNamesAsSentOverTLS: the same against an HTTPS
// broker, whose plaintext the capture sits above.
func TestProxyRelaysHeaderNamesAsSentOverTLS(t *testing.T) {
	cert := httptest.NewUnstartedServer(nil)
	cert.StartTLS()
	conf := cert.TLS.Clone()
	client := cert.Client() // trusts the certificate
	cert.Close()
	tr := client.Transport.(*http.Transport).Clone()
	u := newRawUpstreamTLS(t, conf)
	t.Cleanup(tr.CloseIdleConnections) // before the upstream waits for its connections
	checkRawRelay(t, u, rawAgentWith(t, u, &http.Client{Timeout: 30 * time.Second, Transport: tr}))
}

func checkRawRelay(t *testing.T, u *rawUpstream, h *harness) {
	t.Helper()
	conn, err := net.Dial("tcp", h.ep.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	req := "GET /proxy/raw/uapi/raw HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + h.key + "\r\ntr_id: FHKST01010100\r\n\r\n"
	for i := range 2 {
		block, body := rawExchange(t, conn, br, req)
		if !strings.HasPrefix(block, "HTTP/1.1 200 ") {
			t.Fatalf("call %d: %q", i, block)
		}
		for _, line := range strings.Split(strings.TrimPrefix(rawAnswer, "HTTP/1.1 200 OK\r\n"), "\r\n") {
			if line != "" && !strings.Contains(block, "\r\n"+line+"\r\n") {
				t.Errorf("call %d: the answer lacks the line %q as sent:\n%s", i, line, block)
			}
		}
		for _, canon := range []string{"Tr_cont", "Tr_id", "Gt_uid", "Api-Id", "Cont-Yn", "Next-Key", "X-Mixed"} {
			if strings.Contains(block, "\r\n"+canon+":") {
				t.Errorf("call %d: the answer carries the canonicalized %s:\n%s", i, canon, block)
			}
		}
		if body != rawBody {
			t.Errorf("call %d: body %q", i, body)
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.peers) != 1 {
		t.Errorf("the /uapi calls came over %d upstream connections, want 1 reused: %v", len(u.peers), u.peers)
	}
}

// TestProxyStreamsWithRawNames: a chunked answer keeps its names and
// streams: the client reads its start before the upstream sends its end.
func TestProxyStreamsWithRawNames(t *testing.T) {
	u := newRawUpstream(t)
	h := rawAgent(t, u)
	req, _ := http.NewRequest("GET", "http://"+h.ep.TCP+"/proxy/raw/uapi/stream", nil)
	req.Header.Set("Authorization", "Bearer "+h.key)
	resp, err := h.tcp.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, ok := resp.Header["Tr_cont"]; !ok { // Go's client canonicalizes
		t.Errorf("no tr_cont in %v", resp.Header)
	}
	start := make([]byte, 20)
	if _, err := io.ReadFull(resp.Body, start); err != nil {
		t.Fatal(err)
	}
	close(u.release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(rest, []byte(`"msg1":"end"}`)) {
		t.Errorf("answer ends %q", rest[max(0, len(rest)-20):])
	}
}
