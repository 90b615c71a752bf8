package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kauth/kauth"
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
// back unchanged (headers such as Kiwoom's cont-yn, next-key and api-id
// included) and their bodies stream; on the way out, kauth.Transport adds
// the provider's auth headers and heals a rejected token with one retry,
// and every upstream call, the retry included, waits its turn at the app
// key's rate limiter.
func (a *Agent) newProxy(acct *account) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			out := pr.Out
			u := *acct.baseURL
			u.Path = strings.TrimSuffix(u.Path, "/") + "/" + pr.In.PathValue("path")
			u.RawPath = ""
			u.RawQuery = pr.In.URL.RawQuery
			out.URL = &u
			out.Host = "" // the broker's host, not the agent's
			for _, h := range strippedHeaders {
				out.Header.Del(h)
			}
			// Let the transport negotiate compression and decompress: the
			// rejected-token check reads the answer's JSON, which a
			// caller-requested gzip body would hide, leaving the token
			// unhealed.
			out.Header.Del("Accept-Encoding")
		},
		Transport: &kauth.Transport{
			Manager: acct.mgr,
			Base:    &limitedTransport{a: a, acct: acct, base: a.base},
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil && errorKind(err) == "other" {
				// A network failure on the way to the broker.
				err = &kauth.Error{Broker: acct.creds.Broker, Env: acct.creds.Env, Op: "call", Kind: kauth.ErrUnavailable, Err: err}
			}
			if r.Context().Err() == nil {
				a.log.Warn("agent: proxied request failed", "account", acct.name, "path", r.URL.Path, "kind", errorKind(err), "err", err)
			}
			writeKauthError(w, r, err)
		},
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
}

// serveProxy serves /proxy/{account}/{broker path}.
func (a *Agent) serveProxy(w http.ResponseWriter, r *http.Request) {
	acct := a.account(w, r.PathValue("account"))
	if acct == nil {
		return
	}
	defer acct.done()
	path := r.PathValue("path")
	if path == "" {
		writeError(w, http.StatusNotFound, "not_found", "no broker path: use /proxy/"+acct.name+"/uapi/… or /proxy/"+acct.name+"/api/…")
		return
	}
	if p := strings.ToLower(path); p == "oauth2" || strings.HasPrefix(p, "oauth2/") {
		// Issuing and revoking belong to the agent: an issuance through the
		// proxy would dodge the once-a-minute guard and page the account
		// holder, and a revoke would break every bot sharing the token.
		writeError(w, http.StatusForbidden, "forbidden_path",
			"the broker's /oauth2 endpoints are not proxied; get the token from GET /v1/accounts/"+acct.name+"/token")
		return
	}
	if err := bufferBody(r); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "bad_request", "reading the request body: "+err.Error())
		return
	}

	waited := new(atomic.Int64)
	r = r.WithContext(context.WithValue(r.Context(), waitKey{}, waited))
	sw := &statusWriter{ResponseWriter: w}
	start := time.Now()
	acct.proxy.ServeHTTP(sw, r)
	took := time.Since(start) - time.Duration(waited.Load())
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	a.metrics.proxied(acct.name, sw.status, took.Seconds())
	// The path names the broker's API; the query may hold account numbers,
	// so it stays out of the log.
	a.log.Debug("agent: proxied", "account", acct.name, "method", r.Method, "path", "/"+path,
		"status", sw.status, "took", took.Round(time.Millisecond), "waited", time.Duration(waited.Load()).Round(time.Millisecond))
}

// bufferBody reads r's body (already bounded by the guard) into memory and
// gives r a GetBody, so that kauth.Transport can replay it when it retries
// a call whose token the broker rejected. Broker request bodies are small
// JSON documents; answers, which can be large, still stream.
func bufferBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	data, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return err
	}
	r.ContentLength = int64(len(data))
	if len(data) == 0 {
		r.Body, r.GetBody = http.NoBody, nil
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return nil
}

// waitKey carries the per-request sum of rate-limit waits, so that the
// latency histogram measures the broker, not the queue.
type waitKey struct{}

// limitedTransport makes each upstream call wait for its app key's rate
// limiter, bounded by the request's context: callers wait in line rather
// than fail, and the broker never sees more than its per-second limit
// (KIS EGW00201, Kiwoom 1700).
type limitedTransport struct {
	a    *Agent
	acct *account
	base http.RoundTripper
}

// errRateWait reports a request whose deadline would pass before its turn.
var errRateWait = errors.New("agent: the request's deadline would pass while waiting for the app key's rate limit")

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.wait(req.Context()); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return t.base.RoundTrip(req)
}

func (t *limitedTransport) wait(ctx context.Context) error {
	r := t.acct.limiter.Reserve()
	if !r.OK() {
		return errRateWait
	}
	d := r.Delay()
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		r.Cancel()
		return &kauth.Error{Broker: t.acct.creds.Broker, Env: t.acct.creds.Env, Op: "call",
			Kind: kauth.ErrRateLimited, Code: "agent", RetryAfter: d, Err: errRateWait}
	}
	start := time.Now()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	}
	waited := time.Since(start)
	if acc, ok := ctx.Value(waitKey{}).(*atomic.Int64); ok {
		acc.Add(int64(waited))
	}
	t.a.metrics.waited(t.acct.name, waited.Seconds())
	return nil
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
