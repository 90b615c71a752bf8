package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/fakeclock"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/kis"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// harness is an agent serving simulator accounts on a unix socket and on
// loopback TCP, with clients for both.
type harness struct {
	t      *testing.T
	dir    string
	sim    *brokersim.Server
	simURL string
	agent  *agent.Agent
	logs   *testlog.Buffer
	env    map[string]string
	cfg    agent.Config // the config the agent started with

	ep   agent.Endpoints
	key  string
	unix *http.Client // talks to the socket; URLs use http://localhost
	tcp  *http.Client

	cancel  context.CancelFunc
	served  chan error
	closed  bool
	secrets []string // every credential the agent holds, to look for in its logs

	tokMu  sync.Mutex
	tokens map[string]bool // every token seen, to look for in the logs
}

type setup struct {
	sim     func(*brokersim.Server)
	cfg     func(*agent.Config)
	opts    func(*agent.Options)
	noServe bool
	// onSim, if set, learns the simulator's URL before the agent starts.
	onSim func(url string)
	// clock, if set, is the virtual time of the simulator and the agent.
	clock *fakeClock
}

// The demo apps, under the names the harness gives them.
var (
	kisMock    = brokersim.DemoKISMock
	kisReal    = brokersim.DemoKISReal
	kiwoomMock = brokersim.DemoKiwoomMock
)

