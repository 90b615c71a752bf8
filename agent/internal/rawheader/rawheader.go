// Package rawheader keeps the broker's spelling of response header names.
// Go's HTTP client canonicalizes them as it parses a response; NewTransport
// returns a transport whose connections see each response's header block
// on the wire, and Writer renames the relayed answer's headers back to
// what the broker sent, byte for byte.
package rawheader

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
)

// Header fidelity.
//
// Go's HTTP client canonicalizes response header names as it parses them:
// KIS's tr_cont arrives as Tr_cont, Kiwoom's cont-yn as Cont-Yn. Clients
// written against the brokers depend on the exact spelling — the official
// KIS sample (kis_auth.py, APIResp._setHeader in
// koreainvestment/open-trading-api examples_user) keeps only the header
// names for which str.islower() holds and reads res.getHeader().tr_cont,
// which a relayed Tr_cont breaks. So the proxy relays each name byte for
// byte as the broker sent it.
//
// Design: the proxy's upstream connections are wrapped (rawConn) so that
// they see the bytes of every response's header block. HTTP/1.1 on one
// connection is strictly one request, then its response: Go's Transport
// never pipelines. A request registers a slot on the connection when it
// gets it (httptrace GotConn, which precedes writing the request); the
// connection copies the next final (non-1xx) header block read from the
// wire into that slot, up to the blank line that ends it. Registering
// happens only once the previous response's header block has been read
// (the connection is busy until then), so a block always lands in its own
// request's slot. After RoundTrip the slot's block maps each canonical
// name back to the spelling on the wire. Bodies are never copied: the
// capture stops at the header block's end and the body streams through.
// Connections stay pooled by the Transport as before.
//
// HTTPS connections are dialled and TLS-wrapped by Transport itself
// (DialTLSContext), with the capture above TLS so that it sees plaintext;
// they speak HTTP/1.1, which carries header case (HTTP/2 lowercases every
// name on the wire). When a connection cannot be observed — an HTTPS
// request through a forward proxy, or a caller-supplied RoundTripper that
// is not an *http.Transport — names stay canonical, as before.

// maxCapture bounds one captured header block (Go's own default limit for
// response headers is 1 MiB; a broker's are a few hundred bytes).
const maxCapture = 64 << 10

// rawSlot receives the header block of one response.
type rawSlot struct {
	mu    sync.Mutex
	block []byte
}

func (s *rawSlot) set(b []byte) {
	s.mu.Lock()
	s.block = b
	s.mu.Unlock()
}

func (s *rawSlot) get() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.block
}

// rawConn is a client connection that copies each response's header block.
type rawConn struct {
	net.Conn

	mu      sync.Mutex
	slot    *rawSlot // the request waiting for its header block, or nil
	buf     []byte   // the block read so far
	lineEnd bool     // the last byte read ended a line
	done    bool     // the current slot's block is complete (or given up)
}

// expect registers the slot of the request about to be written on c.
func (c *rawConn) expect(s *rawSlot) {
	c.mu.Lock()
	c.slot, c.buf, c.lineEnd, c.done = s, c.buf[:0], false, false
	c.mu.Unlock()
}

func (c *rawConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.observe(p[:n])
	}
	return n, err
}

// observe feeds bytes read from the wire to the capture.
func (c *rawConn) observe(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(p) > 0 && c.slot != nil && !c.done {
		// A header block ends at an empty line: "\r\n\r\n", or "\n\n",
		// which Go's reader accepts too.
		i := 0
		end := -1
		for ; i < len(p); i++ {
			b := p[i]
			if b == '\n' {
				if c.lineEnd {
					end = i
					break
				}
				c.lineEnd = true
			} else if b != '\r' {
				c.lineEnd = false
			}
		}
		if end < 0 {
			c.buf = append(c.buf, p...)
			if len(c.buf) > maxCapture {
				c.done, c.buf = true, c.buf[:0]
			}
			return
		}
		c.buf = append(c.buf, p[:end+1]...)
		p = p[end+1:]
		c.lineEnd = false
		if len(c.buf) > maxCapture {
			c.done, c.buf = true, c.buf[:0]
			return
		}
		if interim(c.buf) {
			// 100 Continue, 103 Early Hints: the final answer follows.
			c.buf = c.buf[:0]
			continue
		}
		c.slot.set(bytes.Clone(c.buf))
		c.slot, c.done, c.buf = nil, true, c.buf[:0]
	}
}

// interim reports whether block is a 1xx answer other than 101 (after
// which the connection is no longer HTTP).
func interim(block []byte) bool {
	line, _, _ := bytes.Cut(block, []byte("\n"))
	_, status, ok := bytes.Cut(line, []byte(" "))
	return ok && len(status) >= 3 && status[0] == '1' && !bytes.HasPrefix(status, []byte("101"))
}

