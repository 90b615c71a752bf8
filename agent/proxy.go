package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/brokerpath"
	"github.com/kauth/kauth/agent/internal/pacing"
	"github.com/kauth/kauth/agent/internal/rawheader"
	"github.com/kauth/kauth/agent/internal/scrub"
)

// strippedHeaders are the credentials a caller might send: the proxy drops
// them so that a bot can neither inject its own token or app key nor learn
// anything by sending them, and so that the agent key of a TCP caller
// never reaches the broker. The provider then sets the real ones.
var strippedHeaders = []string{
	"Authorization",
	"Proxy-Authorization",
	"Appkey",
	"Appsecret",
	"Secretkey",
	"Personalseckey", // KIS corporate customers' key
	"Approval_key",   // KIS WebSocket approval key
	"Cookie",
}

// newProxy returns the reverse proxy of acct: the broker's answers come
// back with their headers (Kiwoom's cont-yn, next-key and api-id included)
// and their bodies stream; on the way out, kauth.Transport adds the
// provider's auth headers and heals a rejected token with one retry, and
// every upstream call, the retry included, waits its turn at the app key's
// rate limiter. Only the canonical path serveProxy checked is forwarded;
// request trailers are dropped, and a response header that would show the
// account's app key or secret to the bot is removed.
func (a *Agent) newProxy(acct *account) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			out := pr.Out
			u := *acct.baseURL
			pc, _ := pr.In.Context().Value(proxyKey{}).(*proxyCall)
			if pc == nil {
				// Not through serveProxy: forward nothing of the caller's.
				pc = &proxyCall{path: "/"}
			}
			u.Path = strings.TrimSuffix(u.Path, "/") + pc.path
			u.RawPath = ""
			u.RawQuery = pr.In.URL.RawQuery
			out.URL = &u
			out.Host = "" // the broker's host, not the agent's
			for _, h := range strippedHeaders {
				out.Header.Del(h)
			}
			// Trailers come after the body, where header filtering cannot
			// see them: a client's Authorization or Appsecret trailer would
			// reach the broker unfiltered. Brokers take none.
			out.Trailer = nil
			// Let the transport negotiate compression and decompress: the
			// rejected-token check reads the answer's JSON, which a
			// caller-requested gzip body would hide, leaving the token
			// unhealed.
			out.Header.Del("Accept-Encoding")
		},
		ModifyResponse: func(resp *http.Response) error {
			a.scrubResponse(acct, resp)
			return nil
		},
		Transport: &kauth.Transport{
			Manager: acct.mgr,
			Base:    &limitedTransport{a: a, acct: acct, base: a.upstream},
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil && errorKind(err) == "other" {
				// A network failure on the way to the broker.
				err = &kauth.Error{Broker: acct.creds.Broker, Env: acct.creds.Env, Op: "call", Kind: kauth.ErrUnavailable, Err: err}
			}
			if r.Context().Err() == nil {
				// The broker path: a facade URL holds the agent key.
				path := "/"
				if pc, _ := r.Context().Value(proxyKey{}).(*proxyCall); pc != nil {
					path = pc.path
				}
				a.log.Warn("agent: proxied request failed", "account", acct.name, "path", path, "kind", errorKind(err), "err", err)
			}
			if _, ok := r.Context().Value(facadeKey{}).(kauth.Broker); ok {
				writeFacadeKauthError(w, r, acct, err)
				return
			}
			writeKauthError(w, r, err)
		},
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
}

// scrubResponse removes from a broker's answer every header whose name or
// value holds the account's app key or secret (a broker or gateway that
// echoes request headers would otherwise hand them to the bot), and the
// answer's trailers, which arrive too late to be checked. In the body,
// which streams, each occurrence of the key or secret is masked by as many
// '*' (see scrub.NewBody), so its Content-Length stays right.
func (a *Agent) scrubResponse(acct *account, resp *http.Response) {
	secrets := []string{acct.creds.AppKey, acct.creds.AppSecret}
	for name, vals := range resp.Header {
		if holdsSecret(name, secrets) {
			delete(resp.Header, name)
			a.log.Warn("agent: removed a broker response header that held a credential", "account", acct.name)
			continue
		}
		for _, v := range vals {
			if holdsSecret(v, secrets) {
				delete(resp.Header, name)
				a.log.Warn("agent: removed a broker response header that echoed a credential", "account", acct.name, "header", name)
				break
			}
		}
	}
	resp.Trailer = nil
	if resp.Body != nil && resp.Body != http.NoBody && resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body = scrub.NewBody(resp.Body, secrets, func() {
			a.log.Warn("agent: masked a credential that a broker answer's body echoed", "account", acct.name)
		})
	}
}

