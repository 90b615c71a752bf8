package brokersim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kauth/kauth"
)

// FaultKind is what an injected Fault does to a request.
type FaultKind int

// The kinds of fault.
const (
	// Latency delays the answer by Fault.Delay (default 100 ms), then
	// answers normally.
	Latency FaultKind = iota + 1
	// Hang never answers: the handler waits until the client gives up (its
	// request context is done) or ReleaseHangs is called, and then returns
	// without an answer. With a Delay, it gives up itself after that long
	// and answers 504 with a gateway's HTML page.
	Hang
	// ServerError answers Fault.Status (default 503) with a plain-text body.
	ServerError
	// Reset closes the connection without an answer, with a TCP reset where
	// the connection allows it (HTTP/1 only: it hijacks the connection).
	Reset
	// MalformedJSON answers 200 with a JSON content type and a truncated
	// JSON body.
	MalformedJSON
	// HTMLPage answers 502 with a gateway's HTML error page.
	HTMLPage
	// RateLimit answers with the broker's own rate-limit error: KIS
	// EGW00133 (HTTP 403) on tokenP, EGW00201 (HTTP 500) elsewhere; Kiwoom
	// return_code 5 with [1700:…] (HTTP 200).
	RateLimit
	// InvalidToken answers with the broker's own token-rejected error (KIS
	// EGW00121 with KISAuthErrorStatus, Kiwoom return_code 3 with
	// [8005:…]), and makes the token the request carried invalid, as
	// InvalidateToken does.
	InvalidToken
)

var faultKindNames = map[FaultKind]string{
	Latency:       "latency",
	Hang:          "hang",
	ServerError:   "server_error",
	Reset:         "reset",
	MalformedJSON: "malformed_json",
	HTMLPage:      "html_page",
	RateLimit:     "rate_limit",
	InvalidToken:  "invalid_token",
}

// String returns the snake_case name of k, e.g. "server_error".
func (k FaultKind) String() string {
	if n, ok := faultKindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// ParseFaultKind parses a fault kind by name, ignoring case, underscores
// and dashes: "server_error", "ServerError" and "server-error" are the same.
func ParseFaultKind(s string) (FaultKind, error) {
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "", " ", "").Replace(s))
	}
	for k, n := range faultKindNames {
		if norm(n) == norm(s) {
			return k, nil
		}
	}
	return 0, fmt.Errorf("brokersim: unknown fault kind %q", s)
}

// MarshalText implements encoding.TextMarshaler.
func (k FaultKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *FaultKind) UnmarshalText(b []byte) error {
	v, err := ParseFaultKind(string(b))
	if err == nil {
		*k = v
	}
	return err
}

// Fault scripts a failure for the next matching requests.
//
// In JSON (POST /_sim/fault), fields are lower case, kind is a name such as
// "hang" and delay a Go duration string such as "250ms":
//
//	{"broker":"kis","env":"mock","path":"/oauth2/tokenP","kind":"server_error","count":2}
type Fault struct {
	Broker kauth.Broker  `json:"broker,omitempty"` // empty: any broker
	Env    kauth.Env     `json:"env,omitempty"`    // empty: any env
	Path   string        `json:"path,omitempty"`   // route after the base, e.g. "/oauth2/tokenP"; empty: any
	Kind   FaultKind     `json:"kind"`
	Count  int           `json:"count,omitempty"`  // how many matching requests it applies to; 0 means 1
	Delay  time.Duration `json:"delay,omitempty"`  // for Latency and Hang
	Status int           `json:"status,omitempty"` // for ServerError; 0 means 503
}

// faultJSON is Fault with the delay as a duration string.
type faultJSON struct {
	Broker kauth.Broker `json:"broker,omitempty"`
	Env    kauth.Env    `json:"env,omitempty"`
	Path   string       `json:"path,omitempty"`
	Kind   FaultKind    `json:"kind"`
	Count  int          `json:"count,omitempty"`
	Delay  string       `json:"delay,omitempty"`
	Status int          `json:"status,omitempty"`
}

// MarshalJSON writes Delay as a Go duration string.
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{f.Broker, f.Env, f.Path, f.Kind, f.Count, "", f.Status}
	if f.Delay != 0 {
		j.Delay = f.Delay.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads Delay as a Go duration string ("250ms").
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var d time.Duration
	if j.Delay != "" {
		var err error
		if d, err = time.ParseDuration(j.Delay); err != nil {
			return fmt.Errorf("brokersim: fault delay: %w", err)
		}
	}
	*f = Fault{j.Broker, j.Env, j.Path, j.Kind, j.Count, d, j.Status}
	return nil
}

func (f Fault) validate() error {
	if _, ok := faultKindNames[f.Kind]; !ok {
		return fmt.Errorf("brokersim: unknown fault kind %d", int(f.Kind))
	}
	if _, known := lookup(f.Broker); f.Broker != "" && !known {
		return fmt.Errorf("brokersim: fault for unknown broker %q", f.Broker)
	}
	if f.Env != "" && f.Env != kauth.Real && f.Env != kauth.Mock {
		return fmt.Errorf("brokersim: fault for unknown env %q", f.Env)
	}
	if f.Count < 0 || f.Delay < 0 || (f.Status != 0 && (f.Status < 100 || f.Status > 599)) {
		return fmt.Errorf("brokersim: bad fault count, delay or status")
	}
	return nil
}

type pendingFault struct {
	Fault
	left int
}

// Inject scripts f for the next f.Count (at least one) requests that match
// it. Faults apply in the order they were injected; each request meets at
// most one. Inject panics on a fault of unknown kind.
func (s *Server) Inject(f Fault) {
	if err := f.validate(); err != nil {
		panic(err)
	}
	s.inject(f)
}

