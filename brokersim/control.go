package brokersim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/kauth/kauth"
)

// serveControl serves the simulator's own endpoints under /_sim/:
//
//	GET    /_sim/stats                 Stats as JSON
//	GET    /_sim/clock                 the virtual time
//	POST   /_sim/clock?advance=<dur>   move the clock (Go duration, e.g. 25h); answers the new time
//	POST   /_sim/fault                 inject a Fault (JSON); DELETE clears pending faults
//	POST   /_sim/invalidate            {"token":"…"}: make a token invalid
//	POST   /_sim/register              {"broker","env","appkey","secret"}: register an app
//	GET    /_sim/apps                  registered apps (fingerprints; key and secret for demo apps)
//	GET    /_sim/reissue               the re-issue mode of each broker
//	POST   /_sim/reissue?broker=kis&mode=new-revoke-old   set one (see ReissueMode)
//	GET    /_sim/ws                    WebSocket counters per app ("kis/mock/<fingerprint>")
//	POST   /_sim/ws/drop               drop every live WebSocket session's socket
//	POST   /_sim/ws/tick?n=10          send n data frames per subscribed code now
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	type endpoint struct {
		methods string
		serve   func(w http.ResponseWriter, r *http.Request)
	}
	endpoints := map[string]endpoint{
		"/_sim/stats":      {"GET", s.controlStats},
		"/_sim/clock":      {"GET, POST", s.controlClock},
		"/_sim/fault":      {"POST, DELETE", s.controlFault},
		"/_sim/invalidate": {"POST", s.controlInvalidate},
		"/_sim/register":   {"POST", s.controlRegister},
		"/_sim/apps":       {"GET", s.controlApps},
		"/_sim/reissue":    {"GET, POST", s.controlReissue},
		"/_sim/ws":         {"GET", s.controlWS},
		"/_sim/ws/drop":    {"POST", s.controlWSDrop},
		"/_sim/ws/tick":    {"POST", s.controlWSTick},
	}
	ep, ok := endpoints[r.URL.Path]
	if !ok {
		notFound(w, r)
		return
	}
	allowed := strings.Split(ep.methods, ", ")
	if r.Method == http.MethodHead {
		r.Method = http.MethodGet
	}
	if !contains(allowed, r.Method) {
		methodNotAllowed(w, r, ep.methods)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	ep.serve(w, r)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func controlError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func (s *Server) controlStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

// clockJSON is the answer of /_sim/clock.
type clockJSON struct {
	Now    string `json:"now"`    // RFC 3339 in KST
	Unix   int64  `json:"unix"`   // seconds
	Offset string `json:"offset"` // sum of all advances
}

func (s *Server) controlClock(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		v := r.URL.Query().Get("advance")
		d, err := time.ParseDuration(v)
		if err != nil {
			controlError(w, http.StatusBadRequest, fmt.Errorf("brokersim: advance=%q: want a Go duration such as 90s or 25h", v))
			return
		}
		s.Advance(d)
	}
	s.mu.Lock()
	now, off := s.nowLocked(), time.Duration(s.offset.Load())
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, clockJSON{now.In(kauth.KST).Format(time.RFC3339), now.Unix(), off.String()})
}

func (s *Server) controlFault(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete {
		s.ClearFaults()
		writeJSON(w, http.StatusOK, map[string]string{"result": "faults cleared"})
		return
	}
	var f Fault
	if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
		controlError(w, http.StatusBadRequest, fmt.Errorf("brokersim: fault: %w", err))
		return
	}
	if err := f.validate(); err != nil {
		controlError(w, http.StatusBadRequest, err)
		return
	}
	s.inject(f)
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) controlInvalidate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Token == "" {
		controlError(w, http.StatusBadRequest, fmt.Errorf(`brokersim: invalidate: want {"token":"…"}`))
		return
	}
	s.mu.Lock()
	_, known := s.tokens[req.Token]
	s.invalidateLocked(req.Token)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"invalidated": known, "token": kauth.Fingerprint(req.Token)})
}

// controlReissue shows or sets the brokers' re-issue modes.
func (s *Server) controlReissue(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		q := r.URL.Query()
		b := kauth.Broker(q.Get("broker"))
		if _, ok := lookup(b); !ok {
			controlError(w, http.StatusBadRequest, fmt.Errorf("brokersim: reissue: broker=%q: want one of %v", q.Get("broker"), Brokers()))
			return
		}
		m, err := ParseReissueMode(q.Get("mode"))
		if err != nil {
			controlError(w, http.StatusBadRequest, err)
			return
		}
		s.SetReissue(b, m)
	}
	modes := map[kauth.Broker]ReissueMode{}
	for _, b := range Brokers() {
		modes[b] = s.Reissue(b)
	}
	writeJSON(w, http.StatusOK, modes)
}

