package agent

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/statuspage"
)

// The status page: a read-only view of the accounts for a browser on
// this machine. A browser cannot send the agent key, so the page has a
// login of its own, which the key (or the unix socket) opens:
//
//  1. POST /v1/status/login, with the key or through the socket, returns
//     a one-time URL http://127.0.0.1:PORT/status/login?code=… (kauth
//     open). The code is random, redeemable once, for StatusCodeTTL.
//  2. GET /status/login?code=… swaps the code for a session cookie:
//     random, HttpOnly, SameSite=Strict, Path=/status, for at most
//     StatusSessionTTL, kept in this process only (a restart ends every
//     session), ended as well when the agent's keys change.
//  3. GET /status/ and /status/data.json need the cookie. The cookie opens
//     nothing else: every other route reads the key, never a cookie.
//
// A session sees the accounts the key that opened it may see, and
// nothing that is not in GET /v1/accounts already but the budget, the
// real-time session's counts and the recent token events — no secret, no
// token (fingerprints only).

const (
	// StatusCodeTTL is how long a status page login code may be redeemed.
	StatusCodeTTL = 60 * time.Second
	// StatusSessionTTL is how long a status page session lasts; it is not
	// extended by use.
	StatusSessionTTL = 12 * time.Hour
	// StatusCookie is the status page's session cookie.
	StatusCookie = "kauth_status"

	maxStatusCodes    = 16
	maxStatusSessions = 32
)

// statusPaths are the only paths of the status page; the guard relaxes
// its browser rules for these alone (guard.go).
var statusPaths = map[string]bool{
	"/status": true, "/status/": true, "/status/login": true, "/status/data.json": true,
	"/status/app.css": true, "/status/app.js": true,
}

// statusScope is what a status page session may see: every account, or
// the accounts of the client key that opened it, narrowed to those asked
// for.
type statusScope struct {
	all  bool
	accs []string
	by   string // who opened it, for the log: "unix socket", "agent key", "client key NAME"
}

func (s statusScope) may(account string) bool { return s.all || slices.Contains(s.accs, account) }

// statusGrant is a login code or a session.
type statusGrant struct {
	scope   statusScope
	expires time.Time
}

// statusAuth holds the status page's login codes and sessions, by the
// SHA-256 of their values. Its zero value is ready; it is safe for
// concurrent use.
type statusAuth struct {
	mu       sync.Mutex
	codes    map[[32]byte]statusGrant
	sessions map[[32]byte]statusGrant
}

// newSecret returns 256 random bits, base64url.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// put adds g under a new secret to m (pruning what expired, and the
// grant nearest its end if m is full) and returns the secret.
func putGrant(m map[[32]byte]statusGrant, g statusGrant, max int, now time.Time) string {
	for k, v := range m {
		if !now.Before(v.expires) {
			delete(m, k)
		}
	}
	for len(m) >= max {
		var oldest [32]byte
		first := true
		for k, v := range m {
			if first || v.expires.Before(m[oldest].expires) {
				oldest, first = k, false
			}
		}
		delete(m, oldest)
	}
	s := newSecret()
	m[sha256.Sum256([]byte(s))] = g
	return s
}

// newCode returns a login code for scope, valid until the time returned.
func (s *statusAuth) newCode(scope statusScope, now time.Time) (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.codes == nil {
		s.codes = map[[32]byte]statusGrant{}
	}
	exp := now.Add(StatusCodeTTL)
	return putGrant(s.codes, statusGrant{scope: scope, expires: exp}, maxStatusCodes, now), exp
}

