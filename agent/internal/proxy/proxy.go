// Package proxy is the agent's reverse proxy to the brokers and its broker
// facade: /proxy/{account}/{broker path}, /broker/{key}/{account}/… and
// the accounts' facade ports. It forwards a bot's call with the account's
// managed credentials in place of the bot's, waits its turn at the app
// key's budget, scrubs the account's secrets from the answer, and answers
// the broker's token, approval and revoke calls from the managed state in
// the broker's own shapes.
//
// What it needs of the agent that serves the accounts (who a key is, the
// accounts served, the API's error answers, the WebSocket gateway) it asks
// through the small interfaces below, so it can be built and tested alone.
// It knows no broker package: what it needs of a broker it asks of the
// account's Provider (brokers.go).
package proxy

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
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/brokerpath"
	"github.com/kauth/kauth/agent/internal/lograte"
	"github.com/kauth/kauth/agent/internal/pacing"
	"github.com/kauth/kauth/agent/internal/rawheader"
	"github.com/kauth/kauth/agent/internal/scrub"
	"github.com/kauth/kauth/budget"
)

// Account is what the proxy needs of one served account. Its answers do
// not change while the account is served, except Pacing's, which the
// agent completes before the account serves its first request.
type Account interface {
	Name() string
	Credentials() kauth.Credentials
	Manager() *kauth.Manager
	// Pacing is the budget the account's calls wait for.
	Pacing() Pacing
	// RevokePass makes the facade's revoke endpoints revoke the shared
	// token (config revoke: pass).
	RevokePass() bool
}

// Pacing is the budget of an account's calls. A nil field is not used.
type Pacing struct {
	// Limiter is the app key's limiter, shared by every account of it.
	Limiter *rate.Limiter
	// Turns shares Limiter (or Shared) fairly among the clients.
	Turns *pacing.Turns
	// Shared, if not nil, is the app key's budget shared with other
	// agents; the proxy waits on it instead of Limiter.
	Shared *budget.Shared
	// Groups, if not nil, paces the calls of a broker that limits per API
	// group (Toss), in place of Limiter and Shared.
	Groups *pacing.Groups
}

// Limits are the agent's request limits at the time of a request.
type Limits struct {
	MaxInFlight int           // proxied requests of one account in flight
	MaxBody     int64         // request body size
	BodyTimeout time.Duration // to receive a request body
}

// Metrics records the proxied calls. *metrics.Metrics implements it.
type Metrics interface {
	// Proxied records one proxied request: its status, the broker's
	// latency in seconds (without the rate-limit waits) and whether it
	// reached the broker at all.
	Proxied(account string, status int, seconds float64, sent bool)
	// Waited records a rate-limit wait.
	Waited(account string, seconds float64)
}

// API writes the agent API's own answers, so that the proxy's failures
// read like the rest of the API.
type API interface {
	// Error answers with status and the API's error body.
	Error(w http.ResponseWriter, status int, code, msg string)
	// KauthError answers a failure to get a token or to reach the broker
	// with a status by its kind.
	KauthError(w http.ResponseWriter, r *http.Request, err error)
	// JSON answers with status and v as JSON, not to be cached.
	JSON(w http.ResponseWriter, status int, v any)
}

// Config is what a Proxy needs. Every field is required unless it says
// otherwise.
type Config struct {
	// Upstream carries the calls to the brokers.
	Upstream http.RoundTripper
	Log      *slog.Logger
	Metrics  Metrics
	API      API
	// Limits returns the limits in force now (a reload may change them).
	Limits func() Limits
	// Kind names the kauth kind of an error ("other" for none).
	Kind func(error) string
	// Client names the client of a request, whose turns it takes.
	Client func(*http.Request) string
	// Now is the time of the facade's token answers.
	Now func() time.Time
	// Unpaced turns the pacing of the calls off (measurements only).
	Unpaced bool
	// Host answers who a key is and which accounts are served.
	Host Host
	// Realtime is the WebSocket gateway; nil means the facade serves no
	// WebSocket and no approval key.
	Realtime Realtime
}