func holdsSecret(s string, secrets []string) bool {
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			return true
		}
	}
	return false
}

// proxyKey carries a proxied request's proxyCall.
type proxyKey struct{}

// proxyCall is what serveProxy knows of one proxied request: the canonical
// broker path, and, filled in on the way, the rate-limit waits (so that the
// latency histogram measures the broker, not the queue) and whether any
// call reached the broker.
type proxyCall struct {
	path   string
	waited atomic.Int64 // nanoseconds spent waiting for the rate limiter
	sent   atomic.Bool  // an upstream call was made
}

// serveProxy serves /proxy/{account}/{broker path}. It reads the path from
// the request's escaped form itself: the mux would decode it (and redirect
// non-clean paths) first.
func (a *Agent) serveProxy(w http.ResponseWriter, r *http.Request) {
	rest, _ := strings.CutPrefix(r.URL.EscapedPath(), "/proxy/")
	name, brokerPath, _ := strings.Cut(rest, "/")
	acct := a.account(w, r, name)
	if acct == nil {
		return
	}
	defer acct.done()
	if brokerPath == "" {
		writeError(w, http.StatusNotFound, "not_found", "no broker path: use /proxy/"+acct.name+strings.Join(acct.prefixes(), "… or /proxy/"+acct.name)+"…")
		return
	}
	path, err := brokerpath.Canonical(acct.prefixes(), "/"+brokerPath)
	switch {
	case errors.Is(err, brokerpath.ErrNotCanonical):
		writeError(w, http.StatusBadRequest, "bad_path", "broker path refused, "+err.Error())
		return
	case err != nil && strings.HasPrefix(strings.ToLower(brokerPath), "oauth2"):
		// Issuing and revoking belong to the agent: an issuance through the
		// proxy would dodge the once-a-minute guard and page the account
		// holder, and a revoke would break every bot sharing the token.
		writeError(w, http.StatusForbidden, "forbidden_path",
			"the broker's /oauth2 endpoints are not proxied; get the token from GET /v1/accounts/"+acct.name+"/token")
		return
	case err != nil:
		writeError(w, http.StatusForbidden, "forbidden_path", err.Error())
		return
	}
	a.relay(w, r, acct, path)
}

// relay proxies r to acct's broker at path, a canonical broker path.
func (a *Agent) relay(w http.ResponseWriter, r *http.Request, acct *account, path string) {
	if !a.enter(w, acct) {
		return
	}
	defer acct.inFlight.Add(-1)
	if !a.readBody(w, r) {
		return
	}

	pc := &proxyCall{path: path}
	holder := new(rawheader.Holder)
	ctx := context.WithValue(r.Context(), proxyKey{}, pc)
	r = r.WithContext(rawheader.WithHolder(ctx, holder))
	sw := &statusWriter{ResponseWriter: &rawheader.Writer{ResponseWriter: w, Holder: holder}}
	start := time.Now()
	acct.proxy.ServeHTTP(sw, r)
	waited := time.Duration(pc.waited.Load())
	took := time.Since(start) - waited
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	// A request that never reached the broker (its rate-limit wait was
	// canceled or would have outlasted its deadline) has no broker latency.
	a.metrics.Proxied(acct.name, sw.status, took.Seconds(), pc.sent.Load())
	// The path names the broker's API; the query may hold account numbers,
	// so it stays out of the log.
	a.log.Debug("agent: proxied", "account", acct.name, "method", r.Method, "path", path,
		"status", sw.status, "took", took.Round(time.Millisecond), "waited", waited.Round(time.Millisecond))
}

