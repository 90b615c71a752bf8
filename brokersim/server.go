package brokersim

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kauth/kauth"
)

// Server simulates the auth endpoints of the brokers it knows (Brokers:
// KIS, Kiwoom, and the gateway brokers LS and DB, see family.go and
// igw.go), real and mock, and one protected call of each, with the brokers'
// quirks. It is an http.Handler that serves the base paths /BROKER/ENV
// (/kis/real, /kis/mock, /kiwoom/real, …), and its controls under /_sim/.
//
// The zero value works: no apps are registered, the clock is real time and
// every setting has the default documented on its field. Set the fields
// before the first request; the methods are safe for concurrent use.
type Server struct {
	// Clock is the base of the virtual clock. If nil, time.Now is used.
	// Now returns Clock() plus the sum of all Advance calls.
	Clock func() time.Time

	// KISAuthErrorStatus is the HTTP status of KIS answers that reject a
	// call's token or app headers (EGW00121, EGW00122, EGW00123, EGW00102…
	// EGW00105 on /uapi). KIS has been seen to send these with 200 and with
	// 500. 0 means 500.
	KISAuthErrorStatus int

	// KISTokenLifetime is how long a KIS token lives. 0 means 24 h.
	KISTokenLifetime time.Duration
	// KISReissueWindow is how long after a new token tokenP answers with
	// that same token. 0 means 6 h.
	KISReissueWindow time.Duration
	// KISIssueInterval is the minimum spacing of tokenP answers per app key
	// (EGW00133). 0 means one minute; a negative value disables the limit.
	KISIssueInterval time.Duration
	// KISRealCallsPerSecond and KISMockCallsPerSecond limit protected calls
	// per app key (EGW00201). 0 means 20 (real) and 2 (mock); negative
	// disables the limit.
	KISRealCallsPerSecond int
	KISMockCallsPerSecond int

	// KiwoomTokenLifetime is how long a Kiwoom token lives. 0 means 24 h
	// (the real server has been seen to hand out 18 to 24 h).
	KiwoomTokenLifetime time.Duration
	// KiwoomCallsPerSecond limits protected calls per app key (1700).
	// 0 means 5; negative disables the limit.
	KiwoomCallsPerSecond int
	// KiwoomReturnCodeAsString sends return_code as a numeric string ("0")
	// instead of a number (0); Kiwoom has been seen to do both.
	KiwoomReturnCodeAsString bool
	// KiwoomCodeAsReturnCode sends the code of an error as return_code
	// itself, with the bare text ({"return_code":8005,"return_msg":"Token이
	// 유효하지 않습니다"}), instead of a small return_code with the code in
	// brackets. The official SDK reads the codes from
	// return_code (Kiwoom-Securities/Kiwoom-REST-API, kiwoom/core/client.py
	// re-issues when return_code is 8005, 8031 or 8103), so clients must
	// understand both.
	KiwoomCodeAsReturnCode bool
	// KiwoomBindIP rejects a Kiwoom token used from another IP address than
	// the one it was issued to (8010).
	KiwoomBindIP bool

	// IGWTokenLifetime overrides the lifetime of LS and DB tokens, which
	// otherwise follows each broker's documented expiry (LS: 07:00 KST the
	// next day).
	IGWTokenLifetime time.Duration
	// IGWCallsPerSecond limits the protected calls of LS and DB per app
	// key (IGW00201). 0 means each broker's published rate (LS 3, DB 5);
	// negative disables the limit.
	IGWCallsPerSecond int

	// TossCallsPerSecond overrides the per-client, per-group limits of
	// Toss (the documented table, see internal/tossapi): a positive value
	// is every group's limit; a negative value disables them. 0 means the
	// documented limits.
	TossCallsPerSecond int

	// Vars names the environment variables that Describe prints for a demo
	// app of broker b: the base URL's, the app key's and the secret's. If
	// nil, they are the broker's name in capitals followed by _BASE_URL,
	// _APPKEY and _APPSECRET.
	Vars func(b kauth.Broker) (baseURL, appKey, secret string)

	// ReissueInvalidated makes the token endpoints hand back a token that
	// InvalidateToken (or an InvalidToken fault) made invalid, as long as it
	// would otherwise be re-issued: it scripts a broker that returns the very
	// token it just rejected. By default such a token is forgotten and the
	// next issue mints a new one.
	ReissueInvalidated bool

	// WS tunes the WebSocket servers (ws.go).
	WS WSSettings

	// Logf, if set, receives one line per request: broker, env, route,
	// app key fingerprint and outcome. It never sees a secret or a token.
	// It is called from the handlers' goroutines, so it must be safe for
	// concurrent use.
	Logf func(format string, args ...any)

	mu      sync.Mutex
	reissue map[kauth.Broker]ReissueMode
	// offset is every Advance, in nanoseconds. It changes under mu, and
	// Now reads it without mu: clocks driven by the simulator read it on
	// every call, and must not queue behind the handlers.
	offset  atomic.Int64
	apps    map[appID]*app
	tokens  map[string]*token // by token value
	faults  []*pendingFault
	stats   statsState
	ws      wsState
	toss    tossState
	hanging atomic.Int64  // handlers parked in a Hang fault
	release chan struct{} // closed by ReleaseHangs
}