// newHarness starts a simulator and an agent with three accounts:
// kis-mock (credentials from environment variables), kiwoom-mock
// (credentials from 0600 files) and kis-real (variables too).
func newHarness(t *testing.T, s setup) *harness {
	t.Helper()
	h := &harness{t: t, dir: shortTempDir(t), logs: new(testlog.Buffer), tokens: map[string]bool{}}
	h.sim = brokersim.New()
	// Faster than the real mock server (2/s) so that the tests run
	// quickly; the rate-limit test still saturates it.
	h.sim.KISMockCallsPerSecond = 10
	if s.clock != nil {
		h.sim.Clock = s.clock.Now
	}
	if s.sim != nil {
		s.sim(h.sim)
	}
	simSrv := httptest.NewServer(h.sim)
	t.Cleanup(simSrv.Close)
	h.simURL = simSrv.URL
	if s.onSim != nil {
		s.onSim(h.simURL)
	}

	h.env = map[string]string{
		"KIS_MOCK_KEY":    kisMock.AppKey,
		"KIS_MOCK_SECRET": kisMock.Secret,
		"KIS_REAL_KEY":    kisReal.AppKey,
		"KIS_REAL_SECRET": kisReal.Secret,
		"KAUTH_CACHE_DIR": filepath.Join(h.dir, "cache"),
	}
	keyFile := writeFile(t, h.dir, "kiwoom.key", kiwoomMock.AppKey, 0o600)
	secretFile := writeFile(t, h.dir, "kiwoom.secret", kiwoomMock.Secret, 0o600)
	h.secrets = []string{kisMock.AppKey, kisMock.Secret, kisReal.AppKey, kisReal.Secret, kiwoomMock.AppKey, kiwoomMock.Secret}

	cfg := agent.Config{
		Listen: agent.Listen{
			Socket:  filepath.Join(h.dir, "run", "agent.sock"),
			TCP:     "127.0.0.1:0",
			KeyFile: filepath.Join(h.dir, "cache", "agent.key"),
		},
		Accounts: []agent.Account{
			{Name: "kis-mock", Broker: "kis", Env: "mock", RateLimit: 8,
				AppKey: agent.Secret{Env: "KIS_MOCK_KEY"}, AppSecret: agent.Secret{Env: "KIS_MOCK_SECRET"},
				BaseURL: brokersim.BaseURL(h.simURL, kauth.KIS, kauth.Mock)},
			{Name: "kiwoom-mock", Broker: "kiwoom", Env: "paper",
				AppKey: agent.Secret{File: keyFile}, AppSecret: agent.Secret{File: secretFile},
				BaseURL: brokersim.BaseURL(h.simURL, kauth.Kiwoom, kauth.Mock)},
			{Name: "kis-real", Broker: "KIS", Env: "real",
				AppKey: agent.Secret{Env: "KIS_REAL_KEY"}, AppSecret: agent.Secret{Env: "KIS_REAL_SECRET"},
				BaseURL: brokersim.BaseURL(h.simURL, kauth.KIS, kauth.Real)},
		},
	}
	if runtime.GOOS == "windows" {
		// The agent refuses a socket there: viaUnix goes over TCP.
		cfg.Listen.Socket = ""
	}
	if s.cfg != nil {
		s.cfg(&cfg)
	}
	h.cfg = cfg
	opts := agent.Options{
		Logger: h.logs.Logger(),
		Getenv: h.getenv,
	}
	if s.clock != nil {
		opts.Clock = s.clock
	}
	if s.opts != nil {
		s.opts(&opts)
	}
	a, err := agent.New(cfg, opts)
	if err != nil {
		t.Fatalf("agent.New: %v", err)
	}
	h.agent = a
	t.Cleanup(h.close)
	t.Cleanup(h.checkLogs) // runs after close: cleanups are last in, first out
	if s.noServe {
		return h
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.served = make(chan error, 1)
	go func() { h.served <- a.ListenAndServe(ctx) }()
	select {
	case <-a.Ready():
	case err := <-h.served:
		t.Fatalf("ListenAndServe: %v", err)
	}
	h.ep = a.Endpoints()
	key, err := os.ReadFile(h.ep.KeyFile)
	if err != nil {
		t.Fatalf("reading the key file: %v", err)
	}
	h.key = strings.TrimSpace(string(key))
	h.unix = unixClient(h.ep.Socket)
	if runtime.GOOS == "windows" {
		h.unix = keyedClient(h.ep.TCP, h.key)
	}
	h.tcp = &http.Client{Transport: &http.Transport{}}
	t.Cleanup(h.unix.CloseIdleConnections)
	t.Cleanup(h.tcp.CloseIdleConnections)
	if s.clock != nil {
		// Every keeper has its token and sleeps until the clock moves.
		eventually(t, "the keepers sleep", func() bool {
			return s.clock.Sleepers() == len(cfg.Accounts) && h.sim.Stats().Issued == len(cfg.Accounts)
		})
	}
	return h
}

// awaitOnVirtualClock waits for the result of a call that may wait for
// the broker's issuance interval (KIS: once a minute per app key) on the
// virtual clock, letting that time pass whenever something other than the
// keepers sleeps on it.
func awaitOnVirtualClock[T any](h *harness, clock *fakeClock, result <-chan T) T {
	h.t.Helper()
	keepers := len(h.cfg.Accounts)
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case v := <-result:
			return v
		default:
		}
		if time.Now().After(deadline) {
			h.t.Fatal("timed out waiting for a call on the virtual clock")
		}
		if clock.Sleepers() > keepers {
			clock.Advance(kauth.MinIssueInterval(kis.New()))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// shortTempDir returns a temporary directory with a short path: a unix
// socket's path must fit in about 100 bytes.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "kauth-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (h *harness) getenv(k string) string { return h.env[k] }

func unixClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

// keyedClient stands in for unixClient on windows, where the agent serves
// no socket: it reaches the agent on TCP at addr, whatever the URL's host,
// with the agent key unless the request names one.
func keyedClient(addr, key string) *http.Client {
	return &http.Client{Transport: &keyed{key: key, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
	}}}
}

type keyed struct {
	key string
	*http.Transport
}

func (k *keyed) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+k.key)
	}
	return k.Transport.RoundTrip(r)
}

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return p
}

// close stops the agent once.
func (h *harness) close() {
	if h.closed {
		return
	}
	h.closed = true
	if h.cancel != nil {
		h.cancel()
		if err := <-h.served; err != nil {
			h.t.Errorf("ListenAndServe: %v", err)
		}
	}
	if err := h.agent.Close(); err != nil {
		h.t.Errorf("Close: %v", err)
	}
}

// checkLogs fails the test if any credential or token shows in the logs.
func (h *harness) checkLogs() {
	for _, app := range brokersim.DemoApps() {
		if tok, _, ok := h.sim.CurrentToken(app.Broker, app.Env, app.AppKey); ok {
			h.sawToken(tok)
		}
	}
	logs := h.logs.String()
	if logs == "" {
		h.t.Error("no logs captured")
	}
	for _, s := range h.secrets {
		if strings.Contains(logs, s) {
			h.t.Errorf("logs contain the credential with fingerprint %s", kauth.Fingerprint(s))
		}
	}
	h.tokMu.Lock()
	defer h.tokMu.Unlock()
	for tok := range h.tokens {
		if strings.Contains(logs, tok) {
			h.t.Errorf("logs contain the token with fingerprint %s", kauth.Fingerprint(tok))
		}
	}
}