// enter admits one more proxied request of acct, or answers 503 with
// Retry-After when max_in_flight requests are already in flight: a flood
// of slow requests must not queue without bound.
func (a *Agent) enter(w http.ResponseWriter, acct *account) bool {
	limit := int64(a.maxInFlight())
	if acct.inFlight.Add(1) > limit {
		acct.inFlight.Add(-1)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "overloaded",
			fmt.Sprintf("account %s has %d proxied requests in flight (max_in_flight); retry shortly", acct.name, limit))
		return false
	}
	return true
}

// readBody reads r's body (already bounded in size by the guard) into
// memory within the config's body_timeout, and gives r a GetBody, so that
// kauth.Transport can replay it when it retries a call whose token the
// broker rejected. Broker request bodies are small JSON documents; answers,
// which can be large, still stream. On failure it has answered.
func (a *Agent) readBody(w http.ResponseWriter, r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	rc := http.NewResponseController(w)
	// A body that trickles in would hold memory and a connection for as
	// long as the client likes.
	deadline := rc.SetReadDeadline(time.Now().Add(a.bodyTimeout())) == nil
	data, err := io.ReadAll(r.Body)
	r.Body.Close()
	if deadline {
		rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &tooBig):
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
		case errors.As(err, &ne) && ne.Timeout():
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusRequestTimeout, "body_timeout", fmt.Sprintf("request body not received within %s (body_timeout)", a.bodyTimeout()))
		default:
			writeError(w, http.StatusBadRequest, "bad_request", "reading the request body failed")
		}
		return false
	}
	r.ContentLength = int64(len(data))
	if len(data) == 0 {
		r.Body, r.GetBody = http.NoBody, nil
		return true
	}
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return true
}

// limitedTransport makes each upstream call wait for its app key's rate
// limiter, bounded by the request's context: callers wait in line rather
// than fail, and the broker never sees more than its per-second limit
// (KIS EGW00201, Kiwoom 1700).
type limitedTransport struct {
	a    *Agent
	acct *account
	base http.RoundTripper
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	pc, _ := req.Context().Value(proxyKey{}).(*proxyCall)
	var group *pacing.Group
	if !t.a.unpaced {
		group = t.acct.groups.Of(req)
	}
	if err := t.fairWait(req, pc, group); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if pc != nil {
		pc.sent.Store(true)
	}
	resp, err := t.base.RoundTrip(req)
	if group != nil {
		group.Observe(resp)
	}
	return resp, err
}

// fairWait waits for the client's turn at the app key's budget, then for
// the budget. The time in the client's line counts as waiting too.
func (t *limitedTransport) fairWait(req *http.Request, pc *proxyCall, group *pacing.Group) error {
	// A group's call skips the app key's line: the line shares one budget
	// fairly, and holding a fast group's call behind a slow group's wait
	// would undo the groups.
	if t.a.unpaced || t.acct.turns == nil || group != nil {
		return t.wait(req.Context(), pc, group)
	}
	start := time.Now()
	give, err := t.acct.turns.Take(req.Context(), clientOf(req))
	if pc != nil {
		pc.waited.Add(int64(time.Since(start)))
	}
	if err != nil {
		return err
	}
	defer give()
	return t.wait(req.Context(), pc, group)
}

// wait waits for the call's budget: its API group's if group is not nil
// (a broker that limits per group), else the app key's.
func (t *limitedTransport) wait(ctx context.Context, pc *proxyCall, group *pacing.Group) error {
	if t.a.unpaced {
		return nil
	}
	start := time.Now()
	queued, err := true, error(nil)
	if group != nil {
		err = group.Wait(ctx, t.acct.creds)
	} else {
		queued, err = pacing.Pace(ctx, t.acct.creds, t.acct.shared, t.acct.limiter)
	}
	if !queued {
		return err
	}
	// A canceled wait is queue time too, never broker latency.
	waited := time.Since(start)
	if pc != nil {
		pc.waited.Add(int64(waited))
	}
	t.a.metrics.Waited(t.acct.name, waited.Seconds())
	return err
}

// statusWriter records the status a handler sends.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (which the reverse proxy uses to
// flush streamed answers) reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
