package agent

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// guard applies the checks every request passes before it reaches a route:
//
//  1. No browser: a request with an Origin header (but a WebSocket upgrade
//     whose Origin is the agent's own local address, which websocket-client
//     sends by default and no web page can have), or a Sec-Fetch-Site
//     other than "none" (typed into the address bar), comes from a web
//     page, which must never drive the accounts. 403.
//  2. A local Host header on TCP: localhost, 127.0.0.1 or [::1] (any port),
//     or one of Listen.AllowedHosts. A page on evil.example that rebinds its
//     name to 127.0.0.1 sends Host: evil.example (DNS rebinding). 403.
//     Connections through the unix socket skip this check: browsers cannot
//     reach a socket, and clients such as requests-unixsocket put the
//     socket's path in Host.
//  3. The agent key on TCP: "Authorization: Bearer <key>", except for
//     GET /healthz, which reveals nothing. The unix socket's 0600 mode is
//     its access control. 401.
//  4. A bounded body: larger than MaxBodyBytes is 413.
func (a *Agent) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && !a.selfOrigin(o, r) {
			writeError(w, http.StatusForbidden, "forbidden_origin", "requests from web pages (with an Origin header) are refused")
			return
		}
		if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "none" {
			writeError(w, http.StatusForbidden, "forbidden_origin", "requests from web pages (Sec-Fetch-Site: "+s+") are refused")
			return
		}
		unix := r.Context().Value(connKind{}) == "unix"
		if !unix {
			if !a.localHost(r.Host) {
				writeError(w, http.StatusForbidden, "forbidden_host", "Host "+quoteHost(r.Host)+" is not local; use localhost, 127.0.0.1 or [::1]")
				return
			}
			if r.URL.Path != "/healthz" && !a.authorized(r) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="kauth agent"`)
				msg := "missing or wrong agent key: send Authorization: Bearer <key>"
				if f := a.keyFile(); f != "" {
					msg += " with the key in " + f
				}
				writeError(w, http.StatusUnauthorized, "unauthenticated", msg)
				return
			}
		}
		limit := a.maxBody()
		if r.ContentLength > limit {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "request body larger than the agent's limit")
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

// localHost reports whether a Host header names this machine's loopback
// (or an explicitly allowed name).
func (a *Agent) localHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	for _, h := range a.config().Listen.AllowedHosts {
		if strings.EqualFold(h, host) || strings.EqualFold(h, hostport) {
			return true
		}
	}
	return false
}

// authorized reports whether r carries the agent key, compared in constant
// time.
func (a *Agent) authorized(r *http.Request) bool {
	key, err := a.loadKey()
	if err != nil || key == "" {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(key)) == 1
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
		strings.EqualFold(u.Host, r.Host) && a.localHost(r.Host)
}
