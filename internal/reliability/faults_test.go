package reliability_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/reliability"
	"github.com/kauth/kauth/internal/testlog"
)

// Deadlines of the callers under fault: each Token call and each call
// through kauth.Transport gets callDeadline, and must end by then plus
// deadlineSlack, plus wakeups times the worst scheduling delay the
// process itself saw meanwhile (see schedProbe): on a loaded machine
// every goroutine wakes late, the delay varies from one moment to the
// next faster than the probe samples it, and a caller's deadline reaches
// it through more goroutines than the probe's (the context's timer, the
// HTTP connection's, the caller's), each of which may have to wait for
// the garbage collector's assists besides.
const (
	callDeadline   = 2 * time.Second
	deadlineSlack  = 400 * time.Millisecond
	wakeups        = 4
	attemptTimeout = 250 * time.Millisecond
)

// schedProbe measures the test process's own scheduling delay while the
// callers run: a goroutine waits, again and again, for a context
// deadline probeInterval away, as a caller whose deadline passes does, and
// records how late it woke. A call that ends late while the probe woke
// on time is kauth's doing; one that ends late while the probe, too, woke
// late is the machine's.
type schedProbe struct {
	mu      sync.Mutex
	waits   []probeWait // in the order they ended
	current time.Time   // when the wait in progress began
}

// probeWait is one wait of the probe: it began at from, and woke late
// past its deadline.
type probeWait struct {
	from, to time.Time
	late     time.Duration
}

const probeInterval = 20 * time.Millisecond

// startProbe runs a schedProbe until stop is closed; done is closed once
// it has stopped.
func startProbe(stop <-chan struct{}) (p *schedProbe, done <-chan struct{}) {
	p = &schedProbe{}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			from := time.Now()
			p.mu.Lock()
			p.current = from
			p.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), probeInterval)
			select {
			case <-ctx.Done():
			case <-stop:
				cancel()
				return
			}
			cancel()
			to := time.Now()
			p.mu.Lock()
			p.waits = append(p.waits, probeWait{from: from, to: to, late: max(to.Sub(from)-probeInterval, 0)})
			p.mu.Unlock()
		}
	}()
	return p, finished
}

// worst returns the longest the probe woke late in a wait that overlapped
// from..to, counting the wait in progress as late as it is now.
func (p *schedProbe) worst(from, to time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var w time.Duration
	if !p.current.IsZero() {
		w = max(time.Since(p.current)-probeInterval, 0)
	}
	for i := len(p.waits) - 1; i >= 0; i-- {
		pw := p.waits[i]
		if pw.to.Before(from) {
			break
		}
		if !pw.from.After(to) {
			w = max(w, pw.late)
		}
	}
	return w
}

// late reports whether a call that started at start and took took ended
// later than its deadline allows, and says by how much the probe woke
// late meanwhile.
func (p *schedProbe) late(start time.Time, took time.Duration) (bool, time.Duration) {
	if took <= callDeadline+deadlineSlack {
		return false, 0
	}
	w := p.worst(start, start.Add(took))
	return took > callDeadline+deadlineSlack+wakeups*w, w
}

// faultStart is where the fault rigs' virtual clock starts, whatever the
// hour the tests run at: the brokers' lifetimes depend on it (an LS token
// issued at 10:00 KST lives until 07:00 the next day, 21 h; one issued
// at 01:00 KST lives 30 h).
var faultStart = time.Date(2026, time.March, 10, 10, 0, 0, 0, kauth.KST)

// typedKinds are the errors a caller may see: the broker's typed failures,
// or its own deadline.
var typedKinds = []error{kauth.ErrUnavailable, kauth.ErrRateLimited, kauth.ErrCredentials, kauth.ErrTokenReturnedAgain, context.DeadlineExceeded}