// Proxy serves the proxied calls and the facade of an agent's accounts.
type Proxy struct {
	cfg Config
	// refusals thins out the log lines of a facade port's refusals, per
	// account: anyone on the machine can make them.
	refusals *lograte.Limiter
}

// New returns a Proxy of cfg.
func New(cfg Config) *Proxy { return &Proxy{cfg: cfg, refusals: lograte.New(0, cfg.Now)} }

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

// Relay is one account's reverse proxy.
type Relay struct {
	p        *Proxy
	acct     Account
	rp       *httputil.ReverseProxy
	inFlight atomic.Int64 // proxied requests being served
}

// Account returns the account rl serves.
func (rl *Relay) Account() Account { return rl.acct }

// InFlight returns how many proxied requests of the account are in flight.
func (rl *Relay) InFlight() int64 { return rl.inFlight.Load() }

// Relay returns the reverse proxy of acct to its broker at base: the
// broker's answers come back with their headers (Kiwoom's cont-yn,
// next-key and api-id included) and their bodies stream; on the way out,
// kauth.Transport adds the provider's auth headers and heals a rejected
// token with one retry, and every upstream call, the retry included, waits
// its turn at the app key's rate limiter. Only the canonical path
// ServeProxy checked is forwarded; request trailers are dropped, and a
// response header that would show the account's app key or secret to the
// bot is removed.
func (p *Proxy) Relay(acct Account, base *url.URL) *Relay {
	rl := &Relay{p: p, acct: acct}
	rl.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			out := pr.Out
			u := *base
			pc, _ := pr.In.Context().Value(proxyKey{}).(*proxyCall)
			if pc == nil {
				// Not through ServeProxy: forward nothing of the caller's.
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
			p.scrubResponse(acct, resp)
			return nil
		},
		Transport: &kauth.Transport{
			Manager: acct.Manager(),
			Base:    &limitedTransport{p: p, acct: acct, base: p.cfg.Upstream},
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil && p.cfg.Kind(err) == "other" {
				// A network failure on the way to the broker.
				c := acct.Credentials()
				err = &kauth.Error{Broker: c.Broker, Env: c.Env, Op: "call", Kind: kauth.ErrUnavailable, Err: err}
			}
			if r.Context().Err() == nil {
				// The broker path: a facade URL holds the agent key.
				path := "/"
				if pc, _ := r.Context().Value(proxyKey{}).(*proxyCall); pc != nil {
					path = pc.path
				}
				p.cfg.Log.Warn("agent: proxied request failed", "account", acct.Name(), "path", path, "kind", p.cfg.Kind(err), "err", err)
			}
			if _, ok := r.Context().Value(facadeKey{}).(kauth.Broker); ok {
				p.writeFacadeKauthError(w, r, acct, err)
				return
			}
			p.cfg.API.KauthError(w, r, err)
		},
		ErrorLog: slog.NewLogLogger(p.cfg.Log.Handler(), slog.LevelWarn),
	}
	return rl
}

