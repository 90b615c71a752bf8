package agent

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// guard applies the checks every request passes before it reaches a route:
//
//  1. No browser: a request with an Origin header (but a WebSocket upgrade
//     whose Origin is the agent's own local address, which websocket-client
//     sends by default and no web page can have), or a Sec-Fetch-Site
//     other than "none" (typed into the address bar), comes from a web
//     page, which must never drive the accounts. 403.
//  2. No forward proxying: an absolute-form request target
//     ("GET http://host/… HTTP/1.1") is refused on every listener. 400.
//  3. A local Host header on TCP: exactly localhost, 127.0.0.1 or [::1],
//     with no port or the port the request came in on, or one of
//     Listen.AllowedHosts. A page on evil.example that rebinds its name to
//     127.0.0.1 sends Host: evil.example (DNS rebinding). 403.
//     Connections through the unix socket skip this check: browsers cannot
//     reach a socket, and clients such as requests-unixsocket put the
//     socket's path in Host.
//  4. A key on TCP: "Authorization: Bearer <key>", the agent key (every
//     account) or a client key (its accounts), except for GET /healthz and
//     /readyz, which reveal no token or secret, and for the broker facade, whose URL carries
//     the key instead (/broker/<key>/…, facade.go). The unix socket's 0600 mode is its access
//     control. 401.
//  5. A bounded body: larger than MaxBodyBytes is 413.
//
// The status page (statuspage.go) is the one exception, and only on its
// own paths (statusPaths): a GET from the page itself (Sec-Fetch-Site
// same-origin, and an Origin, if any, that is the agent's own local
// origin) passes rule 1, and no key is asked for by rule 4, since the
// page's session cookie, which nothing else reads, is its access control.
// Its login link may arrive from anywhere (a terminal, the file kauth
// open writes): GET /status/login passes rule 1 whatever its
// Sec-Fetch-Site, its one-time code being the credential, if the browser
// is opening it as a page (not a script's fetch, not a frame). An Origin
// header from elsewhere is refused there too, and rules 2, 3 and 5 hold
// for these paths as for every other.
func (a *Agent) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var w http.ResponseWriter = rw
		var tb *trackedBody
		if r.Body != nil && r.Body != http.NoBody {
			tb = &trackedBody{ReadCloser: r.Body}
			r.Body = tb
			w = &closeUnread{ResponseWriter: rw, body: tb}
		}
		page := statusPaths[r.URL.Path] && (r.Method == http.MethodGet || r.Method == http.MethodHead)
		if o := r.Header.Get("Origin"); o != "" && !a.selfOrigin(o, r) && !(page && a.pageOrigin(o, r)) {
			writeError(w, http.StatusForbidden, "forbidden_origin", "requests from web pages (with an Origin header) are refused")
			return
		}
		if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "none" && !(page && (s == "same-origin" || r.URL.Path == "/status/login" && topNavigation(r))) {
			writeError(w, http.StatusForbidden, "forbidden_origin", "requests from web pages (Sec-Fetch-Site: "+s+") are refused")
			return
		}
		if r.URL.Scheme != "" || r.URL.Host != "" || !strings.HasPrefix(r.RequestURI, "/") {
			writeError(w, http.StatusBadRequest, "bad_request", "the request target must be a path (/v1/…, /proxy/…); the agent is not a forward proxy")
			return
		}
		unix := r.Context().Value(connKind{}) == "unix"
		p := &principal{all: true}
		if statusPaths[r.URL.Path] {
			// The page's handlers read its cookie; this principal opens
			// no account, should anything ask.
			p = &principal{name: "status page"}
		}
		if !unix {
			if !a.localHost(r) {
				writeError(w, http.StatusForbidden, "forbidden_host", "Host "+quoteHost(r.Host)+" is not local; use localhost, 127.0.0.1 or [::1] with the agent's port")
				return
			}
			if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && !statusPaths[r.URL.Path] {
				if p = a.authenticate(r); p == nil {
					p = a.facadePrincipal(r)
				}
				if p == nil {
					w.Header().Set("WWW-Authenticate", `Bearer realm="kauth agent"`)
					msg := "missing or wrong agent key: send Authorization: Bearer <key>"
					if f := a.keyFile(); f != "" {
						msg += " with the key in " + f
					}
					writeError(w, http.StatusUnauthorized, "unauthenticated", msg)
					return
				}
			}
		}
		limit := a.maxBody()
		if r.ContentLength > limit {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "request body larger than the agent's limit")
			return
		}
		if tb != nil {
			tb.ReadCloser = http.MaxBytesReader(w, tb.ReadCloser, limit)
		}
		next.ServeHTTP(w, withPrincipal(r, p))
	})
}

// trackedBody notes whether a request body was read to its end.
type trackedBody struct {
	io.ReadCloser
	done bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.done = true
	}
	return n, err
}

// closeUnread answers a request whose body was not read to its end (it was
// refused first) with "Connection: close". Otherwise net/http would read up
// to 256 KiB of the unread body before sending the answer, with no
// deadline: a client trickling its body would hold the refusal back for as
// long as it likes.
type closeUnread struct {
	http.ResponseWriter
	body        *trackedBody
	wroteHeader bool
}

func (w *closeUnread) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.wroteHeader = true
		if !w.body.done {
			w.Header().Set("Connection", "close")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *closeUnread) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (read
// deadlines, flushes).
func (w *closeUnread) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// localHost reports whether r's Host header names this machine's loopback
// (or an explicitly allowed name) exactly: localhost, 127.0.0.1 or [::1],
// and if it has a port, the port of the listener r came in on.
func (a *Agent) localHost(r *http.Request) bool {
	hostport := r.Host
	for _, h := range a.config().Listen.AllowedHosts {
		if strings.EqualFold(h, hostport) {
			return true
		}
	}
	host, port := hostport, ""
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") {
		host, port = hostport[:i], hostport[i+1:]
		if !portOf(r, port) {
			return false
		}
	}
	switch host {
	case "localhost", "127.0.0.1", "[::1]":
		return true
	}
	for _, h := range a.config().Listen.AllowedHosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// portOf reports whether port is the decimal port of the listener that r
// came in on.
func portOf(r *http.Request, port string) bool {
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 || strconv.Itoa(n) != port {
		return false
	}
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		// Outside a server (Handler used directly): any valid port.
		return true
	}
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.Port == n
}

// quoteHost shows a Host header in an error, bounded, since it is the
// caller's input.
func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100] + "…"
	}
	return `"` + strings.ToValidUTF8(h, "?") + `"`
}

// selfOrigin reports whether a WebSocket upgrade's origin names the agent
// itself: the local Host the request was sent to. The agent serves no page,
// so no browser can send it; WebSocket libraries (websocket-client, which
// python-kis uses) send it by default.
func (a *Agent) selfOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil || u.User != nil || u.Path != "" && u.Path != "/" {
		return false
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return false
	}
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		strings.EqualFold(u.Host, r.Host) && a.localHost(r)
}

// pageOrigin reports whether origin is the agent's own origin as the
// status page has it: http:// and the local Host the request was sent to.
func (a *Agent) pageOrigin(origin string, r *http.Request) bool {
	return strings.EqualFold(origin, "http://"+r.Host) && a.localHost(r)
}

// topNavigation reports whether a browser is loading r as a page in a
// window of its own, by its Sec-Fetch-Mode and Sec-Fetch-Dest.
func topNavigation(r *http.Request) bool {
	return r.Header.Get("Sec-Fetch-Mode") == "navigate" && r.Header.Get("Sec-Fetch-Dest") == "document"
}
