package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/brokersim"
)

func TestUsageErrors(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	tests := []struct {
		name string
		args []string
		want string // in the one line on stderr
	}{
		{"no command", nil, "no command"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"no broker", []string{"token", "--env", "mock"}, "--broker is required"},
		{"no env", []string{"token", "--broker", "kis"}, "--env is required"},
		{"bad broker", []string{"token", "--broker", "nomura", "--env", "mock"}, `unknown broker "nomura"`},
		{"bad env", []string{"token", "--broker", "kis", "--env", "staging"}, `unknown env "staging"`},
		{"unknown flag", []string{"token", "--broker", "kis", "--env", "mock", "--appsecret", "x"}, "flag provided but not defined: -appsecret"},
		{"positional argument", []string{"token", "--broker", "kis", "--env", "mock", "extra"}, `unexpected argument "extra"`},
		{"bad timeout", []string{"token", "--broker", "kis", "--env", "mock", "--timeout", "0s"}, "--timeout must be positive"},
		{"approval for kiwoom", []string{"approval", "--broker", "kiwoom", "--env", "mock"}, "only kis is supported"},
		{"revoke without env", []string{"revoke", "--broker", "kiwoom"}, "--env is required"},
		{"status argument", []string{"status", "now"}, `unexpected argument "now"`},
		{"sim bad flag", []string{"sim", "--port", "1"}, "flag provided but not defined"},
		{"serve sim and config", []string{"serve", "--sim", "--config", "kauth.yaml"}, "exclude each other"},
		{"serve bad addr", []string{"serve", "--sim", "--addr", "8700"}, `--addr "8700"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, env, "", tt.args...)
			r.wantCode(t, exitUsage)
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr = %q; want it to contain %q", r.stderr, tt.want)
			}
			if r.stdout != "" && tt.args != nil {
				t.Errorf("stdout = %q; want nothing", r.stdout)
			}
		})
	}
	if n := sim.Stats().Requests; n != 0 {
		t.Errorf("the simulator saw %d requests; want none for usage errors", n)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"token", "--help"}, {"token", "-h"}, {"help", "status"},
		{"revoke", "--help"}, {"approval", "--help"}, {"hashkey", "--help"}, {"serve", "--help"}, {"sim", "--help"}, {"demo", "--help"}} {
		r := run(t, nil, "", args...)
		r.wantCode(t, 0)
		if !strings.Contains(r.stdout, "Usage: kauth") || !strings.Contains(r.stdout, "KIS_APPKEY") {
			t.Errorf("kauth %s: stdout = %q; want the usage and the environment", strings.Join(args, " "), r.stdout)
		}
	}
}

func TestMissingConfiguration(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"KIS secret", with(env, "KIS_APPSECRET", ""), []string{"token", "--broker", "kis", "--env", "mock"}, "kauth: kis mock: KIS_APPSECRET is not set"},
		{"KIS key", with(env, "KIS_APPKEY", ""), []string{"token", "--broker", "kis", "--env", "real"}, "kauth: kis real: KIS_APPKEY is not set"},
		{"Kiwoom both", with(env, "KIWOOM_APPKEY", "", "KIWOOM_SECRETKEY", ""), []string{"token", "--broker", "kiwoom", "--env", "mock"}, "kauth: kiwoom mock: KIWOOM_APPKEY and KIWOOM_SECRETKEY are not set"},
		{"Kiwoom secret", with(env, "KIWOOM_SECRETKEY", ""), []string{"revoke", "--broker", "kiwoom", "--env", "mock"}, "KIWOOM_SECRETKEY is not set"},
		{"approval", with(env, "KIS_APPSECRET", ""), []string{"approval", "--env", "mock"}, "KIS_APPSECRET is not set"},
		{"base URL", with(env, "KIS_BASE_URL", "openapivts:29443"), []string{"token", "--broker", "kis", "--env", "mock"}, "KIS_BASE_URL is not an http(s) URL"},
		{"store", with(env, "KAUTH_STORE", "sqlite"), []string{"token", "--broker", "kis", "--env", "mock"}, `KAUTH_STORE="sqlite"`},
		{"store key", with(env, "KAUTH_KEY", "c2hvcnQ="), []string{"token", "--broker", "kis", "--env", "mock"}, "KAUTH_KEY"},
		{"serve without accounts", map[string]string{"KAUTH_CACHE_DIR": env["KAUTH_CACHE_DIR"]}, []string{"serve"}, "no accounts"},
		{"serve config missing", env, []string{"serve", "--config", "/nonexistent/kauth.yaml"}, "/nonexistent/kauth.yaml"},
		{"redis without key", with(env, "KAUTH_STORE", "redis://:hunter2@127.0.0.1:1/0"), []string{"token", "--broker", "kis", "--env", "mock"}, "KAUTH_KEY is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.env, "", tt.args...)
			r.wantCode(t, exitUsage)
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr = %q; want it to contain %q", r.stderr, tt.want)
			}
			if strings.Contains(r.stderr, "hunter2") {
				t.Errorf("stderr = %q shows a password", r.stderr)
			}
		})
	}
	if n := sim.Stats().Requests; n != 0 {
		t.Errorf("the simulator saw %d requests; want none", n)
	}
}

func TestCacheDirTooOpen(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	dir := env["KAUTH_CACHE_DIR"]
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	r := run(t, env, "", "token", "--broker", "kis", "--env", "mock")
	r.wantCode(t, exitUsage)
	if !strings.Contains(r.stderr, "chmod 700") {
		t.Errorf("stderr = %q; want it to say how to fix the mode", r.stderr)
	}
}

func TestTokenTwiceIssuesOnce(t *testing.T) {
	for _, b := range brokers.Names() {
		t.Run(string(b), func(t *testing.T) {
			sim := newTestSim(t)
			e := envOf(b)
			env := sim.env(t, e)
			key, _ := fakeApp(b)
			r1 := run(t, env, "", "token", "--broker", string(b), "--env", string(e))
			r1.wantCode(t, 0)
			r2 := run(t, env, "", "token", "--broker", string(b), "--env", string(e))
			r2.wantCode(t, 0)
			if r1.stdout != r2.stdout {
				t.Errorf("second token = %q; want the first, %q", r2.stdout, r1.stdout)
			}
			tok, _, ok := sim.CurrentToken(b, e, key)
			if !ok || r1.stdout != tok+"\n" {
				t.Errorf("stdout = %q; want the broker's token and a newline", r1.stdout)
			}
			if n := sim.Issued(b, e, key); n != 1 {
				t.Errorf("issued %d tokens; want 1", n)
			}
			if st := sim.Stats(); st.Requests != 1 {
				t.Errorf("the simulator saw %d requests; want 1", st.Requests)
			}
			if r1.stderr != "" || r2.stderr != "" {
				t.Errorf("stderr = %q, %q; want nothing", r1.stderr, r2.stderr)
			}
		})
	}
}

func TestTokenJSON(t *testing.T) {
	t.Setenv("TZ", "America/New_York") // the output must not depend on the local zone
	sim := newTestSim(t)
	env := sim.env(t, kauth.Real)
	r := run(t, env, "", "token", "--broker", "kiwoom", "--env", "prod", "--json")
	r.wantCode(t, 0)
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	tok, exp, _ := sim.CurrentToken(kauth.Kiwoom, kauth.Real, fakeKiwoomKey)
	for k, want := range map[string]any{"access_token": tok, "token_type": "Bearer", "broker": "kiwoom", "env": "real"} {
		if got[k] != want {
			t.Errorf("%s = %v; want %v", k, got[k], want)
		}
	}
	s, _ := got["expires_at"].(string)
	if !strings.HasSuffix(s, "+09:00") {
		t.Errorf("expires_at = %q; want RFC 3339 in +09:00", s)
	}
	at, err := time.Parse(time.RFC3339, s)
	if err != nil || !at.Equal(exp.Truncate(time.Second)) {
		t.Errorf("expires_at = %q (%v); want %v", s, err, exp.In(kauth.KST).Format(time.RFC3339))
	}
	if len(got) != 5 {
		t.Errorf("JSON has %d fields; want 5: %v", len(got), got)
	}
}

func TestEnvAliases(t *testing.T) {
	for _, tt := range []struct {
		alias string
		want  kauth.Env
	}{{"real", kauth.Real}, {"prod", kauth.Real}, {"mock", kauth.Mock}, {"dev", kauth.Mock}, {"paper", kauth.Mock}, {"vps", kauth.Mock}, {"MOCK", kauth.Mock}} {
		t.Run(tt.alias, func(t *testing.T) {
			sim := newTestSim(t)
			env := sim.env(t, tt.want)
			r := run(t, env, "", "token", "--broker", "kis", "--env", tt.alias, "--json")
			r.wantCode(t, 0)
			var got tokenJSON
			json.Unmarshal([]byte(r.stdout), &got)
			if got.Env != tt.want {
				t.Errorf("env = %q; want %q", got.Env, tt.want)
			}
			if n := sim.Issued(kauth.KIS, tt.want, fakeKISKey); n != 1 {
				t.Errorf("issued %d tokens at %s; want 1", n, tt.want)
			}
		})
	}
}

func TestBadCredentials(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		code string
	}{
		{"kis secret", with(env, "KIS_APPSECRET", "FAKE-WRONG-SECRET"), []string{"token", "--broker", "kis", "--env", "mock"}, "EGW00105"},
		{"kis key", with(env, "KIS_APPKEY", "FAKE-UNKNOWN-KEY"), []string{"token", "--broker", "kis", "--env", "mock"}, "EGW00103"},
		{"kiwoom secret", with(env, "KIWOOM_SECRETKEY", "FAKE-WRONG-SECRET"), []string{"token", "--broker", "kiwoom", "--env", "mock"}, "8002"},
		{"approval", with(env, "KIS_APPSECRET", "FAKE-WRONG-SECRET"), []string{"approval", "--env", "mock"}, "EGW00105"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.env, "", tt.args...)
			r.wantCode(t, exitCredentials)
			for _, want := range []string{tt.code, tt.args[len(tt.args)-1], "credentials rejected"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr = %q; want it to contain %q", r.stderr, want)
				}
			}
			if strings.Contains(r.stderr, "FAKE-") {
				t.Errorf("stderr = %q shows a credential", r.stderr)
			}
		})
	}
}

func TestBrokerUnavailable(t *testing.T) {
	for _, tt := range []struct {
		name  string
		b     kauth.Broker
		fault brokersim.Fault
		want  string
	}{
		{"kis 503", kauth.KIS, brokersim.Fault{Kind: brokersim.ServerError, Count: 1000}, "HTTP 503"},
		{"kiwoom 502 page", kauth.Kiwoom, brokersim.Fault{Kind: brokersim.HTMLPage, Count: 1000}, "unavailable"},
		{"kis rate limit", kauth.KIS, brokersim.Fault{Kind: brokersim.RateLimit, Count: 1000}, "EGW00133"},
		{"kiwoom rate limit", kauth.Kiwoom, brokersim.Fault{Kind: brokersim.RateLimit, Count: 1000}, "1700"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim := newTestSim(t)
			sim.Inject(tt.fault)
			env := sim.env(t, kauth.Mock)
			start := time.Now()
			r := run(t, env, "", "token", "--broker", string(tt.b), "--env", "mock", "--timeout", "2s")
			r.wantCode(t, exitUnavailable)
			if !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, string(tt.b)+" mock") {
				t.Errorf("stderr = %q; want it to name %s mock and %q", r.stderr, tt.b, tt.want)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v; want the --timeout to bound it", d)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		sim := newTestSim(t)
		env := with(sim.env(t, kauth.Mock), "KIS_BASE_URL", "http://127.0.0.1:1")
		r := run(t, env, "", "token", "--broker", "kis", "--env", "mock", "--timeout", "2s")
		r.wantCode(t, exitUnavailable)
	})
}

func TestStatus(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)

	r := run(t, env, "", "status")
	r.wantCode(t, 0)
	if !strings.Contains(r.stdout, "no cached tokens") {
		t.Errorf("status of an empty store = %q", r.stdout)
	}
	if _, err := os.Stat(env["KAUTH_CACHE_DIR"]); err == nil {
		t.Errorf("status created the cache directory")
	}

	run(t, env, "", "token", "--broker", "kis", "--env", "mock").wantCode(t, 0)
	run(t, env, "", "token", "--broker", "kiwoom", "--env", "mock").wantCode(t, 0)
	kisTok, _, _ := sim.CurrentToken(kauth.KIS, kauth.Mock, fakeKISKey)

	r = run(t, env, "", "status")
	r.wantCode(t, 0)
	for _, want := range []string{"kis", "kiwoom", "mock", kauth.Fingerprint(fakeKISKey), kauth.Fingerprint(fakeKiwoomKey),
		kauth.Fingerprint(kisTok), "valid", "KST", "23h59m", "file " + env["KAUTH_CACHE_DIR"]} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status does not show %q:\n%s", want, r.stdout)
		}
	}
	for _, secret := range []string{fakeKISKey, fakeKISSecret, fakeKiwoomKey, fakeKiwoomSecret, kisTok} {
		if strings.Contains(r.stdout, secret) {
			t.Errorf("status shows a key, secret or token:\n%s", r.stdout)
		}
	}

	r = run(t, env, "", "status", "--json")
	r.wantCode(t, 0)
	var st statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Tokens) != 2 {
		t.Fatalf("status --json lists %d tokens; want 2: %s", len(st.Tokens), r.stdout)
	}
	got := st.Tokens[0]
	if got.Broker != kauth.KIS || got.App != kauth.Fingerprint(fakeKISKey) || got.Token != kauth.Fingerprint(kisTok) ||
		got.State != "valid" || !strings.HasSuffix(got.ExpiresAt, "+09:00") || got.SecondsLeft < 86000 {
		t.Errorf("status --json[0] = %+v", got)
	}
}

func TestRevoke(t *testing.T) {
	for _, b := range brokers.Names() {
		if !canRevoke(brokers.MustGet(b).New("", nil, nil)) {
			continue // TestRevokeNoEndpoint
		}
		t.Run(string(b), func(t *testing.T) {
			sim := newTestSim(t)
			env := sim.env(t, kauth.Mock)
			r := run(t, env, "", "revoke", "--broker", string(b), "--env", "mock")
			r.wantCode(t, 0)
			if !strings.Contains(r.stdout, "nothing to revoke") {
				t.Errorf("revoke with nothing cached: stdout = %q", r.stdout)
			}
			tok := run(t, env, "", "token", "--broker", string(b), "--env", "mock")
			tok.wantCode(t, 0)
			r = run(t, env, "", "revoke", "--broker", string(b), "--env", "mock")
			r.wantCode(t, 0)
			fp := kauth.Fingerprint(strings.TrimSpace(tok.stdout))
			if !strings.Contains(r.stdout, "revoked token "+fp) {
				t.Errorf("revoke: stdout = %q; want it to name token %s", r.stdout, fp)
			}
			if n := sim.Stats().Revoked; n != 1 {
				t.Errorf("the broker revoked %d tokens; want 1", n)
			}
			st := run(t, env, "", "status", "--json")
			if !strings.Contains(st.stdout, `"state": "revoked"`) {
				t.Errorf("status after revoke:\n%s", st.stdout)
			}
			if issueSpacing(b) < time.Minute {
				// Kiwoom and LS have no issuance limit: the next token is
				// a new one.
				again := run(t, env, "", "token", "--broker", string(b), "--env", "mock")
				again.wantCode(t, 0)
				if again.stdout == tok.stdout {
					t.Errorf("token after revoke is the revoked one")
				}
			}
		})
	}
}

// TestRevokeNoEndpoint: for a broker with no revoke endpoint (Toss),
// kauth revoke says so and exits 1, touching nothing: the cached token is
// still served, and no new one is issued (which would kill it for every
// holder).
func TestRevokeNoEndpoint(t *testing.T) {
	tested := 0
	for _, b := range brokers.Names() {
		if canRevoke(brokers.MustGet(b).New("", nil, nil)) {
			continue
		}
		tested++
		t.Run(string(b), func(t *testing.T) {
			sim := newTestSim(t)
			e := envOf(b)
			env := sim.env(t, e)
			key, _ := fakeApp(b)
			tok := run(t, env, "", "token", "--broker", string(b), "--env", string(e))
			tok.wantCode(t, 0)
			r := run(t, env, "", "revoke", "--broker", string(b), "--env", string(e))
			r.wantCode(t, 1)
			if !strings.Contains(r.stderr, "has no token revoke endpoint") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("revoke: stderr = %q; want one line saying there is no revoke endpoint", r.stderr)
			}
			again := run(t, env, "", "token", "--broker", string(b), "--env", string(e))
			again.wantCode(t, 0)
			if again.stdout != tok.stdout {
				t.Errorf("token after a refused revoke = %q; want the cached %q", again.stdout, tok.stdout)
			}
			if n := sim.Issued(b, e, key); n != 1 {
				t.Errorf("issued %d tokens; want 1", n)
			}
		})
	}
	if tested == 0 {
		t.Skip("every broker has a revoke endpoint")
	}
}

// TestNoMockEnvRefused: a broker with no paper-trading environment (Toss)
// refuses --env mock as a usage error that says so, before reading any
// credential or calling anything.
func TestNoMockEnvRefused(t *testing.T) {
	tested := 0
	for _, spec := range brokers.All() {
		if spec.MockURL != "" {
			continue
		}
		tested++
		for _, alias := range []string{"mock", "paper"} {
			r := run(t, map[string]string{}, "", "token", "--broker", string(spec.Name), "--env", alias)
			r.wantCode(t, exitUsage)
			if !strings.Contains(r.stderr, "no paper-trading (mock) environment") || !strings.Contains(r.stderr, "--env real") {
				t.Errorf("token --broker %s --env %s: stderr = %q; want it to say there is no mock and to use --env real", spec.Name, alias, r.stderr)
			}
		}
	}
	if tested == 0 {
		t.Skip("every broker has a mock environment")
	}
}

// TestTokenNearExpiry pins what kauth token does with a token that arrives
// with less life than its 30-minute margin (here the broker's clock runs
// 23h45m behind, so its day-long tokens have 15 minutes left by ours): the
// margin is capped at a quarter of the token's life, so the fresh token is
// served, and the second run reuses it from the cache without asking the
// broker again.
func TestTokenNearExpiry(t *testing.T) {
	sim := newTestSim(t)
	sim.Clock = func() time.Time { return time.Now().Add(-23*time.Hour - 45*time.Minute) }
	env := sim.env(t, kauth.Mock)
	r1 := run(t, env, "", "token", "--broker", "kiwoom", "--env", "mock")
	r1.wantCode(t, 0)
	r2 := run(t, env, "", "token", "--broker", "kiwoom", "--env", "mock")
	r2.wantCode(t, 0)
	st := sim.Stats().App(kauth.Kiwoom, kauth.Mock, fakeKiwoomKey)
	if st.Issued != 1 || st.Reissued != 0 {
		t.Errorf("issued %d, re-issued %d; want 1 and 0 (the second run reuses the cached token)", st.Issued, st.Reissued)
	}
	if r1.stdout != r2.stdout {
		t.Errorf("tokens = %q, %q; want the broker's one token twice", r1.stdout, r2.stdout)
	}
}

// TestTokenTimeout pins exit 4 and a hint when KIS's once-a-minute
// issuance limit outlasts --timeout.
func TestTokenTimeout(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	run(t, env, "", "token", "--broker", "kis", "--env", "mock").wantCode(t, 0)
	run(t, env, "", "revoke", "--broker", "kis", "--env", "mock").wantCode(t, 0)
	r := run(t, env, "", "token", "--broker", "kis", "--env", "mock", "--timeout", "300ms")
	r.wantCode(t, exitUnavailable)
	if !strings.Contains(r.stderr, "kis mock") || !strings.Contains(r.stderr, "gave up after --timeout 300ms") {
		t.Errorf("stderr = %q", r.stderr)
	}
	if n := sim.Issued(kauth.KIS, kauth.Mock, fakeKISKey); n != 1 {
		t.Errorf("issued %d; want 1: the limit holds", n)
	}
}

func TestApproval(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	r := run(t, env, "", "approval", "--broker", "kis", "--env", "paper")
	r.wantCode(t, 0)
	if key := strings.TrimSpace(r.stdout); len(key) < 16 || strings.ContainsAny(key, " \n") {
		t.Errorf("approval key = %q", r.stdout)
	}
	if n := sim.Stats().Approvals; n != 1 {
		t.Errorf("approvals = %d; want 1", n)
	}
	// Without --broker, approval means KIS; and the cached key is reused.
	r2 := run(t, env, "", "approval", "--env", "mock")
	r2.wantCode(t, 0)
	if r2.stdout != r.stdout {
		t.Errorf("second approval printed another key; want the cached one")
	}
	if n := sim.Stats().Approvals; n != 1 {
		t.Errorf("approvals after a second run = %d; want 1 (the managed key is reused)", n)
	}
	// kauth status lists the approval key beside the token.
	st := run(t, env, "", "status")
	st.wantCode(t, 0)
	if !strings.Contains(st.stdout, kauth.Fingerprint(fakeKISKey)+"_ap") {
		t.Errorf("status does not list the approval key:\n%s", st.stdout)
	}
}

func TestHashkey(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	body := `{"CANO":"00000000","ACNT_PRDT_CD":"01","PDNO":"005930","ORD_DVSN":"00","ORD_QTY":"1","ORD_UNPR":"71000"}`
	r := run(t, env, body, "hashkey", "--env", "vps")
	r.wantCode(t, 0)
	h := strings.TrimSpace(r.stdout)
	if len(h) < 32 {
		t.Errorf("hashkey = %q", r.stdout)
	}
	if again := run(t, env, body, "hashkey", "--env", "mock"); strings.TrimSpace(again.stdout) != h {
		t.Errorf("hashkey of the same body = %q, then %q", h, again.stdout)
	}
	for name, in := range map[string]string{"empty": "", "blank": " \n", "not JSON": "CANO=1"} {
		r := run(t, env, in, "hashkey", "--env", "mock")
		r.wantCode(t, exitUsage)
		if !strings.Contains(r.stderr, "stdin") {
			t.Errorf("%s body: stderr = %q", name, r.stderr)
		}
	}
	r = run(t, env, strings.Repeat(" ", maxBody+1), "hashkey", "--env", "mock")
	r.wantCode(t, exitUsage)
}

func TestMemoryStore(t *testing.T) {
	sim := newTestSim(t)
	env := with(sim.env(t, kauth.Mock), "KAUTH_STORE", "memory")
	r := run(t, env, "", "token", "--broker", "kiwoom", "--env", "mock")
	r.wantCode(t, 0)
	if _, err := os.Stat(env["KAUTH_CACHE_DIR"]); err == nil {
		t.Errorf("the memory store wrote to the cache directory")
	}
	st := run(t, env, "", "status")
	st.wantCode(t, 0)
	if !strings.Contains(st.stdout, "store: memory") {
		t.Errorf("status = %q", st.stdout)
	}
}

func TestKAUTHKey(t *testing.T) {
	sim := newTestSim(t)
	env := with(sim.env(t, kauth.Mock), "KAUTH_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	r := run(t, env, "", "token", "--broker", "kis", "--env", "mock")
	r.wantCode(t, 0)
	if _, err := os.Stat(filepath.Join(env["KAUTH_CACHE_DIR"], "key")); err == nil {
		t.Errorf("a key file was created although KAUTH_KEY is set")
	}
	run(t, env, "", "token", "--broker", "kis", "--env", "mock").wantCode(t, 0)
	if n := sim.Issued(kauth.KIS, kauth.Mock, fakeKISKey); n != 1 {
		t.Errorf("issued %d; want 1", n)
	}
}

func TestExitCode(t *testing.T) {
	kerr := func(kind error) error {
		return fmt.Errorf("wrapped: %w", &kauth.Error{Broker: kauth.KIS, Env: kauth.Mock, Op: "issue", Kind: kind})
	}
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{usageErrorf("token", "x"), 2},
		{configErrorf("x"), 2},
		{kerr(kauth.ErrCredentials), 3},
		{kerr(kauth.ErrUnavailable), 4},
		{kerr(kauth.ErrRateLimited), 4},
		{fmt.Errorf("waiting: %w", errors.Join(errors.New("x"), os.ErrDeadlineExceeded)), 1},
		{kerr(kauth.ErrTokenReturnedAgain), 1},
		{kerr(kauth.ErrBadRequest), 1},
		// kauth revoke: revoked at the broker, but the store kept the token.
		{fmt.Errorf("kauth: kis mock: revoke: revoked at the broker, but the store kept the token: %w", kauth.ErrStoreUnwritable), 1},
		{errors.New("boom"), 1},
	} {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d; want %d", tt.err, got, tt.want)
		}
	}
}

func TestDemo(t *testing.T) {
	r := run(t, nil, "", "demo")
	r.wantCode(t, 0)
	for _, spec := range brokers.All() {
		// The demo walks every registered broker, its call and its healing.
		env := "mock"
		if spec.MockURL == "" {
			env = "real"
		}
		if !strings.Contains(r.stdout, spec.Display+" "+env) {
			t.Errorf("demo output lacks %s:\n%s", spec.Display, r.stdout)
		}
	}
	if n := strings.Count(r.stdout, "retried once → OK"); n != len(brokers.All()) {
		t.Errorf("demo healed %d brokers' tokens; want %d", n, len(brokers.All()))
	}
	for _, want := range []string{"KIS", "Kiwoom", "issue", "cache hit", "restart", "refresh ahead", "self-heal", "revoke",
		"0 new issuances", "temp dir removed"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, a := range brokersim.DemoApps() {
		if strings.Contains(r.stdout, a.AppKey) || strings.Contains(r.stdout, a.Secret) {
			t.Errorf("demo output shows a demo credential")
		}
	}
	if strings.Contains(r.stdout, "eyJ") {
		t.Errorf("demo output seems to show a whole token:\n%s", r.stdout)
	}
}