func typed(err error) bool {
	for _, k := range typedKinds {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// outcomes tallies what the callers got.
type outcomes struct {
	mu       sync.Mutex
	ok       int
	typed    map[string]int // by kind
	rejected int            // a Transport call whose retry was rejected too (the broker's own answer)
	problems []string
	tokens   map[string]bool
	slowest  time.Duration // the longest call
}

func (o *outcomes) problem(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.problems) < 20 {
		o.problems = append(o.problems, fmt.Sprintf(format, args...))
	}
}

func (o *outcomes) add(f func(o *outcomes)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f(o)
}

func newOutcomes() *outcomes { return &outcomes{typed: map[string]int{}, tokens: map[string]bool{}} }

// merge adds a caller's own tally to o.
func (o *outcomes) merge(c *outcomes) {
	o.add(func(o *outcomes) {
		o.ok += c.ok
		o.rejected += c.rejected
		for k, n := range c.typed {
			o.typed[k] += n
		}
		for tok := range c.tokens {
			o.tokens[tok] = true
		}
		o.slowest = max(o.slowest, c.slowest)
	})
}

func kindName(err error) string {
	for _, k := range typedKinds {
		if errors.Is(err, k) {
			return k.Error()
		}
	}
	return "untyped"
}

// faultRig is one app under fault: the simulator, a Manager on its virtual
// clock with a short attempt timeout, and a client through kauth.Transport.
type faultRig struct {
	rig  *reliability.Rig
	app  brokersim.App
	m    *kauth.Manager
	logs *testlog.Buffer
}

// newClient returns a client through kauth.Transport with a connection
// pool of its own. Each caller of load has one, as separate programs
// would: callers sharing one net/http Transport queue on its locks, where
// no deadline reaches them, and on a loaded machine that queue makes them
// seconds late.
func (r *faultRig) newClient() (c *http.Client, close func()) {
	base := r.rig.TS.Client().Transport.(*http.Transport).Clone()
	return &http.Client{Transport: &kauth.Transport{Manager: r.m, Base: base}}, base.CloseIdleConnections
}

func newFaultRig(t *testing.T, app brokersim.App) *faultRig {
	t.Helper()
	rig := reliability.NewRig(func(s *brokersim.Server) {
		s.Clock = brokersim.StartAt(faultStart)
		// The callers' load is about tokens, not the per-second call limits.
		s.KISRealCallsPerSecond, s.KISMockCallsPerSecond, s.KiwoomCallsPerSecond, s.IGWCallsPerSecond = -1, -1, -1, -1
		s.TossCallsPerSecond = -1
	})
	t.Cleanup(rig.Close)
	logs := new(testlog.Buffer)
	m, err := kauth.NewManager(kauth.Config{
		Credentials:    app.Credentials(),
		Provider:       rig.Provider(app.Broker, app.Env, rig.Sim.Now),
		Store:          kauth.NewMemoryStore(),
		Clock:          reliability.VClock{Sim: rig.Sim},
		AttemptTimeout: attemptTimeout,
		Logger:         logs.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &faultRig{rig: rig, app: app, m: m, logs: logs}
}

// protectedRequest builds the broker's protected call: its Provider's Probe
// (KIS inquire-price, Kiwoom ka10001, LS t1102, DB PRICE).
func (r *faultRig) protectedRequest(ctx context.Context) *http.Request {
	base, _ := url.Parse(brokersim.BaseURL(r.rig.URL(), r.app.Broker, r.app.Env))
	p := brokers.MustGet(r.app.Broker).New("", nil, nil).(interface {
		Probe(ctx context.Context, base *url.URL) (*http.Request, error)
	})
	req, _ := p.Probe(ctx, base)
	return req
}

// answer classifies a broker answer: ok, rejected (the broker's own
// token rejection), or something else.
func answer(body []byte) string {
	var v struct {
		RtCd       string          `json:"rt_cd"`
		MsgCd      string          `json:"msg_cd"`
		ReturnCode json.RawMessage `json:"return_code"`
		ReturnMsg  string          `json:"return_msg"`
		RspCd      string          `json:"rsp_cd"`
		// Toss: {"result":…} or {"error":{"code":…}}.
		Result json.RawMessage `json:"result"`
		Error  struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "undecodable"
	}
	switch {
	case v.RtCd == "0", string(v.ReturnCode) == "0", string(v.ReturnCode) == `"0"`, v.RspCd == "00000", len(v.Result) > 0 && v.Error.Code == "":
		return "ok"
	case strings.HasPrefix(v.MsgCd, "EGW0012"), strings.Contains(v.ReturnMsg, "[8005:"), strings.HasPrefix(v.RspCd, "IGW0012"),
		v.Error.Code == "invalid-token", v.Error.Code == "expired-token":
		return "rejected"
	}
	return "broker error " + v.MsgCd + v.ReturnMsg + v.RspCd + v.Error.Code
}

// load runs callers goroutines for about d, half calling Token and half
// calling the protected endpoint through kauth.Transport, a few
// milliseconds apart, each call with a deadline, while chaos (if not nil)
// runs. It checks every outcome.
func (r *faultRig) load(t *testing.T, callers int, d time.Duration, allowRejected bool, chaos func(stop <-chan struct{})) *outcomes {
	t.Helper()
	o := newOutcomes()
	stop := make(chan struct{})
	var chaosDone sync.WaitGroup
	if chaos != nil {
		chaosDone.Go(func() { chaos(stop) })
	}
	probeStop := make(chan struct{})
	probe, probeDone := startProbe(probeStop)
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for i := range callers {
		wg.Go(func() {
			// Each caller tallies on its own, merged at the end: one tally
			// for all, locked on every call, would queue the callers
			// behind each other and make them late.
			mine := newOutcomes()
			defer o.merge(mine)
			client, closeClient := r.newClient()
			defer closeClient()
			for time.Now().Before(end) {
				ctx, cancel := context.WithTimeout(context.Background(), callDeadline)
				start := time.Now()
				before := r.rig.Sim.Now()
				if i%2 == 0 {
					tok, err := r.m.Token(ctx)
					took := time.Since(start)
					switch {
					case err == nil && tok.AccessToken != "" && tok.ExpiresAt.After(before):
						mine.add(func(o *outcomes) { o.ok++; o.tokens[tok.AccessToken] = true })
					case err == nil:
						o.problem("Token() returned %v, expired before the call", tok)
					case typed(err):
						mine.add(func(o *outcomes) { o.typed[kindName(err)]++ })
					default:
						o.problem("Token() = %v: not a typed error", err)
					}
					mine.add(func(o *outcomes) { o.slowest = max(o.slowest, took) })
					if late, sched := probe.late(start, took); late {
						o.problem("Token() took %v; deadline %v (the scheduler woke goroutines up to %v late meanwhile)", took, callDeadline, sched)
					}
				} else {
					resp, err := client.Do(r.protectedRequest(ctx))
					var body []byte
					if err == nil {
						body, _ = io.ReadAll(resp.Body)
						resp.Body.Close()
					}
					took := time.Since(start)
					switch {
					case err != nil && typed(err):
						mine.add(func(o *outcomes) { o.typed[kindName(err)]++ })
					case err != nil:
						o.problem("call through Transport = %v: not a typed error", err)
					case answer(body) == "ok":
						mine.add(func(o *outcomes) { o.ok++ })
					case answer(body) == "rejected" && allowRejected:
						mine.add(func(o *outcomes) { o.rejected++ })
					default:
						o.problem("call through Transport answered %d %s", resp.StatusCode, answer(body))
					}
					mine.add(func(o *outcomes) { o.slowest = max(o.slowest, took) })
					if late, sched := probe.late(start, took); late {
						o.problem("call through Transport took %v; deadline %v (the scheduler woke goroutines up to %v late meanwhile)", took, callDeadline, sched)
					}
				}
				cancel()
				time.Sleep(time.Duration(1+rand.IntN(5)) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	close(stop)
	chaosDone.Wait()
	close(probeStop)
	<-probeDone
	for _, p := range o.problems {
		t.Error(p)
	}
	t.Logf("slowest call %v; the scheduler woke the probe up to %v late", o.slowest.Round(time.Millisecond), probe.worst(time.Time{}, time.Now()).Round(time.Millisecond))
	r.checkLogs(t, o)
	return o
}

// checkLogs asserts that the Manager's logs hold neither the app's secrets
// nor any token a caller received.
func (r *faultRig) checkLogs(t *testing.T, o *outcomes) {
	t.Helper()
	logs := r.logs.String()
	for _, s := range []string{r.app.AppKey, r.app.Secret} {
		if strings.Contains(logs, s) {
			t.Errorf("the Manager's log holds a credential")
		}
	}
	for tok := range o.tokens {
		if strings.Contains(logs, tok) {
			t.Errorf("the Manager's log holds a whole token (%s)", kauth.Fingerprint(tok))
		}
	}
}

// lostAnswers returns the answers of the token endpoint that arrived after
// the Manager's attempt timeout, and how many token requests each may
// cost. On a loaded machine the simulator's answer can come after the
// fault rigs' 250 ms attempt timeout: the Manager asks again (see
// TestLateTokenAnswer), which costs a request, and one more for the
// rate-limit answer of a broker with a one-a-minute rule; a token minted
// in a lost answer is an issuance that reached no one. It checks that no
// token request was given up before its deadline.
func (r *faultRig) lostAnswers(t *testing.T) (lost reliability.LostAnswers, perLost int) {
	t.Helper()
	lost = r.rig.Lost(r.app.Broker)
	if lost.Early != 0 {
		t.Errorf("the Manager gave up %d token requests before their deadline", lost.Early)
	}
	perLost = 1
	if kauth.MinIssueInterval(r.m.Provider()) >= time.Minute {
		perLost = 2
	}
	return lost, perLost
}

// attemptsPerFlight is how many token requests one blocking issuance may
// make under a burst of retryable faults of kind k. An answer that could
// have issued (KIS EGW00133) spaces KIS attempts 61 s apart within the
// 3 min IssueTimeout (3 attempts). Everything else — transient answers (5xx,
// hangs, resets, HTML, malformed) at either broker, and Kiwoom's rate limit
// under its 1 s spacing — backs off exponentially from 0.5 s (with jitter,
// capped at 30 s) within it: 11 to 17 attempts.
func attemptsPerFlight(b kauth.Broker, k brokersim.FaultKind) int {
	if kauth.MinIssueInterval(brokers.MustGet(b).New("", nil, nil)) >= time.Minute && k == brokersim.RateLimit {
		return 3
	}
	return 17
}

// issuePath and callPath are the routes of the token endpoint and of the
// protected call at broker b.
func issuePath(b kauth.Broker) string {
	tok, _ := brokers.MustGet(b).New("", nil, nil).(interface{ FacadePaths() (token, revoke string) }).FacadePaths()
	return tok
}

func callPath(b kauth.Broker) string {
	p := brokers.MustGet(b).New("", nil, nil).(interface {
		Probe(ctx context.Context, base *url.URL) (*http.Request, error)
	})
	req, _ := p.Probe(context.Background(), &url.URL{})
	return req.URL.Path
}

// faultApps are the real-env demo apps of every registered broker.
var faultApps = func() []brokersim.App {
	var out []brokersim.App
	for _, b := range brokers.Names() {
		out = append(out, brokersim.Demo(b, kauth.Real))
	}
	return out
}()

// TestFaultsOnIssue injects bursts of every fault kind on the token
// endpoint of a cold Manager under 50 concurrent callers (200 under
// KAUTH_LONG, as CI runs it, or KAUTH_SOAK), and checks that
// every caller ends with a valid token or a typed error within its
// deadline, and that the token endpoint saw at most one request per
// injected fault plus one (capped by the retries one issuance may make).
func TestFaultsOnIssue(t *testing.T) {
	callers, d := reliability.LongScale(50, 200), time.Duration(reliability.LongScale(300, 3000))*time.Millisecond
	type fault struct {
		kind  brokersim.FaultKind
		count int
	}
	cases := []struct {
		name   string
		faults []fault
		// recovers: once the burst is over, the callers get tokens without
		// the clock moving on (the burst fits in one issuance's retries).
		recovers bool
	}{
		{"5xx burst", []fault{{brokersim.ServerError, 2}}, true},
		{"hangs", []fault{{brokersim.Hang, 2}}, true},
		{"resets", []fault{{brokersim.Reset, 2}}, true},
		{"malformed and HTML bodies", []fault{{brokersim.MalformedJSON, 1}, {brokersim.HTMLPage, 1}}, true},
		{"rate-limit storm", []fault{{brokersim.RateLimit, 1000}}, false},
		{"5xx storm", []fault{{brokersim.ServerError, 1000}}, false},
		{"hang storm", []fault{{brokersim.Hang, 1000}}, false},
	}
	for _, app := range faultApps {
		for _, tt := range cases {
			t.Run(fmt.Sprintf("%s/%s", app.Broker, tt.name), func(t *testing.T) {
				t.Parallel()
				r := newFaultRig(t, app)
				injected := 0
				path := issuePath(app.Broker)
				for _, f := range tt.faults {
					r.rig.Sim.Inject(brokersim.Fault{Broker: app.Broker, Path: path, Kind: f.kind, Count: f.count})
					injected += f.count
				}
				o := r.load(t, callers, d, false, nil)
				calls := r.rig.IssueCalls(app.Broker)
				issued := r.rig.Sim.Issued(app.Broker, app.Env, app.AppKey)
				lost, perLost := r.lostAnswers(t)
				limit := min(injected, attemptsPerFlight(app.Broker, tt.faults[0].kind)) + 1 + perLost*lost.Answers
				if calls > limit {
					t.Errorf("token endpoint requests = %d; want at most %d (%d faults injected, %d answers lost): a retry storm", calls, limit, injected, lost.Answers)
				}
				if tt.recovers && o.ok == 0 {
					t.Errorf("no caller got a token after a burst of %d faults; typed errors %v", injected, o.typed)
				}
				if !tt.recovers && o.ok != 0 {
					t.Errorf("%d callers got a token through a fault storm at the token endpoint", o.ok)
				}
				if issued > 1+lost.Tokens {
					t.Errorf("issuances = %d, %d of them in answers that arrived after the attempt timeout; want at most 1 besides those", issued, lost.Tokens)
				}
				t.Logf("%d faults: %d token requests, %d issuances; lost answers %+v; %d ok, typed errors %v", injected, calls, issued, lost, o.ok, o.typed)

				if !tt.recovers {
					// Once the storm passes, the Manager recovers: it does
					// not stay stuck on a remembered failure.
					r.rig.Sim.ReleaseHangs()
					clearFaults(t, r.rig)
					r.rig.Sim.Advance(5 * time.Minute)
					// Not a deadline test: a loaded machine may take seconds
					// over the few requests of the issuance.
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					// The issuance still running when the storm ended may
					// end in its last error; one after it must succeed.
					var err error
					for range 5 {
						if _, err = r.m.Token(ctx); err == nil {
							break
						}
						r.rig.Sim.Advance(2 * time.Minute) // past the remembered failure
					}
					if err != nil {
						t.Errorf("Token() after the storm = %v; want a token", err)
					}
				}
			})
		}
	}
}

// TestLateTokenAnswer: the broker serves a token request, and its answer
// arrives after the Manager's AttemptTimeout. The Manager gave the request
// up, and asks again: a broker that hands back the same token while it is
// valid (Kiwoom; KIS within 6 h of an issuance, after answering the
// request inside its minute with EGW00133) issues once, while one that
// mints a new token on every request and revokes the previous one (LS, DB
// after its IGW00201, Toss) issues twice; the token it minted for the lost
// answer reached no one. The Manager serves the broker's current token.
// This is what a loaded machine does to the fault rigs' 250 ms attempts
// (see TestFaultsOnIssue, which counts such answers with Rig.Lost).
func TestLateTokenAnswer(t *testing.T) {
	want := map[kauth.Broker]struct{ requests, issued int }{
		kauth.KIS:    {3, 1}, // lost, EGW00133, the same token 61 s later
		kauth.Kiwoom: {2, 1}, // lost, the same token
		"ls":         {2, 2}, // lost, a new token
		"db":         {3, 2}, // lost, IGW00201, a new token 61 s later
		"toss":       {2, 2}, // lost, a new token
	}
	const attempt, late = 500 * time.Millisecond, time.Second
	for _, app := range faultApps {
		t.Run(string(app.Broker), func(t *testing.T) {
			t.Parallel()
			rig := reliability.NewRig(func(s *brokersim.Server) { s.Clock = brokersim.StartAt(faultStart) })
			t.Cleanup(rig.Close)
			path := issuePath(app.Broker)
			var held atomic.Bool
			rig.HoldAnswers(func(req *http.Request) time.Duration {
				if strings.HasSuffix(req.URL.Path, path) && held.CompareAndSwap(false, true) {
					return late
				}
				return 0
			})
			m, err := kauth.NewManager(kauth.Config{
				Credentials:    app.Credentials(),
				Provider:       rig.Provider(app.Broker, app.Env, rig.Sim.Now),
				Store:          kauth.NewMemoryStore(),
				Clock:          reliability.VClock{Sim: rig.Sim},
				AttemptTimeout: attempt,
				Logger:         reliability.DiscardLogger(),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tok, err := m.Token(ctx)
			if err != nil {
				t.Fatalf("Token() = %v", err)
			}
			if cur, _, _ := rig.Sim.CurrentToken(app.Broker, app.Env, app.AppKey); tok.AccessToken != cur {
				t.Errorf("the Manager serves %s; the broker's token is %s", tok.Fingerprint(), kauth.Fingerprint(cur))
			}
			lost := rig.Lost(app.Broker)
			issued, requests := rig.Sim.Issued(app.Broker, app.Env, app.AppKey), rig.IssueCalls(app.Broker)
			t.Logf("%d token requests, %d issuances; lost answers %+v", requests, issued, lost)
			if lost.Answers == 0 || lost.Early != 0 {
				t.Fatalf("lost answers %+v; want the held one, given up at the attempt timeout", lost)
			}
			if issued != 1+lost.Tokens {
				t.Errorf("issuances = %d, %d of them lost; want one besides the lost ones", issued, lost.Tokens)
			}
			if lost.Answers > 1 {
				// The machine is loaded enough to make a second answer late:
				// the sequence below no longer holds.
				return
			}
			if w := want[app.Broker]; requests != w.requests || issued != w.issued {
				t.Errorf("%d token requests, %d issuances; want %d and %d", requests, issued, w.requests, w.issued)
			}
		})
	}
}

// clearFaults drops the faults still pending, through the control API.
func clearFaults(t *testing.T, rig *reliability.Rig) {
	t.Helper()
	req, _ := http.NewRequest("DELETE", rig.URL()+"/_sim/fault", nil)
	resp, err := rig.TS.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("DELETE /_sim/fault = %s", resp.Status)
	}
}

// TestTokensRevokedBehindOurBack: under load, the broker drops the current
// token (InvalidateToken) three times, and answers some calls with its
// token-rejected error (InvalidToken faults). Transport heals each with one
// new issuance: no storm, and no caller sees an untyped error. 50 callers
// for 0.5 s, 200 for 5 s under KAUTH_LONG (CI) or KAUTH_SOAK.
func TestTokensRevokedBehindOurBack(t *testing.T) {
	callers, d := reliability.LongScale(50, 200), time.Duration(reliability.LongScale(500, 5000))*time.Millisecond
	for _, app := range faultApps {
		t.Run(string(app.Broker), func(t *testing.T) {
			t.Parallel()
			r := newFaultRig(t, app)
			if _, err := r.m.Token(context.Background()); err != nil {
				t.Fatal(err)
			}
			const revokes, rejections = 3, 3
			path := callPath(app.Broker)
			o := r.load(t, callers, d, true, func(stop <-chan struct{}) {
				for i := range revokes + rejections {
					select {
					case <-stop:
						return
					case <-time.After(40 * time.Millisecond):
					}
					if i%2 == 0 {
						if tok, _, ok := r.rig.Sim.CurrentToken(app.Broker, app.Env, app.AppKey); ok {
							r.rig.Sim.InvalidateToken(tok)
						}
					} else {
						r.rig.Sim.Inject(brokersim.Fault{Broker: app.Broker, Path: path, Kind: brokersim.InvalidToken})
					}
				}
			})
			issued := r.rig.Sim.Issued(app.Broker, app.Env, app.AppKey)
			lost, perLost := r.lostAnswers(t)
			if limit := 1 + revokes + rejections + lost.Tokens; issued > limit {
				t.Errorf("issuances = %d; want at most %d (one per revoked token, plus the first, plus %d in answers that came after the attempt timeout)", issued, limit, lost.Tokens)
			}
			if calls := r.rig.IssueCalls(app.Broker); calls > 2*(1+revokes+rejections)+perLost*lost.Answers {
				t.Errorf("token requests = %d for %d revocations (%d answers lost); want a handful", calls, revokes+rejections, lost.Answers)
			}
			if o.ok == 0 {
				t.Errorf("no caller succeeded")
			}
			t.Logf("%d issuances, %d token requests; lost answers %+v; %d ok, %d rejected twice, typed errors %v", issued, r.rig.IssueCalls(app.Broker), lost, o.ok, o.rejected, o.typed)
		})
	}
}

// TestClockJumps: under load the virtual clock jumps ahead by hours, past
// the token's expiry and into and past the refresh-ahead window; every
// jump past expiry costs exactly one issuance, shared by all callers. 50
// callers for 0.5 s, 200 for 5 s under KAUTH_LONG (CI) or KAUTH_SOAK.
func TestClockJumps(t *testing.T) {
	callers, d := reliability.LongScale(50, 200), time.Duration(reliability.LongScale(500, 5000))*time.Millisecond
	for _, app := range faultApps {
		t.Run(string(app.Broker), func(t *testing.T) {
			t.Parallel()
			r := newFaultRig(t, app)
			if _, err := r.m.Token(context.Background()); err != nil {
				t.Fatal(err)
			}
			jumps := []time.Duration{7 * time.Hour, 7 * time.Hour, 7 * time.Hour, 3*time.Hour - 20*time.Minute, 25 * time.Hour, 48 * time.Hour}
			var total time.Duration
			for _, j := range jumps {
				total += j
			}
			// A call that spans two jumps can see its token expire twice:
			// Transport then passes the broker's second rejection on.
			o := r.load(t, callers, d, true, func(stop <-chan struct{}) {
				for _, j := range jumps {
					select {
					case <-stop:
						return
					case <-time.After(30 * time.Millisecond):
					}
					r.rig.Sim.Advance(j)
				}
			})
			issued := r.rig.Sim.Issued(app.Broker, app.Env, app.AppKey)
			// A retry after an answer that came after the attempt timeout
			// can earn a rate-limit answer; nothing else may.
			lost, _ := r.lostAnswers(t)
			if limit := int(total/(24*time.Hour)) + 2 + lost.Tokens; issued > limit {
				t.Errorf("issuances = %d over %v of jumps (%d in lost answers); want at most %d", issued, total, lost.Tokens, limit)
			}
			if st := r.rig.Sim.Stats(); st.RateLimited > lost.Answers {
				t.Errorf("broker rate-limit answers = %d; want none but after the %d answers that came after the attempt timeout", st.RateLimited, lost.Answers)
			}
			if o.ok == 0 {
				t.Errorf("no caller succeeded")
			}
			if o.rejected > callers*len(jumps) {
				t.Errorf("%d calls were rejected twice; want at most one per caller and jump", o.rejected)
			}
			t.Logf("%d issuances, %d token requests; lost answers %+v; %d ok, %d rejected twice, typed errors %v", issued, r.rig.IssueCalls(app.Broker), lost, o.ok, o.rejected, o.typed)
		})
	}
}

// TestChaos mixes everything at random (seeded; the seed is logged) for a
// while under load: faults of every kind on every endpoint, revocations and
// clock jumps. It runs 50 callers for 1.5 s, 100 for 30 s under KAUTH_LONG
// (CI) or KAUTH_SOAK.
func TestChaos(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	callers, d := reliability.LongScale(50, 100), time.Duration(reliability.LongScale(1500, 30000))*time.Millisecond
	// Every fault the token endpoints have been seen to answer with.
	kinds := []brokersim.FaultKind{brokersim.ServerError, brokersim.Hang, brokersim.Reset, brokersim.MalformedJSON,
		brokersim.HTMLPage, brokersim.RateLimit, brokersim.Latency}
	for _, app := range faultApps {
		t.Run(string(app.Broker), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, uint64(len(app.Broker))))
			r := newFaultRig(t, app)
			var events int
			var jumped time.Duration
			o := r.load(t, callers, d, true, func(stop <-chan struct{}) {
				for {
					select {
					case <-stop:
						return
					case <-time.After(time.Duration(10+rng.IntN(30)) * time.Millisecond):
					}
					events++
					switch n := rng.IntN(10); {
					case n == 0:
						d := time.Duration(rng.IntN(30)) * time.Hour
						jumped += d
						r.rig.Sim.Advance(d)
					case n == 1:
						// Minutes pass: a remembered failure expires.
						r.rig.Sim.Advance(time.Duration(1+rng.IntN(3)) * time.Minute)
					case n == 2:
						if tok, _, ok := r.rig.Sim.CurrentToken(app.Broker, app.Env, app.AppKey); ok {
							r.rig.Sim.InvalidateToken(tok)
						}
					case n < 5:
						// On the protected call, the faults that concern the
						// token: any other failure of a call is the broker's
						// answer, which Transport passes through untouched.
						k := []brokersim.FaultKind{brokersim.InvalidToken, brokersim.Latency}[rng.IntN(2)]
						r.rig.Sim.Inject(brokersim.Fault{Broker: app.Broker, Path: callPath(app.Broker), Kind: k, Delay: 20 * time.Millisecond})
					default:
						f := brokersim.Fault{Broker: app.Broker, Path: issuePath(app.Broker), Kind: kinds[rng.IntN(len(kinds))], Count: 1 + rng.IntN(3), Delay: 20 * time.Millisecond}
						r.rig.Sim.Inject(f)
					}
				}
			})
			issued := r.rig.Sim.Issued(app.Broker, app.Env, app.AppKey)
			// Each event can cost at most one new token (a jump past expiry,
			// a revocation, a rejected token), plus the first, and so can
			// an answer that came after the attempt timeout.
			lost, _ := r.lostAnswers(t)
			if issued > events+int(jumped/(24*time.Hour))+1+lost.Tokens {
				t.Errorf("issuances = %d after %d chaos events (%d in lost answers); want at most one per event", issued, events, lost.Tokens)
			}
			t.Logf("%d chaos events, %v of jumps: %d issuances, %d token requests; %d ok, %d rejected twice, typed errors %v",
				events, jumped, issued, r.rig.IssueCalls(app.Broker), o.ok, o.rejected, o.typed)
		})
	}
}

// TestRetryAfterClockJump: a Manager whose clock runs ahead of the wall
// clock (here the simulator's, after a jump; in production any injected
// Clock) must still retry a failed issuance within its IssueTimeout.
// Context deadlines are wall-clock times, so comparing them with
// Clock.Now() makes the Manager give up after the first failure.
func TestRetryAfterClockJump(t *testing.T) {
	for _, app := range faultApps {
		t.Run(string(app.Broker), func(t *testing.T) {
			r := newFaultRig(t, app)
			tok, err := r.m.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			r.rig.Sim.Advance(tok.ExpiresAt.Sub(r.rig.Sim.Now()) + time.Minute) // the token has expired
			r.rig.Sim.Inject(brokersim.Fault{Broker: app.Broker, Path: issuePath(app.Broker), Kind: brokersim.ServerError})
			ctx, cancel := context.WithTimeout(context.Background(), callDeadline)
			defer cancel()
			if _, err := r.m.Token(ctx); err != nil {
				t.Errorf("Token() after one 503 = %v; want a token from the retry", err)
			}
			if calls := r.rig.IssueCalls(app.Broker); calls != 3 {
				t.Errorf("token requests = %d; want 3 (the first issue, the 503, the retry)", calls)
			}
		})
	}
}