// New returns a Server with the demo apps registered (see DemoApps).
func New() *Server {
	s := new(Server)
	for _, a := range DemoApps() {
		s.Register(a.Broker, a.Env, a.AppKey, a.Secret)
	}
	return s
}

type appID struct {
	broker kauth.Broker
	env    kauth.Env
	key    string
}

type app struct {
	App
	current    *token      // the token the broker would hand back again
	lastAnswer time.Time   // KIS: the last successful tokenP answer
	calls      []time.Time // protected calls within the last second
}

type token struct {
	value     string
	id        appID
	issuedAt  time.Time
	expiresAt time.Time
	ip        string
	revoked   bool
	invalid   bool
}

// Register adds an app for broker b at env e, or replaces its secret. Apps,
// tokens and limits are per env: registering the same key at both envs makes
// two independent apps.
func (s *Server) Register(b kauth.Broker, e kauth.Env, appKey, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	id := appID{b, e, appKey}
	if a, ok := s.apps[id]; ok {
		a.Secret = secret
		return
	}
	s.apps[id] = &app{App: App{Broker: b, Env: e, AppKey: appKey, Secret: secret}}
}

// Apps returns the registered apps, sorted by broker, env and app key.
func (s *Server) Apps() []App {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]App, 0, len(s.apps))
	for _, a := range s.apps {
		out = append(out, a.App)
	}
	slices.SortFunc(out, func(x, y App) int {
		return strings.Compare(string(x.Broker)+"/"+string(x.Env)+"/"+x.AppKey,
			string(y.Broker)+"/"+string(y.Env)+"/"+y.AppKey)
	})
	return out
}

func (s *Server) initLocked() {
	if s.apps == nil {
		s.apps = make(map[appID]*app)
		s.tokens = make(map[string]*token)
	}
}

// Now returns the virtual time: Clock (or the real time) plus every
// Advance. It takes no lock.
func (s *Server) Now() time.Time { return s.nowLocked() }

// nowLocked is Now; its name says that the handlers call it under mu, and
// so see no Advance during their work.
func (s *Server) nowLocked() time.Time {
	now := time.Now
	if s.Clock != nil {
		now = s.Clock
	}
	return now().Add(time.Duration(s.offset.Load()))
}

// StartAt returns a Clock that reads start when StartAt is called and then
// runs with the real time. A test that sets it gets the same broker
// lifetimes whatever the hour it runs at: an LS token issued at 10:00 KST
// lives 21 h, one issued at 01:00 KST lives 30 h.
func StartAt(start time.Time) func() time.Time {
	begin := time.Now()
	return func() time.Time { return start.Add(time.Since(begin)) }
}

// setDate sends the virtual time in the Date header, as a broker's server
// sends its own clock: a client that compares clocks sees every Advance.
func (s *Server) setDate(w http.ResponseWriter) {
	w.Header().Set("Date", s.Now().UTC().Format(http.TimeFormat))
}

// Advance moves the virtual clock forward by d (backward if d < 0).
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset.Add(int64(d))
}

// InvalidateToken makes token invalid behind its holder's back, as if the
// broker had dropped it: protected calls reject it (KIS EGW00121, Kiwoom
// 8005). Unknown tokens are ignored.
func (s *Server) InvalidateToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidateLocked(tok)
}

func (s *Server) invalidateLocked(tok string) {
	t, ok := s.tokens[tok]
	if !ok {
		return
	}
	t.invalid = true
	if a := s.apps[t.id]; a != nil && a.current == t && !s.ReissueInvalidated {
		a.current = nil
	}
}

// Issued returns how many new tokens were minted for an app. An answer that
// hands back the current token again is not counted (see Stats.Reissued).
func (s *Server) Issued(b kauth.Broker, e kauth.Env, appKey string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.stats.apps[appID{b, e, appKey}]; c != nil {
		return c.Issued
	}
	return 0
}

// CurrentToken returns the token that the broker would hand back to an app
// on its next issue request, and its expiry, if there is one.
func (s *Server) CurrentToken(b kauth.Broker, e kauth.Env, appKey string) (tok string, expires time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appID{b, e, appKey}]
	if a == nil || a.current == nil {
		return "", time.Time{}, false
	}
	return a.current.value, a.current.expiresAt, true
}

// BaseURL returns the base URL of broker b at env e on a simulator served at
// root, e.g. BaseURL(ts.URL, kauth.KIS, kauth.Mock) = ts.URL + "/kis/mock".
func BaseURL(root string, b kauth.Broker, e kauth.Env) string {
	return strings.TrimSuffix(root, "/") + "/" + string(b) + "/" + string(e)
}

// route is one endpoint of a broker.
type route struct {
	method string
	serve  func(s *Server, w http.ResponseWriter, r *http.Request, e kauth.Env)
}