// redeem swaps code for a new session, once: the code is gone whatever
// the outcome. It returns the session's secret and grant, or why not.
func (s *statusAuth) redeem(code string, now time.Time) (string, statusGrant, string) {
	if code == "" {
		return "", statusGrant{}, "no code"
	}
	h := sha256.Sum256([]byte(code))
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.codes[h]
	delete(s.codes, h)
	switch {
	case !ok:
		return "", statusGrant{}, "unknown or already used code"
	case !now.Before(g.expires):
		return "", statusGrant{}, "expired code"
	}
	if s.sessions == nil {
		s.sessions = map[[32]byte]statusGrant{}
	}
	g.expires = now.Add(StatusSessionTTL)
	return putGrant(s.sessions, g, maxStatusSessions, now), g, ""
}

// session returns the session whose secret is id, if it is live.
func (s *statusAuth) session(id string, now time.Time) (statusGrant, bool) {
	if id == "" {
		return statusGrant{}, false
	}
	h := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.sessions[h]
	if ok && !now.Before(g.expires) {
		delete(s.sessions, h)
		return statusGrant{}, false
	}
	return g, ok
}

// revokeAll ends every session and code: the keys that opened them
// changed.
func (s *statusAuth) revokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.codes)
	clear(s.sessions)
}

// StatusLoginResponse is the answer of POST /v1/status/login.
type StatusLoginResponse struct {
	// URL opens the status page once, within StatusCodeTTL.
	URL string `json:"url"`
	// ExpiresAt is when the URL stops working, in KST (RFC 3339, +09:00).
	ExpiresAt string `json:"expires_at"`
	// Accounts are the accounts the page will show; absent: every account
	// (of the key that asked).
	Accounts []string `json:"accounts,omitempty"`
}

// serveStatusLogin answers POST /v1/status/login[?account=NAME…]: a
// one-time URL that logs a browser in to the status page, for the accounts
// the caller may see (narrowed to those named).
func (a *Agent) serveStatusLogin(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	scope := statusScope{all: true, by: "unix socket"}
	switch {
	case p == nil:
	case p.all && r.Context().Value(connKind{}) != "unix":
		scope.by = "agent key"
	case !p.all:
		scope = statusScope{accs: slices.Clone(p.accs), by: "client key " + p.name}
	}
	if names := r.URL.Query()["account"]; len(names) > 0 {
		var accs []string
		for _, n := range names {
			acct := a.account(w, r, n)
			if acct == nil {
				return
			}
			acct.done()
			if !slices.Contains(accs, n) {
				accs = append(accs, n)
			}
		}
		scope.all, scope.accs = false, accs
	}
	base := a.statusBase(r)
	if base == "" {
		writeError(w, http.StatusConflict, "no_tcp", "the status page needs the agent's loopback TCP listener (a browser cannot reach a unix socket): "+
			"set listen.tcp: 127.0.0.1:PORT in the config (or kauth serve --addr 127.0.0.1:PORT) and restart the agent")
		return
	}
	code, exp := a.status.newCode(scope, a.clock.Now())
	res := StatusLoginResponse{URL: base + "/status/login?code=" + url.QueryEscape(code), ExpiresAt: exp.In(kauth.KST).Format(time.RFC3339)}
	if !scope.all {
		res.Accounts = scope.accs
	}
	writeJSON(w, http.StatusOK, res)
}

// statusBase is the origin a browser reaches the agent's TCP listener on
// (http://127.0.0.1:PORT), or "" without one.
func (a *Agent) statusBase(r *http.Request) string {
	var addr string
	select {
	case <-a.ready:
		addr = a.endpoints.TCP
	default:
	}
	if addr == "" && r.Context().Value(connKind{}) != "unix" {
		// Served by Serve on a listener of the caller's: the one this
		// request came in on.
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
			addr = la.String()
		}
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return ""
	}
	ip := ap.Addr().Unmap()
	switch {
	case ip.IsUnspecified() && ip.Is4():
		ip = netip.MustParseAddr("127.0.0.1")
	case ip.IsUnspecified():
		ip = netip.IPv6Loopback()
	}
	return "http://" + netip.AddrPortFrom(ip, ap.Port()).String()
}

