package brokertest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// RedirectStatuses are the redirects Go's client follows by itself: 307
// and 308 resend a POST with its body, 301, 302 and 303 turn it into a GET.
var RedirectStatuses = []int{
	http.StatusMovedPermanently,
	http.StatusFound,
	http.StatusSeeOther,
	http.StatusTemporaryRedirect,
	http.StatusPermanentRedirect,
}

// Catcher is a server on another host (127.0.0.2, where the servers under
// test listen on 127.0.0.1) that a redirect points to. It records every
// request and answers each with a success that every broker's token,
// revoke, approval and hashkey call would accept, so that a client that
// follows a redirect also takes what the other host hands out.
type Catcher struct {
	*httptest.Server
	// Host is the catcher's host:port, as a redirect error must name it.
	Host string

	next http.Handler

	mu   sync.Mutex
	reqs []string // method, path, headers and body of each request
}

// NewCatcher starts a Catcher, closed when the test ends.
func NewCatcher(t testing.TB) *Catcher { return NewCatcherFor(t, nil) }

// NewCatcherFor starts a Catcher that hands each request, once recorded,
// to next (a simulator that would take whatever is sent, a WebSocket
// login included) instead of answering it itself.
func NewCatcherFor(t testing.TB, next http.Handler) *Catcher {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("listening on 127.0.0.2: %v", err)
	}
	c := &Catcher{next: next}
	c.Server = httptest.NewUnstartedServer(http.HandlerFunc(c.serve))
	c.Server.Listener.Close()
	c.Server.Listener = ln
	c.Server.Start()
	t.Cleanup(c.Server.Close)
	c.Host = ln.Addr().String()
	return c
}

func (c *Catcher) serve(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL.RequestURI())
	for k, vs := range r.Header {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ","))
	}
	if c.next != nil {
		c.record(b.String())
		c.next.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	b.Write(body)
	c.record(b.String())

	exp := time.Now().Add(20 * time.Hour).In(kauth.KST)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	fmt.Fprintf(w, `{"access_token":"caughtTOKENfromTheOtherHost","token":"caughtTOKENfromTheOtherHost","token_type":"Bearer",`+
		`"expires_in":72000,"expire_in":"72000","access_token_token_expired":%q,"expires_dt":%q,`+
		`"return_code":0,"return_msg":"ok","rt_cd":"0","msg_cd":"","msg1":"ok","code":200,"message":"ok",`+
		`"approval_key":"caught-approval-key","HASH":"caught-hash","scope":"oob","output":{}}`,
		exp.Format("2006-01-02 15:04:05"), exp.Format("20060102150405"))
}

func (c *Catcher) record(r string) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	c.mu.Unlock()
}

// Requests returns how many requests reached the catcher.
func (c *Catcher) Requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.reqs)
}

// Check fails the test if any request reached the catcher, saying how many
// carried one of secrets.
func (c *Catcher) Check(t testing.TB, secrets ...string) {
	t.Helper()
	c.mu.Lock()
	reqs := append([]string(nil), c.reqs...)
	c.mu.Unlock()
	if len(reqs) == 0 {
		return
	}
	leaked := 0
	for _, r := range reqs {
		for _, s := range secrets {
			if s != "" && strings.Contains(r, s) {
				leaked++
				break
			}
		}
	}
	t.Errorf("the redirect was followed: %s received %d request(s), %d carrying a credential or token", c.Host, len(reqs), leaked)
}

// NewRedirector starts a server on 127.0.0.1 that answers every request
// with status and a Location on the catcher, at the same path, with a
// query (which may echo what was sent, so it must never reach an error).
// It is closed when the test ends. hits counts its requests.
func NewRedirector(t testing.TB, status int, c *Catcher) (srv *httptest.Server, hits func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		n++
		mu.Unlock()
		w.Header().Set("Location", c.URL+r.URL.Path+"?echo=location-query")
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// CheckRedirectError fails the test unless err is the error of a refused
// redirect: a *kauth.Error of broker, env and op whose Kind is
// kauth.ErrUnavailable, whose cause is a *kauth.RedirectError naming status
// and host, and whose message is one line naming broker, env, status and
// host, without the Location's query or a secret.
func CheckRedirectError(t testing.TB, err error, broker kauth.Broker, env kauth.Env, op string, status int, host string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s %s %s after HTTP %d to %s: no error; want a refused redirect", broker, env, op, status, host)
	}
	msg := err.Error()
	var re *kauth.RedirectError
	if !errors.As(err, &re) {
		t.Fatalf("%s %s %s after HTTP %d: error %q is no *kauth.RedirectError", broker, env, op, status, msg)
	}
	if re.StatusCode != status || re.Host != host {
		t.Errorf("RedirectError = {%d %q}; want {%d %q}", re.StatusCode, re.Host, status, host)
	}
	var ke *kauth.Error
	if !errors.As(err, &ke) {
		t.Fatalf("error %q is no *kauth.Error", msg)
	}
	if ke.Broker != broker || ke.Env != env || ke.Op != op || ke.StatusCode != status {
		t.Errorf("Error{Broker %q, Env %q, Op %q, StatusCode %d}; want {%q, %q, %q, %d}", ke.Broker, ke.Env, ke.Op, ke.StatusCode, broker, env, op, status)
	}
	if !errors.Is(err, kauth.ErrUnavailable) {
		t.Errorf("errors.Is(%q, ErrUnavailable) = false", msg)
	}
	for _, want := range []string{string(broker), string(env), fmt.Sprintf("HTTP %d", status), host} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error %q is not one line", msg)
	}
	if strings.Contains(msg, "echo=") {
		t.Errorf("error %q shows the Location's query", msg)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("error %q holds a secret", msg)
		}
	}
}