func (s *Server) inject(f Fault) {
	n := f.Count
	if n <= 0 {
		n = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &pendingFault{Fault: f, left: n})
}

// released returns a channel that ReleaseHangs closes.
func (s *Server) released() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.release == nil {
		s.release = make(chan struct{})
	}
	return s.release
}

// ReleaseHangs ends every request parked in a Hang fault now, without an
// answer (the connection is closed). Call it before closing an
// httptest.Server whose clients have no timeout: httptest.Server.Close
// waits for outstanding requests.
func (s *Server) ReleaseHangs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.release != nil {
		close(s.release)
		s.release = nil
	}
}

// ClearFaults drops every fault not yet applied.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the first pending fault matching a request, using it up.
func (s *Server) takeFault(b kauth.Broker, e kauth.Env, path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (f.Broker != "" && f.Broker != b) || (f.Env != "" && f.Env != e) || (f.Path != "" && f.Path != path) {
			continue
		}
		f.left--
		if f.left <= 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		s.count(b, e, "", func(c *Counts) { c.Faults++ })
		return f.Fault, true
	}
	return Fault{}, false
}

// applyFault carries out f. It reports whether the request is answered (or
// abandoned); false means the normal handler should answer it.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f Fault, b kauth.Broker, e kauth.Env, path string) bool {
	s.logf("brokersim: %s %s %s: injected fault %s", b, e, path, f.Kind)
	switch f.Kind {
	case Latency:
		// Keep the body for the handler. Reading it to the end also lets
		// net/http notice a client that hangs up while we wait.
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		d := f.Delay
		if d == 0 {
			d = 100 * time.Millisecond
		}
		return !sleep(r, d)
	case Hang:
		// net/http watches for a client hang-up only once the request body
		// has been read to its end.
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		s.hanging.Add(1)
		defer s.hanging.Add(-1)
		var timeout <-chan time.Time
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-r.Context().Done():
		case <-s.released():
			abort(w, r)
		case <-timeout:
			writeHTML(w, http.StatusGatewayTimeout, "504 Gateway Time-out")
		}
		return true
	case ServerError:
		status := f.Status
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "%d %s\n", status, http.StatusText(status))
		return true
	case Reset:
		reset(w)
		return true
	case MalformedJSON:
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJ0b2tl`)
		return true
	case HTMLPage:
		writeHTML(w, http.StatusBadGateway, "502 Bad Gateway")
		return true
	case RateLimit:
		s.rateLimitAnswer(w, r, b, path)
		return true
	case InvalidToken:
		s.invalidTokenAnswer(w, r, b, path)
		return true
	}
	return false
}

// sleep waits d or until the client gives up, and reports whether d passed.
func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// abort ends a request without an answer by closing its connection (or, on
// HTTP/2, its stream).
func abort(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor >= 2 {
		panic(http.ErrAbortHandler)
	}
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	}
}

// reset drops the connection without an answer: a TCP RST where possible.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 or a recorder: abort the stream instead.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // close sends RST instead of FIN
	}
	conn.Close()
}

func writeHTML(w http.ResponseWriter, status int, title string) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", title, title)
}

func (s *Server) rateLimitAnswer(w http.ResponseWriter, r *http.Request, b kauth.Broker, path string) {
	if b == tossBroker {
		tossFaultAnswer(w, true)
		return
	}
	if _, ok := igwBroker(b); ok {
		// IGW00201: under 403 on the token endpoint, 200 on calls.
		if strings.HasPrefix(path, "/oauth2/") {
			igwTokenError(w, http.StatusForbidden, "IGW00201", "호출 거래건수를 초과하였습니다.")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"rsp_cd": "IGW00201", "rsp_msg": "호출 거래건수를 초과하였습니다."})
		return
	}
	if b == kauth.Kiwoom {
		apiID := r.Header.Get("api-id")
		if apiID == "" {
			apiID = kiwoomAPIIDs[path]
		}
		kiwoomHeaders(w, r, apiID, "N", "")
		writeJSON(w, http.StatusOK, s.kiwoomErrorBody(kwErrRateLimit(apiID)))
		return
	}
	if path == "/oauth2/tokenP" {
		rep := kisFlat(egwIssueRateLimit)
		writeJSON(w, rep.status, rep.body)
		return
	}
	rep := s.kisUapiError(egwCallRateLimit, http.StatusInternalServerError)
	if strings.HasPrefix(path, "/uapi/") {
		kisHeaders(w, r, "D")
	}
	writeJSON(w, rep.status, rep.body)
}

var kiwoomAPIIDs = map[string]string{
	"/oauth2/token":      "au10001",
	"/oauth2/revoke":     "au10002",
	"/api/dostk/stkinfo": kwIDStkinfo,
	"/api/dostk/acnt":    kwIDAcntEval,
}

func (s *Server) invalidTokenAnswer(w http.ResponseWriter, r *http.Request, b kauth.Broker, path string) {
	if tok, _ := bearer(r); tok != "" {
		s.InvalidateToken(tok)
	}
	if b == tossBroker {
		tossFaultAnswer(w, false)
		return
	}
	if _, ok := igwBroker(b); ok {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"rsp_cd": "IGW00121", "rsp_msg": "유효하지 않은 토큰입니다."})
		return
	}
	if b == kauth.Kiwoom {
		kiwoomHeaders(w, r, kiwoomAPIIDs[path], "N", "")
		writeJSON(w, http.StatusOK, s.kiwoomErrorBody(kwErrTokenInvalid))
		return
	}
	rep := s.kisUapiError(egwTokenInvalid, s.kisAuthStatus())
	if strings.HasPrefix(path, "/uapi/") {
		kisHeaders(w, r, "D")
	}
	writeJSON(w, rep.status, rep.body)
}
