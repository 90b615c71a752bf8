package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/longtest"
)

// Soak reports whether the soak variants are asked for (KAUTH_SOAK set to
// anything but "" or "0"). The variants that pass reliably and soon take
// their soak scale under KAUTH_LONG too, as CI runs them (see LongScale):
// the crash rounds, the chaos run, and the fault tests at 200 callers. The
// soak adds a six-minute fault harness (TestFaultHarness, 25 s otherwise),
// which CI runs in a step of its own after the suite: the whole soak run,
// KAUTH_SOAK=1 go test -race ./internal/reliability/..., took 14 minutes
// on a loaded two-core machine.
func Soak() bool { return longtest.Set(os.Getenv("KAUTH_SOAK")) }

// LongScale returns n, or long in a soak run or under KAUTH_LONG (as CI
// runs the suite): the soak variants that CI runs.
func LongScale(n, long int) int {
	if Soak() || longtest.Enabled() {
		return long
	}
	return n
}

// Rig is a brokersim.Server on a loopback httptest server, with a count of
// the requests that reached each broker's token endpoint.
type Rig struct {
	Sim *brokersim.Server
	TS  *httptest.Server

	issueMu     sync.Mutex
	issueCalls  map[kauth.Broker]int // requests to each broker's token endpoint
	interceptMu sync.Mutex
	intercept   func(r *http.Request)
	hold        func(r *http.Request) time.Duration

	// The requests of the rig's providers (Provider, NewProvider with
	// Client), by the id they carry in requestHeader.
	reqMu    sync.Mutex
	reqSeq   uint64
	requests map[uint64]*request
	client   *http.Client

	// The answers of the token endpoints to the children's requests (those
	// that carry PIDHeader), in the order the simulator wrote them.
	answerMu sync.Mutex
	answers  []IssueAnswer
}

// requestHeader carries the id of a request sent by the rig's client.
const requestHeader = "X-Kauth-Test-Request"

// request is what the rig knows of one request of its client: what the
// simulator answered, and whether the client read the answer.
type request struct {
	broker kauth.Broker // set if it went to a token endpoint
	// answered: the simulator wrote an answer (not a hang or a reset);
	// token is the access token it carried, if any.
	answered bool
	token    string
	// lost: the client ended the request without reading the whole
	// answer; deadline: because the request's deadline had passed.
	lost, deadline bool
}