// setStatusHeaders sets the headers of every status page answer: nothing
// from elsewhere runs in it, nothing frames it, nothing caches it or
// learns its URL from a Referer, and no other origin may embed it.
func setStatusHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// serveStatus serves the status page's paths (statusPaths), GET only.
func (a *Agent) serveStatus(w http.ResponseWriter, r *http.Request) {
	setStatusHeaders(w.Header())
	if !statusPaths[r.URL.Path] {
		writeError(w, http.StatusNotFound, "not_found", "no such route: "+r.Method+" "+r.URL.Path+" (the status page is GET /status/)")
		return
	}
	switch r.URL.Path {
	case "/status":
		http.Redirect(w, r, "/status/", http.StatusSeeOther)
		return
	case "/status/login":
		a.serveStatusRedeem(w, r)
		return
	case "/status/app.css", "/status/app.js":
		// The style and script hold no data: served to anyone who passed
		// the guard, so that the notice pages are styled too.
		body, ct, _ := statuspage.Asset(strings.TrimPrefix(r.URL.Path, "/status/"))
		w.Header().Set("Content-Type", ct)
		w.Write(body)
		return
	}
	var g statusGrant
	var ok bool
	if c, err := r.Cookie(StatusCookie); err == nil {
		g, ok = a.status.session(c.Value, a.clock.Now())
	}
	if !ok {
		if r.URL.Path == "/status/data.json" {
			writeError(w, http.StatusUnauthorized, "unauthenticated", "no status page session (or it ended): run kauth open")
			return
		}
		notice(w, http.StatusUnauthorized, "Not logged in",
			"This page opens with a one-time link: run kauth open on this machine (kauth open --no-browser prints the link). A session lasts 12 hours and ends when the agent restarts.", "")
		return
	}
	switch r.URL.Path {
	case "/status/":
		body, ct, _ := statuspage.Asset("index.html")
		w.Header().Set("Content-Type", ct)
		w.Write(body)
	case "/status/data.json":
		writeJSON(w, http.StatusOK, a.statusData(r.Context(), g))
	}
}

// serveStatusRedeem swaps a login code for a session cookie, then sends
// the browser on to the page: by a page of its own origin, so that the
// SameSite=Strict cookie goes with it even when the login link came from
// elsewhere (the file kauth open writes).
func (a *Agent) serveStatusRedeem(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		// A HEAD (a link checker) must not use the code up.
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" "+r.URL.Path+": use GET")
		return
	}
	now := a.clock.Now()
	id, g, why := a.status.redeem(r.URL.Query().Get("code"), now)
	if why != "" {
		if log, held := a.loginRefusals.Allow(""); log {
			a.log.Warn("agent: status page login refused", "reason", why, slog.Any("suppressed", held))
		}
		notice(w, http.StatusForbidden, "Login link not valid",
			"This link was already used, is older than 60 seconds, or the agent restarted since: run kauth open again.", "")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: StatusCookie, Value: id, Path: "/status",
		MaxAge: int(StatusSessionTTL / time.Second), Expires: g.expires,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	accounts := "all"
	if !g.scope.all {
		accounts = strings.Join(g.scope.accs, ",")
	}
	a.log.Info("agent: status page opened", "by", g.scope.by, "accounts", accounts, "until", g.expires.In(kauth.KST).Format(time.RFC3339))
	notice(w, http.StatusOK, "Logged in", "Opening the status page…", "/status/")
}

func notice(w http.ResponseWriter, status int, title, text, next string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := statuspage.Notice(w, title, text, next); err != nil {
		fmt.Fprintln(w, "kauth agent:", text)
	}
}

// StatusOpenFile returns a small HTML file that sends a browser on to the
// status page's login URL u. kauth open has the browser open such a file
// (0600) rather than the URL, so that the one-time code never shows on a
// command line, where ps would show it to other users.
func StatusOpenFile(u string) []byte {
	var b strings.Builder
	if err := statuspage.OpenFile(&b, u); err != nil {
		return nil
	}
	return []byte(b.String())
}