func (s *Server) controlRegister(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Broker kauth.Broker `json:"broker"`
		Env    kauth.Env    `json:"env"`
		AppKey string       `json:"appkey"`
		Secret string       `json:"secret"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		controlError(w, http.StatusBadRequest, fmt.Errorf("brokersim: register: %w", err))
		return
	}
	c := kauth.Credentials{Broker: req.Broker, Env: req.Env, AppKey: req.AppKey, AppSecret: req.Secret}
	if _, ok := lookup(req.Broker); !ok {
		controlError(w, http.StatusBadRequest, fmt.Errorf("brokersim: register: unknown broker %q (want one of %v)", req.Broker, Brokers()))
		return
	}
	if err := c.Validate(); err != nil {
		controlError(w, http.StatusBadRequest, err)
		return
	}
	s.Register(req.Broker, req.Env, req.AppKey, req.Secret)
	writeJSON(w, http.StatusOK, map[string]string{"registered": c.String()})
}

// appJSON describes a registered app over HTTP. Only the demo apps show their
// key and secret; the others show a fingerprint.
type appJSON struct {
	Broker      kauth.Broker `json:"broker"`
	Env         kauth.Env    `json:"env"`
	Fingerprint string       `json:"fingerprint"`
	Demo        bool         `json:"demo"`
	AppKey      string       `json:"appkey,omitempty"`
	Secret      string       `json:"secret,omitempty"`
}

func (s *Server) controlApps(w http.ResponseWriter, r *http.Request) {
	apps := s.Apps()
	out := make([]appJSON, 0, len(apps))
	for _, a := range apps {
		j := appJSON{Broker: a.Broker, Env: a.Env, Fingerprint: kauth.Fingerprint(a.AppKey)}
		if isDemo(a) {
			j.Demo, j.AppKey, j.Secret = true, a.AppKey, a.Secret
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, out)
}

// Describe writes, for a simulator served at root (e.g. "http://127.0.0.1:8080"),
// the four base URLs, the controls and the registered apps: the demo apps
// with their made-up key and secret as environment variables, the others by
// fingerprint only.
func (s *Server) Describe(w io.Writer, root string) {
	root = strings.TrimSuffix(root, "/")
	fmt.Fprintf(w, "brokersim: auth simulator at %s for %s\n\n", root, strings.Join(brokerNames(), ", "))
	fmt.Fprintf(w, "base URLs:\n")
	for _, b := range Brokers() {
		for _, e := range []kauth.Env{kauth.Real, kauth.Mock} {
			fmt.Fprintf(w, "  %-6s %-4s  %s\n", b, e, BaseURL(root, b, e))
		}
	}
	fmt.Fprintf(w, "\ncontrols:\n")
	fmt.Fprintf(w, "  GET  %s/_sim/stats\n", root)
	fmt.Fprintf(w, "  POST %s/_sim/clock?advance=25h\n", root)
	fmt.Fprintf(w, "  POST %s/_sim/fault  {\"broker\":\"kis\",\"path\":\"/oauth2/tokenP\",\"kind\":\"server_error\"}\n", root)
	fmt.Fprintf(w, "  POST %s/_sim/invalidate  {\"token\":\"…\"}\n", root)
	fmt.Fprintf(w, "  POST %s/_sim/reissue?broker=kis&mode=new-revoke-old   (now: kis %s, kiwoom %s)\n", root, s.Reissue(kauth.KIS), s.Reissue(kauth.Kiwoom))
	fmt.Fprintf(w, "  GET  %s/_sim/ws    POST %s/_sim/ws/drop    POST %s/_sim/ws/tick?n=1\n", root, root, root)
	fmt.Fprintf(w, "\nwebsockets:\n  kis    %s (any path)\n  kiwoom %s/api/dostk/websocket\n",
		"ws"+strings.TrimPrefix(BaseURL(root, kauth.KIS, kauth.Real), "http"), "ws"+strings.TrimPrefix(BaseURL(root, kauth.Kiwoom, kauth.Real), "http"))
	apps := s.Apps()
	if len(apps) == 0 {
		fmt.Fprintf(w, "\nno apps registered\n")
		return
	}
	fmt.Fprintf(w, "\napps (demo credentials are made up and work only here):\n")
	for _, a := range apps {
		if !isDemo(a) {
			fmt.Fprintf(w, "  %-6s %-4s  app %s (secret not shown)\n", a.Broker, a.Env, kauth.Fingerprint(a.AppKey))
			continue
		}
		baseVar, keyVar, secretVar := s.vars(a.Broker)
		fmt.Fprintf(w, "  %-6s %-4s  %s=%s %s=%s %s=%s\n", a.Broker, a.Env,
			baseVar, BaseURL(root, a.Broker, a.Env), keyVar, a.AppKey, secretVar, a.Secret)
	}
}

// vars returns the variable names Describe prints for a demo app of b.
func (s *Server) vars(b kauth.Broker) (baseURL, appKey, secret string) {
	if s.Vars != nil {
		return s.Vars(b)
	}
	up := strings.ToUpper(string(b))
	return up + "_BASE_URL", up + "_APPKEY", up + "_APPSECRET"
}

// Banner returns what Describe writes.
func (s *Server) Banner(root string) string {
	var b strings.Builder
	s.Describe(&b, root)
	return b.String()
}