// NewRig starts a simulator with the demo apps registered. configure, if not
// nil, sets the simulator's fields before the first request. Close stops it.
func NewRig(configure func(*brokersim.Server)) *Rig {
	r := &Rig{Sim: brokersim.New()}
	if configure != nil {
		configure(r.Sim)
	}
	r.TS = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// tokenPath returns broker b's token endpoint, or "".
func tokenPath(b kauth.Broker) string {
	spec, ok := brokers.Get(b)
	if !ok {
		return ""
	}
	fe, ok := spec.New("", nil, nil).(interface{ FacadePaths() (token, revoke string) })
	if !ok {
		return ""
	}
	tok, _ := fe.FacadePaths()
	return tok
}

func (r *Rig) serve(w http.ResponseWriter, req *http.Request) {
	// /{broker}/{env}{TokenPath}, the simulator's prefix layout.
	var issuing kauth.Broker
	if parts := strings.SplitN(strings.TrimPrefix(req.URL.Path, "/"), "/", 3); len(parts) == 3 {
		b := kauth.Broker(parts[0])
		if tokenPath(b) != "" && "/"+parts[2] == tokenPath(b) {
			issuing = b
			r.issueMu.Lock()
			if r.issueCalls == nil {
				r.issueCalls = map[kauth.Broker]int{}
			}
			r.issueCalls[b]++
			r.issueMu.Unlock()
		}
	}
	r.interceptMu.Lock()
	f := r.intercept
	r.interceptMu.Unlock()
	if f != nil {
		f(req)
	}
	arrived := time.Now()
	id, err := strconv.ParseUint(req.Header.Get(requestHeader), 10, 64)
	pid, perr := strconv.Atoi(req.Header.Get(PIDHeader))
	if issuing == "" || (err != nil && perr != nil) {
		r.Sim.ServeHTTP(w, req)
		r.holdAnswer(req)
		return
	}
	tw := &teeWriter{ResponseWriter: w}
	r.Sim.ServeHTTP(tw, req)
	defer r.holdAnswer(req)
	// Not reached after a reset or an abandoned hang (the simulator
	// panics with http.ErrAbortHandler): no answer was written.
	var body struct {
		AccessToken string `json:"access_token"` // KIS, LS, DB, Toss
		Token       string `json:"token"`        // Kiwoom
	}
	json.Unmarshal(tw.body.Bytes(), &body)
	if perr == nil {
		r.answerMu.Lock()
		r.answers = append(r.answers, IssueAnswer{PID: pid, Broker: issuing, Token: body.AccessToken + body.Token, Arrived: arrived, At: time.Now()})
		r.answerMu.Unlock()
	}
	if err != nil {
		return
	}
	r.reqMu.Lock()
	q := r.requestLocked(id)
	q.broker, q.answered = issuing, tw.status != 0
	q.token = body.AccessToken + body.Token
	r.reqMu.Unlock()
}

// teeWriter keeps a copy of the answer's status and body (its first 64
// KiB) on its way to the client.
type teeWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *teeWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *teeWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if room := 64<<10 - w.body.Len(); room > 0 {
		w.body.Write(p[:min(len(p), room)])
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (the
// simulator's reset and hang faults hijack it).
func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (r *Rig) requestLocked(id uint64) *request {
	if r.requests == nil {
		r.requests = map[uint64]*request{}
	}
	q := r.requests[id]
	if q == nil {
		q = &request{}
		r.requests[id] = q
	}
	return q
}

// Client returns the client of the rig's providers: the test server's
// client, with each request tagged so that the rig can tell which answers
// of the simulator never reached it (Lost).
func (r *Rig) Client() *http.Client {
	r.reqMu.Lock()
	defer r.reqMu.Unlock()
	if r.client == nil {
		r.client = &http.Client{Transport: &tagger{rig: r, base: r.TS.Client().Transport}}
	}
	return r.client
}

// tagger is the transport of Client.
type tagger struct {
	rig  *Rig
	base http.RoundTripper
}

func (t *tagger) RoundTrip(req *http.Request) (*http.Response, error) {
	t.rig.reqMu.Lock()
	t.rig.reqSeq++
	id := t.rig.reqSeq
	t.rig.reqMu.Unlock()
	req = req.Clone(req.Context())
	req.Header.Set(requestHeader, strconv.FormatUint(id, 10))
	lose := func() {
		deadline := errors.Is(req.Context().Err(), context.DeadlineExceeded)
		t.rig.reqMu.Lock()
		q := t.rig.requestLocked(id)
		if !q.lost {
			q.lost, q.deadline = true, deadline
		}
		t.rig.reqMu.Unlock()
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		lose()
		return nil, err
	}
	resp.Body = &watchedBody{ReadCloser: resp.Body, lose: lose}
	return resp, nil
}

// watchedBody reports a read that fails before the end of the answer
// (the request's context ended, the connection broke).
type watchedBody struct {
	io.ReadCloser
	lose func()
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.lose()
	}
	return n, err
}

// LostAnswers counts the answers of a broker's token endpoint that the
// simulator wrote and the rig's client never read. A token request that a
// Manager gives up on at its AttemptTimeout may still have been served: on
// a loaded machine the answer comes after the timeout, and the retry that
// follows costs another request (at KIS or DB, a rate-limit answer too),
// and, at a broker that mints a new token on every request (LS, DB, Toss),
// another issuance.
type LostAnswers struct {
	Answers int // answers never read
	// Tokens is how many tokens the simulator minted in those answers
	// that the client read in no other answer.
	Tokens int
	// Early is how many of them the client gave up on before its
	// request's deadline (its context canceled, the connection broken).
	Early int
}

// Lost returns the answers of broker b's token endpoint that the rig's
// client never read.
func (r *Rig) Lost(b kauth.Broker) LostAnswers {
	r.reqMu.Lock()
	defer r.reqMu.Unlock()
	read := map[string]bool{}
	for _, q := range r.requests {
		if q.broker == b && q.answered && !q.lost && q.token != "" {
			read[q.token] = true
		}
	}
	var l LostAnswers
	tokens := map[string]bool{}
	for _, q := range r.requests {
		if q.broker != b || !q.answered || !q.lost {
			continue
		}
		l.Answers++
		if !q.deadline {
			l.Early++
		}
		if q.token != "" && !read[q.token] {
			tokens[q.token] = true
		}
	}
	l.Tokens = len(tokens)
	return l
}

// Intercept makes f see every request before the simulator does (nil
// removes it). f runs on the handler's goroutine and must not block long.
func (r *Rig) Intercept(f func(*http.Request)) {
	r.interceptMu.Lock()
	r.intercept = f
	r.interceptMu.Unlock()
}

// HoldAnswers makes the answer the simulator wrote to a request leave
// f(req) later (nil removes it): a broker that served a request whose
// answer arrives late. net/http sends the answer when the handler
// returns.
func (r *Rig) HoldAnswers(f func(req *http.Request) time.Duration) {
	r.interceptMu.Lock()
	r.hold = f
	r.interceptMu.Unlock()
}

func (r *Rig) holdAnswer(req *http.Request) {
	r.interceptMu.Lock()
	f := r.hold
	r.interceptMu.Unlock()
	if f == nil {
		return
	}
	if d := f(req); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-req.Context().Done():
		}
	}
}

