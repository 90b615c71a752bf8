package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/testlog"
)

// Obviously fake credentials, registered at the test simulators.
const (
	fakeKISKey       = "FAKE-TEST-KIS-APPKEY-0000000000000000"
	fakeKISSecret    = "FAKE-TEST-KIS-APPSECRET-not-a-real-secret-0000000000000000000000000000"
	fakeKiwoomKey    = "FAKE-TEST-KIWOOM-APPKEY-00000000000000000"
	fakeKiwoomSecret = "FAKE-TEST-KIWOOM-SECRETKEY-not-a-real-one-0"
)

// fakeApp returns the fake credentials of broker b registered at the test
// simulators: the constants above for KIS and Kiwoom, made from the name
// for every other registered broker.
func fakeApp(b kauth.Broker) (key, secret string) {
	switch b {
	case kauth.KIS:
		return fakeKISKey, fakeKISSecret
	case kauth.Kiwoom:
		return fakeKiwoomKey, fakeKiwoomSecret
	}
	up := strings.ToUpper(string(b))
	return "FAKE-TEST-" + up + "-APPKEY-000000000000", "FAKE-TEST-" + up + "-SECRET-not-a-real-one"
}

// envOf is the env the tests use for broker b: mock, or real for a broker
// with no paper-trading environment (Toss).
func envOf(b kauth.Broker) kauth.Env {
	if brokers.MustGet(b).MockURL == "" {
		return kauth.Real
	}
	return kauth.Mock
}

// testSim is a broker simulator with the fake apps registered at both
// envs, runningServe over HTTP.
type testSim struct {
	*brokersim.Server
	ts *httptest.Server
}

func newTestSim(t *testing.T) *testSim {
	t.Helper()
	sim := brokersim.New()
	for _, e := range []kauth.Env{kauth.Real, kauth.Mock} {
		for _, b := range brokers.Names() {
			key, secret := fakeApp(b)
			sim.Register(b, e, key, secret)
		}
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return &testSim{sim, ts}
}

func (s *testSim) url(b kauth.Broker, e kauth.Env) string { return brokersim.BaseURL(s.ts.URL, b, e) }

// env returns the environment of a command aimed at s at env e, with a
// fresh file store.
func (s *testSim) env(t *testing.T, e kauth.Env) map[string]string {
	env := map[string]string{"KAUTH_CACHE_DIR": t.TempDir() + "/cache"}
	for _, spec := range brokers.All() {
		env[spec.KeyVar], env[spec.SecretVar] = fakeApp(spec.Name)
		env[spec.BaseURLVar] = s.url(spec.Name, e)
	}
	return env
}

// result is what one Main call left behind.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the command line in-process with env as the whole environment.
func run(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Main(ctx, args, strings.NewReader(stdin), &stdout, &stderr, func(k string) string { return env[k] })
	return result{code, stdout.String(), stderr.String()}
}

// wantCode fails unless r exited with code; for a failure it also checks
// that stderr is one line.
func (r result) wantCode(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code = %d; want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	if code != 0 {
		if n := strings.Count(r.stderr, "\n"); n != 1 || !strings.HasSuffix(r.stderr, "\n") {
			t.Errorf("stderr has %d lines; want one:\n%s", n, r.stderr)
		}
		if !strings.HasPrefix(r.stderr, "kauth") {
			t.Errorf("stderr = %q; want it to start with kauth", r.stderr)
		}
	}
}

func with(env map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(env)+len(kv)/2)
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// issueSpacing is the issuance spacing kauth keeps for b: a minute and a
// second for the brokers that allow one issuance a minute (KIS, DB).
func issueSpacing(b kauth.Broker) time.Duration {
	return kauth.MinIssueInterval(brokers.MustGet(b).New("", nil, nil))
}

// runningServe is a kauth serve running in-process for a test.
type runningServe struct {
	stdout, stderr *testlog.Buffer
	cancel         context.CancelFunc
	code           chan int
}

// startServe runs kauth serve with args and env until the test ends, and
// returns once it printed its accounts line: ready. It fails the test if
// serve exits or takes more than 10 s.
func startServe(t *testing.T, env map[string]string, args ...string) *runningServe {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &runningServe{stdout: new(testlog.Buffer), stderr: new(testlog.Buffer), cancel: cancel, code: make(chan int, 1)}
	go func() {
		s.code <- Main(ctx, append([]string{"serve"}, args...), nil, s.stdout, s.stderr, func(k string) string { return env[k] })
	}()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stdout.String(), "  accounts  ") {
		if time.Now().After(deadline) {
			t.Fatalf("kauth serve did not get ready:\n%s\n%s", s.stdout.String(), s.stderr.String())
		}
		select {
		case c := <-s.code:
			s.code <- c
			t.Fatalf("kauth serve exited %d:\n%s", c, s.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return s
}

// stop ends serve and returns its exit code; the test fails if it takes
// more than 15 s. It may be called more than once.
func (s *runningServe) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case c := <-s.code:
		s.code <- c
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("kauth serve did not stop")
		return -1
	}
}
