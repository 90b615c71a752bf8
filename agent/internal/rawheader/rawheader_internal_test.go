package rawheader

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// scriptConn is a net.Conn whose reads return the chunks of a script.
type scriptConn struct {
	net.Conn
	chunks []string
}

func (c *scriptConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, net.ErrClosed
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

// readAll drains c in reads of at most size bytes.
func readAll(c net.Conn, size int) {
	buf := make([]byte, size)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// TestRawConnCapture: the final header block is captured wherever the
// reads split it, after interim answers, with bare LF line ends too, and
// never past its end or past the bound.
func TestRawConnCapture(t *testing.T) {
	const final = "HTTP/1.1 200 OK\r\ntr_cont: M\r\nX-mIxEd: 1\r\nContent-Length: 12\r\n\r\n"
	const wire = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" + final + "{\"a\":\"\n\n\"}"
	for size := 1; size <= len(wire); size++ {
		c := &rawConn{Conn: &scriptConn{chunks: []string{wire}}}
		s := new(rawSlot)
		c.expect(s)
		readAll(c, size)
		if got := string(s.get()); got != final {
			t.Fatalf("reads of %d bytes: captured %q", size, got)
		}
	}

	// Bare LF.
	c := &rawConn{Conn: &scriptConn{chunks: []string{"HTTP/1.1 200 OK\ntr_id: A\n\nbody"}}}
	s := new(rawSlot)
	c.expect(s)
	readAll(c, 3)
	if got := rawNames(s.get()); !reflect.DeepEqual(got, map[string]string{"Tr_id": "tr_id"}) {
		t.Errorf("bare LF: %v", got)
	}

	// Too large a block is given up, not captured in part.
	big := "HTTP/1.1 200 OK\r\nx-big: " + strings.Repeat("a", maxCapture) + "\r\n\r\n"
	c = &rawConn{Conn: &scriptConn{chunks: []string{big}}}
	s = new(rawSlot)
	c.expect(s)
	readAll(c, 4096)
	if s.get() != nil {
		t.Errorf("captured %d bytes of an oversized block", len(s.get()))
	}

	// A second request on the connection gets the second answer's block.
	c = &rawConn{Conn: &scriptConn{chunks: []string{"HTTP/1.1 200 OK\r\nA-b: 1\r\n\r\n"}}}
	first := new(rawSlot)
	c.expect(first)
	readAll(c, 100)
	c.Conn = &scriptConn{chunks: []string{"HTTP/1.1 200 OK\r\na-B: 2\r\n\r\n"}}
	second := new(rawSlot)
	c.expect(second)
	readAll(c, 100)
	if a, b := rawNames(first.get())["A-B"], rawNames(second.get())["A-B"]; a != "A-b" || b != "a-B" {
		t.Errorf("first %q, second %q", a, b)
	}
	// Bytes read with no request waiting are not captured.
	idle := &rawConn{Conn: &scriptConn{chunks: []string{"HTTP/1.1 200 OK\r\n\r\n"}}}
	readAll(idle, 100)
	if idle.buf != nil {
		t.Errorf("captured without a slot: %q", idle.buf)
	}
}

func TestRawNames(t *testing.T) {
	block := "HTTP/1.1 200 OK\r\nContent-Type: a\r\ntr_cont: F\r\nTR_CONT: G\r\n folded\r\nbad name: x\r\napi-id: ka10001\r\n\r\n"
	want := map[string]string{"Content-Type": "Content-Type", "Tr_cont": "tr_cont", "Api-Id": "api-id"}
	if got := rawNames([]byte(block)); !reflect.DeepEqual(got, want) {
		t.Errorf("rawNames = %v, want %v", got, want)
	}
}

// BenchmarkRawTransport measures what learning the raw names costs a
// proxied call: the same keep-alive round trip with and without it.
func BenchmarkRawTransport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["tr_id"] = []string{"FHKST01010100"}
		h["tr_cont"] = []string{"D"}
		h["gt_uid"] = []string{"0123456789ABCDEF0123456789ABCDEF"}
		h.Set("Content-Type", "application/json; charset=UTF-8")
		io.WriteString(w, `{"rt_cd":"0","msg_cd":"MCA00000","msg1":"ok"}`)
	}))
	defer srv.Close()
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"plain", http.DefaultTransport.(*http.Transport).Clone()},
		{"raw", NewTransport(http.DefaultTransport.(*http.Transport).Clone(), 64)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h := new(Holder)
				req, _ := http.NewRequestWithContext(WithHolder(context.Background(), h), "GET", srv.URL, nil)
				resp, err := c.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
		c.rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	}
}