// IssueCalls returns how many requests reached broker b's token endpoint,
// faulted ones included.
func (r *Rig) IssueCalls(b kauth.Broker) int {
	r.issueMu.Lock()
	defer r.issueMu.Unlock()
	return r.issueCalls[b]
}

// IssueAnswer is an answer of a token endpoint to a child's request.
type IssueAnswer struct {
	PID    int          // the child's process id (PIDHeader)
	Broker kauth.Broker // whose token endpoint answered
	Token  string       // the access token in the answer; "" for none
	// Arrived is when the request reached the rig, At when the simulator
	// had written the answer (the wall clock): the broker decided between
	// the two.
	Arrived, At time.Time
}

// IssueAnswers returns the answers of the token endpoints to the
// children's requests so far, in the order the simulator wrote them. An
// answer is recorded whether or not its child lived to read it.
func (r *Rig) IssueAnswers() []IssueAnswer {
	r.answerMu.Lock()
	defer r.answerMu.Unlock()
	return slices.Clone(r.answers)
}

// Close ends hung requests and stops the server.
func (r *Rig) Close() {
	r.Sim.ReleaseHangs()
	r.TS.Close()
}

// URL returns the root URL of the simulator.
func (r *Rig) URL() string { return r.TS.URL }

// Provider returns the provider of broker b at env e aimed at the rig, with
// now as the receipt clock.
func (r *Rig) Provider(b kauth.Broker, e kauth.Env, now func() time.Time) kauth.Provider {
	return NewProvider(r.TS.URL, b, e, r.Client(), now)
}

// NewProvider returns the provider of broker b at env e aimed at a
// simulator served at root.
func NewProvider(root string, b kauth.Broker, e kauth.Env, client *http.Client, now func() time.Time) kauth.Provider {
	return brokers.MustGet(b).New(brokersim.BaseURL(root, b, e), client, now)
}

// VClock drives a Manager from the simulator's virtual clock: Sleep
// advances the simulator instead of waiting, so a minute-long wait for the
// KIS issuance interval costs nothing.
type VClock struct{ Sim *brokersim.Server }

// Now returns the simulator's virtual time.
func (c VClock) Now() time.Time { return c.Sim.Now() }

// Sleep advances the simulator by d, unless ctx is done.
func (c VClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		c.Sim.Advance(d)
	}
	return nil
}

// ScaledClock is a virtual clock shared by separate processes without any
// communication: virtual time runs Scale times faster than the wall clock
// from Base, which every process is given. Sleep waits d/Scale of real
// time.
type ScaledClock struct {
	Base  time.Time
	Scale int64
}

// Now returns Base + (wall time since Base) × Scale.
func (c ScaledClock) Now() time.Time {
	now := time.Now()
	return c.Base.Add(now.Sub(c.Base) * time.Duration(c.Scale))
}

// Real converts a virtual duration into wall time.
func (c ScaledClock) Real(d time.Duration) time.Duration { return d / time.Duration(c.Scale) }

// Sleep waits d/Scale of real time or until ctx is done.
func (c ScaledClock) Sleep(ctx context.Context, d time.Duration) error {
	return kauth.SystemClock{}.Sleep(ctx, c.Real(d))
}

// OffsetClock is Clock off by Offset: the clock of a host that runs ahead
// (or, negative, behind), or one that NTP is about to step back.
type OffsetClock struct {
	kauth.Clock
	Offset time.Duration
}

// Now returns the inner clock's time plus Offset.
func (c OffsetClock) Now() time.Time { return c.Clock.Now().Add(c.Offset) }

// DiscardLogger drops everything.
func DiscardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// AppByName returns the demo app named "broker/env", e.g. "kis/mock".
func AppByName(name string) (brokersim.App, bool) {
	b, e, ok := strings.Cut(name, "/")
	if !ok {
		return brokersim.App{}, false
	}
	app := brokersim.Demo(kauth.Broker(b), kauth.Env(e))
	return app, app.AppKey != ""
}

// AppName is the inverse of AppByName.
func AppName(app brokersim.App) string { return string(app.Broker) + "/" + string(app.Env) }