// rawNames maps each canonical header name of block to the spelling on
// the wire (the first one, when a name came in several spellings).
func rawNames(block []byte) map[string]string {
	lines := strings.Split(string(block), "\n")
	names := make(map[string]string, len(lines))
	for _, l := range lines[1:] { // the status line first
		if l == "" || l[0] == ' ' || l[0] == '\t' {
			continue
		}
		name, _, ok := strings.Cut(l, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t\r") {
			continue
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if _, seen := names[canon]; !seen {
			names[canon] = name
		}
	}
	return names
}

// Transport is an *http.Transport whose connections capture header
// blocks; RoundTrip hands each response's wire spellings to the caller's
// Holder in the request's context.
type Transport struct {
	t *http.Transport
}

// NewTransport returns a transport like base that learns the raw header
// names of the responses to requests whose context carries a Holder (see
// WithHolder), or base itself when it is not an *http.Transport. It keeps
// up to conns idle connections per host.
func NewTransport(base http.RoundTripper, conns int) http.RoundTripper {
	bt, ok := base.(*http.Transport)
	if !ok {
		return base
	}
	t := bt.Clone()
	// One idle connection per concurrent call, up to conns (an account's
	// in-flight bound): a clone of http.DefaultTransport keeps 2 per host,
	// so 16 bots at once would open a new connection (against a broker, a
	// TLS handshake) for most of their calls.
	t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, conns)
	t.MaxIdleConns = max(t.MaxIdleConns, 16*conns)
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &rawConn{Conn: c}, nil
	}
	tlsDial := t.DialTLSContext
	tlsConf := t.TLSClientConfig
	t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if tlsDial != nil {
			c, err := tlsDial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &rawConn{Conn: c}, nil
		}
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conf := &tls.Config{}
		if tlsConf != nil {
			conf = tlsConf.Clone()
		}
		if conf.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			conf.ServerName = host
		}
		// HTTP/1.1 only: HTTP/2 has no header case to keep.
		conf.NextProtos = []string{"http/1.1"}
		tc := tls.Client(c, conf)
		hctx := ctx
		if d := t.TLSHandshakeTimeout; d > 0 {
			// The Transport ignores its own timeout when DialTLSContext
			// is set; keep it.
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		if err := tc.HandshakeContext(hctx); err != nil {
			c.Close()
			return nil, err
		}
		return &rawConn{Conn: tc}, nil
	}
	// The wrapped TLS connections are not *tls.Conn, so the Transport
	// could not negotiate HTTP/2 on them anyway; say so.
	t.ForceAttemptHTTP2 = false
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	return &Transport{t: t}
}

// holderKey carries a *Holder in a proxied request's context.
type holderKey struct{}

// WithHolder returns ctx carrying h: a request made with it through a
// transport of NewTransport leaves its response's wire spellings in h.
func WithHolder(ctx context.Context, h *Holder) context.Context {
	return context.WithValue(ctx, holderKey{}, h)
}

// Holder receives the wire spellings of the last response of a request
// (the last one wins when kauth.Transport retries). Its zero value is ready
// for use.
type Holder struct {
	mu    sync.Mutex
	names map[string]string
}

func (h *Holder) set(m map[string]string) {
	h.mu.Lock()
	h.names = m
	h.mu.Unlock()
}

func (h *Holder) get() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.names
}

// RoundTrip sends req, leaving the response's wire spellings in the Holder
// of req's context if it has one.
func (rt *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	holder, _ := req.Context().Value(holderKey{}).(*Holder)
	if holder == nil {
		return rt.t.RoundTrip(req)
	}
	var mu sync.Mutex
	var slot *rawSlot
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			rc, ok := info.Conn.(*rawConn)
			if !ok {
				return
			}
			s := new(rawSlot)
			rc.expect(s)
			mu.Lock()
			slot = s
			mu.Unlock()
		},
	}
	ctx := httptrace.WithClientTrace(req.Context(), trace)
	resp, err := rt.t.RoundTrip(req.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	mu.Lock()
	s := slot
	mu.Unlock()
	var names map[string]string
	if s != nil {
		if b := s.get(); b != nil {
			names = rawNames(b)
		}
	}
	holder.set(names)
	return resp, nil
}

// CloseIdleConnections closes the pooled upstream connections.
func (rt *Transport) CloseIdleConnections() { rt.t.CloseIdleConnections() }

// keepCanonical are the names Go's server reads or writes itself to frame
// the answer (a renamed Content-Length would make it chunk the body and
// send both; a renamed Date or Content-Type would make it add its own).
// Every client must treat them case-insensitively anyway, and the official
// KIS sample cannot take a lowercase content-type (namedtuple rejects the
// '-'), so they go out in the canonical spelling.
var keepCanonical = map[string]bool{
	"Content-Length":    true,
	"Content-Type":      true,
	"Date":              true,
	"Transfer-Encoding": true,
	"Connection":        true,
	"Trailer":           true,
	"Keep-Alive":        true,
}

// Writer renames the answer's headers to the wire spellings in Holder when
// the proxy writes the status line: by then httputil.ReverseProxy has
// copied them into Header() (canonicalizing, since Header.Add does).
type Writer struct {
	http.ResponseWriter
	Holder *Holder
	wrote  bool
}

func (w *Writer) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.wrote = true
		w.rename()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *Writer) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *Writer) rename() {
	names := w.Holder.get()
	if len(names) == 0 {
		return
	}
	h := w.ResponseWriter.Header()
	for canon, raw := range names {
		if raw == canon || keepCanonical[canon] {
			continue
		}
		vv, ok := h[canon]
		if !ok {
			continue // dropped on the way (hop-by-hop, scrubbed)
		}
		delete(h, canon)
		// Go's server writes a header map's keys as they are.
		h[raw] = vv
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