var routes = map[kauth.Broker]map[string]route{
	kauth.KIS: {
		"/oauth2/tokenP":   {http.MethodPost, (*Server).kisToken},
		"/oauth2/revokeP":  {http.MethodPost, (*Server).kisRevoke},
		"/oauth2/Approval": {http.MethodPost, (*Server).kisApproval},
		"/uapi/hashkey":    {http.MethodPost, (*Server).kisHashkey},
		"/uapi/domestic-stock/v1/quotations/inquire-price": {http.MethodGet, (*Server).kisInquirePrice},
		"/uapi/domestic-stock/v1/quotations/search-info":   {http.MethodGet, (*Server).kisSearchInfo},
		"/uapi/domestic-stock/v1/trading/inquire-balance":  {http.MethodGet, (*Server).kisInquireBalance},
	},
	kauth.Kiwoom: {
		"/oauth2/token":      {http.MethodPost, (*Server).kiwoomToken},
		"/oauth2/revoke":     {http.MethodPost, (*Server).kiwoomRevoke},
		"/api/dostk/stkinfo": {http.MethodPost, (*Server).kiwoomStkinfo},
		"/api/dostk/acnt":    {http.MethodPost, (*Server).kiwoomAcnt},
	},
	tossBroker: tossRoutes,
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.setDate(w)
	p := r.URL.Path
	if p == "/_sim" || strings.HasPrefix(p, "/_sim/") {
		s.serveControl(w, r)
		return
	}
	if isWebSocket(r) {
		s.serveWS(w, r)
		return
	}
	b, e, rest, ok := splitPath(p)
	if !ok {
		notFound(w, r)
		return
	}
	s.serveBroker(w, r, b, e, rest)
}

// Handler returns a handler that serves broker b at env e at its root, as
// the broker's own domain does: POST /oauth2/tokenP, GET /uapi/…. It is for
// clients that join absolute paths onto a domain (pykis calls
// urljoin(domain, "/oauth2/tokenP"), which drops any path prefix), so each
// environment needs a port of its own. The simulator's controls are served
// under /_sim/ here too, and the broker's WebSocket at the paths the
// broker serves it (KIS at any path, e.g. /tryitout/H0STCNT0; Kiwoom at
// /api/dostk/websocket; Toss at /ws/v1). It shares the Server's apps, tokens, clock and
// counters with ServeHTTP.
func (s *Server) Handler(b kauth.Broker, e kauth.Env) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.setDate(w)
		p := r.URL.Path
		if p == "/_sim" || strings.HasPrefix(p, "/_sim/") {
			s.serveControl(w, r)
			return
		}
		if isWebSocket(r) {
			s.serveWSAt(w, r, b, e, p)
			return
		}
		s.serveBroker(w, r, b, e, p)
	})
}

// serveBroker serves the route rest (e.g. "/oauth2/tokenP") of broker b at
// env e.
func (s *Server) serveBroker(w http.ResponseWriter, r *http.Request, b kauth.Broker, e kauth.Env, rest string) {
	table := routes[b]
	if table == nil {
		table = igwRoutes(b)
		r = r.WithContext(context.WithValue(r.Context(), igwBrokerKey{}, b))
	}
	rt, ok := table[rest]
	if !ok {
		notFound(w, r)
		return
	}
	if r.Method != rt.method {
		methodNotAllowed(w, r, rt.method)
		return
	}
	s.mu.Lock()
	s.count(b, e, "", func(c *Counts) { c.Requests++ })
	s.mu.Unlock()
	if f, ok := s.takeFault(b, e, rest); ok {
		if done := s.applyFault(w, r, f, b, e, rest); done {
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	rt.serve(s, w, r, e)
}

// splitPath splits "/kis/mock/oauth2/tokenP" into KIS, Mock, "/oauth2/tokenP".
func splitPath(p string) (kauth.Broker, kauth.Env, string, bool) {
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 3)
	if len(parts) < 3 {
		return "", "", "", false
	}
	b, e := kauth.Broker(parts[0]), kauth.Env(parts[1])
	if (routes[b] == nil && igwRoutes(b) == nil) || (e != kauth.Real && e != kauth.Mock) {
		return "", "", "", false
	}
	return b, e, "/" + parts[2], true
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// writeJSON writes v as the brokers do: JSON with a UTF-8 content type.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "brokersim: encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	w.Write(body)
}

// notFound answers loudly, naming the path, so that a client aimed at the
// wrong URL fails fast instead of decoding an empty body.
func notFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]string{
		"error":  "brokersim: no such route",
		"method": r.Method,
		"path":   r.URL.Path,
		"hint":   "brokers live under /kis/real, /kis/mock, /kiwoom/real, /kiwoom/mock (or at the root of their own ports); controls under /_sim/",
	})
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{
		"error":  "brokersim: method not allowed",
		"method": r.Method,
		"path":   r.URL.Path,
		"allow":  allow,
	})
}