// scrubResponse removes from a broker's answer every header whose name or
// value holds the account's app key or secret (a broker or gateway that
// echoes request headers would otherwise hand them to the bot), and the
// answer's trailers, which arrive too late to be checked. In the body,
// which streams, each occurrence of the key or secret is masked by as many
// '*' (see scrub.NewBody), so its Content-Length stays right.
func (p *Proxy) scrubResponse(acct Account, resp *http.Response) {
	c := acct.Credentials()
	secrets := []string{c.AppKey, c.AppSecret}
	for name, vals := range resp.Header {
		if holdsSecret(name, secrets) {
			delete(resp.Header, name)
			p.cfg.Log.Warn("agent: removed a broker response header that held a credential", "account", acct.Name())
			continue
		}
		for _, v := range vals {
			if holdsSecret(v, secrets) {
				delete(resp.Header, name)
				p.cfg.Log.Warn("agent: removed a broker response header that echoed a credential", "account", acct.Name(), "header", name)
				break
			}
		}
	}
	resp.Trailer = nil
	if resp.Body != nil && resp.Body != http.NoBody && resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body = scrub.NewBody(resp.Body, secrets, func() {
			p.cfg.Log.Warn("agent: masked a credential that a broker answer's body echoed", "account", acct.Name())
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

// proxyCall is what ServeProxy knows of one proxied request: the canonical
// broker path, and, filled in on the way, the rate-limit waits (so that the
// latency histogram measures the broker, not the queue) and whether any
// call reached the broker.
type proxyCall struct {
	path   string
	waited atomic.Int64 // nanoseconds spent waiting for the rate limiter
	sent   atomic.Bool  // an upstream call was made
}

// ServeProxy serves /proxy/{account}/{broker path}. It reads the path from
// the request's escaped form itself: the mux would decode it (and redirect
// non-clean paths) first.
func (p *Proxy) ServeProxy(w http.ResponseWriter, r *http.Request) {
	rest, _ := strings.CutPrefix(r.URL.EscapedPath(), "/proxy/")
	name, brokerPath, _ := strings.Cut(rest, "/")
	rl := p.cfg.Host.Open(w, r, name)
	if rl == nil {
		return
	}
	defer p.cfg.Host.Release(rl)
	name = rl.acct.Name()
	prefixes := apiPrefixes(rl.acct.Manager().Provider())
	if brokerPath == "" {
		p.cfg.API.Error(w, http.StatusNotFound, "not_found", "no broker path: use /proxy/"+name+strings.Join(prefixes, "… or /proxy/"+name)+"…")
		return
	}
	path, err := brokerpath.Canonical(prefixes, "/"+brokerPath)
	switch {
	case errors.Is(err, brokerpath.ErrNotCanonical):
		p.cfg.API.Error(w, http.StatusBadRequest, "bad_path", "broker path refused, "+err.Error())
		return
	case err != nil && strings.HasPrefix(strings.ToLower(brokerPath), "oauth2"):
		// Issuing and revoking belong to the agent: an issuance through the
		// proxy would dodge the once-a-minute guard and page the account
		// holder, and a revoke would break every bot sharing the token.
		p.cfg.API.Error(w, http.StatusForbidden, "forbidden_path",
			"the broker's /oauth2 endpoints are not proxied; get the token from GET /v1/accounts/"+name+"/token")
		return
	case err != nil:
		p.cfg.API.Error(w, http.StatusForbidden, "forbidden_path", err.Error())
		return
	}
	p.relay(w, r, rl, path)
}

// relay proxies r to rl's broker at path, a canonical broker path.
func (p *Proxy) relay(w http.ResponseWriter, r *http.Request, rl *Relay, path string) {
	if !p.enter(w, rl) {
		return
	}
	defer rl.inFlight.Add(-1)
	if !p.ReadBody(w, r) {
		return
	}

	pc := &proxyCall{path: path}
	holder := new(rawheader.Holder)
	ctx := context.WithValue(r.Context(), proxyKey{}, pc)
	r = r.WithContext(rawheader.WithHolder(ctx, holder))
	sw := &statusWriter{ResponseWriter: &rawheader.Writer{ResponseWriter: w, Holder: holder}}
	start := time.Now()
	rl.rp.ServeHTTP(sw, r)
	waited := time.Duration(pc.waited.Load())
	took := time.Since(start) - waited
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	name := rl.acct.Name()
	// A request that never reached the broker (its rate-limit wait was
	// canceled or would have outlasted its deadline) has no broker latency.
	p.cfg.Metrics.Proxied(name, sw.status, took.Seconds(), pc.sent.Load())
	// The path names the broker's API; the query may hold account numbers,
	// so it stays out of the log.
	p.cfg.Log.Debug("agent: proxied", "account", name, "method", r.Method, "path", path,
		"status", sw.status, "took", took.Round(time.Millisecond), "waited", waited.Round(time.Millisecond))
}

// enter admits one more proxied request of rl, or answers 503 with
// Retry-After when max_in_flight requests are already in flight: a flood
// of slow requests must not queue without bound.
func (p *Proxy) enter(w http.ResponseWriter, rl *Relay) bool {
	limit := int64(p.cfg.Limits().MaxInFlight)
	if rl.inFlight.Add(1) > limit {
		rl.inFlight.Add(-1)
		w.Header().Set("Retry-After", "1")
		p.cfg.API.Error(w, http.StatusServiceUnavailable, "overloaded",
			fmt.Sprintf("account %s has %d proxied requests in flight (max_in_flight); retry shortly", rl.acct.Name(), limit))
		return false
	}
	return true
}

// ReadBody reads r's body (already bounded in size by the caller) into
// memory within the body timeout, and gives r a GetBody, so that
// kauth.Transport can replay it when it retries a call whose token the
// broker rejected. Broker request bodies are small JSON documents; answers,
// which can be large, still stream. On failure it has answered.
func (p *Proxy) ReadBody(w http.ResponseWriter, r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	timeout := p.cfg.Limits().BodyTimeout
	rc := http.NewResponseController(w)
	// A body that trickles in would hold memory and a connection for as
	// long as the client likes.
	deadline := rc.SetReadDeadline(time.Now().Add(timeout)) == nil
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
			p.cfg.API.Error(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
		case errors.As(err, &ne) && ne.Timeout():
			w.Header().Set("Connection", "close")
			p.cfg.API.Error(w, http.StatusRequestTimeout, "body_timeout", fmt.Sprintf("request body not received within %s (body_timeout)", timeout))
		default:
			p.cfg.API.Error(w, http.StatusBadRequest, "bad_request", "reading the request body failed")
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
	p    *Proxy
	acct Account
	base http.RoundTripper
}

// Paced returns base with each call waiting its turn at acct's budget,
// as the proxied calls do (for the agent's own calls on acct's behalf).
func (p *Proxy) Paced(acct Account, base http.RoundTripper) http.RoundTripper {
	return &limitedTransport{p: p, acct: acct, base: base}
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	pc, _ := req.Context().Value(proxyKey{}).(*proxyCall)
	pace := t.acct.Pacing()
	var group *pacing.Group
	if !t.p.cfg.Unpaced {
		group = pace.Groups.Of(req)
	}
	if err := t.fairWait(req, pc, pace, group); err != nil {
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
func (t *limitedTransport) fairWait(req *http.Request, pc *proxyCall, pace Pacing, group *pacing.Group) error {
	// A group's call skips the app key's line: the line shares one budget
	// fairly, and holding a fast group's call behind a slow group's wait
	// would undo the groups.
	if t.p.cfg.Unpaced || pace.Turns == nil || group != nil {
		return t.wait(req.Context(), pc, pace, group)
	}
	start := time.Now()
	give, err := pace.Turns.Take(req.Context(), t.p.cfg.Client(req))
	if pc != nil {
		pc.waited.Add(int64(time.Since(start)))
	}
	if err != nil {
		return err
	}
	defer give()
	return t.wait(req.Context(), pc, pace, group)
}

// wait waits for the call's budget: its API group's if group is not nil
// (a broker that limits per group), else the app key's.
func (t *limitedTransport) wait(ctx context.Context, pc *proxyCall, pace Pacing, group *pacing.Group) error {
	if t.p.cfg.Unpaced {
		return nil
	}
	start := time.Now()
	queued, err := true, error(nil)
	if group != nil {
		err = group.Wait(ctx, t.acct.Credentials())
	} else {
		queued, err = pacing.Pace(ctx, t.acct.Credentials(), pace.Shared, pace.Limiter)
	}
	if !queued {
		return err
	}
	// A canceled wait is queue time too, never broker latency.
	waited := time.Since(start)
	if pc != nil {
		pc.waited.Add(int64(waited))
	}
	t.p.cfg.Metrics.Waited(t.acct.Name(), waited.Seconds())
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