func (h *harness) sawToken(tok string) {
	h.tokMu.Lock()
	defer h.tokMu.Unlock()
	h.tokens[tok] = true
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// errorCode returns the "code" of an agent error answer.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	var e struct{ Error, Code string }
	r.json(t, &e)
	if e.Error == "" {
		t.Errorf("error answer without a message: %s", r.body)
	}
	return e.Code
}

// do sends a request through c to the agent.
func (h *harness) do(c *http.Client, base, method, path string, body io.Reader, hdr http.Header) response {
	h.t.Helper()
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, data}
}

// viaUnix calls the agent through its socket.
func (h *harness) viaUnix(method, path string, body io.Reader, hdr http.Header) response {
	h.t.Helper()
	return h.do(h.unix, "http://localhost", method, path, body, hdr)
}

// viaTCP calls the agent over TCP with its key.
func (h *harness) viaTCP(method, path string, body io.Reader, hdr http.Header) response {
	h.t.Helper()
	if hdr == nil {
		hdr = http.Header{}
	}
	if _, ok := hdr["Authorization"]; !ok {
		hdr.Set("Authorization", "Bearer "+h.key)
	}
	return h.do(h.tcp, "http://"+h.ep.TCP, method, path, body, hdr)
}

// token gets an account's token through the socket.
func (h *harness) token(name string) agent.TokenResponse {
	h.t.Helper()
	r := h.viaUnix("GET", "/v1/accounts/"+name+"/token", nil, nil)
	if r.status != http.StatusOK {
		h.t.Fatalf("GET token of %s = %d %s", name, r.status, r.body)
	}
	var tr agent.TokenResponse
	r.json(h.t, &tr)
	h.sawToken(tr.AccessToken)
	return tr
}

// kisPrice asks for Samsung Electronics' price through the proxy.
func (h *harness) kisPrice(name string, hdr http.Header) response {
	h.t.Helper()
	if hdr == nil {
		hdr = http.Header{}
	}
	hdr.Set("tr_id", "FHKST01010100")
	hdr.Set("custtype", "P")
	return h.viaUnix("GET", "/proxy/"+name+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil, hdr)
}

// kiwoomInfo asks for Samsung Electronics' basic info (ka10001) through
// the proxy.
func (h *harness) kiwoomInfo(name string, hdr http.Header) response {
	h.t.Helper()
	if hdr == nil {
		hdr = http.Header{}
	}
	hdr.Set("api-id", "ka10001")
	hdr.Set("Content-Type", "application/json;charset=UTF-8")
	return h.viaUnix("POST", "/proxy/"+name+"/api/dostk/stkinfo", strings.NewReader(`{"stk_cd":"005930"}`), hdr)
}

// kisOK reports whether a KIS answer is a success (rt_cd "0").
func kisOK(t *testing.T, r response) {
	t.Helper()
	var body struct {
		RtCd  string `json:"rt_cd"`
		MsgCd string `json:"msg_cd"`
	}
	r.json(t, &body)
	if r.status != http.StatusOK || body.RtCd != "0" {
		t.Fatalf("KIS answer = %d %s; want 200 with rt_cd 0", r.status, r.body)
	}
}

func kiwoomOK(t *testing.T, r response) {
	t.Helper()
	var body struct {
		ReturnCode json.Number `json:"return_code"`
	}
	r.json(t, &body)
	if r.status != http.StatusOK || body.ReturnCode != "0" {
		t.Fatalf("Kiwoom answer = %d %s; want 200 with return_code 0", r.status, r.body)
	}
}

// eventually polls cond until it holds or a few seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// metrics returns the agent's /metrics text.
func (h *harness) metrics() string {
	h.t.Helper()
	r := h.viaUnix("GET", "/metrics", nil, nil)
	if r.status != http.StatusOK {
		h.t.Fatalf("GET /metrics = %d %s", r.status, r.body)
	}
	return string(r.body)
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// jsonField returns a top-level string field of a JSON object.
func jsonField(t *testing.T, body []byte, key string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	s, _ := m[key].(string)
	return s
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fakeClock is a kauth.Clock whose time moves only when the test says.
type fakeClock = fakeclock.Clock

func newFakeClock(start time.Time) *fakeClock { return fakeclock.New(start) }

// deadClient fails every request at once, for agents whose keepers must
// not reach a real broker.
func deadClient() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, errors.New("test: no network")
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
