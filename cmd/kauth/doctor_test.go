package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/buildinfo"
)

// doctorLines returns the lines of r's stdout that start with mark and
// name.
func doctorLine(t *testing.T, r result, mark, name string) string {
	t.Helper()
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, mark+" "+name+":") {
			return l
		}
	}
	t.Fatalf("no %q line for %s in:\n%s%s", mark, name, r.stdout, r.stderr)
	return ""
}

// TestDoctorAllPass: a sound deployment — tokens cached, the agent up,
// the clock in step — passes every check that applies, and says why the
// others are skipped.
func TestDoctorAllPass(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	for _, b := range []string{"kis", "kiwoom"} {
		run(t, env, "", "token", "--broker", b, "--env", "mock").wantCode(t, 0)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	config := filepath.Join(dir, "kauth.yaml")
	os.WriteFile(config, []byte(`listen:
  socket: `+sock+`
accounts:
  - name: paper
    broker: kis
    env: mock
    appkey: {env: KIS_APPKEY}
    appsecret: {env: KIS_APPSECRET}
`), 0o600)
	startServe(t, env, "--config", config)
	var fromAgent tokenJSON
	getJSON(t, agentConn{network: "unix", address: sock}.client(), "http://localhost/v1/accounts/paper/token", "", &fromAgent)
	issued := sim.Stats().Issued

	r := run(t, env, "", "doctor", "--env", "mock", "--config", config)
	r.wantCode(t, 0)
	if strings.Contains(r.stdout, "✗") {
		t.Errorf("a check failed:\n%s", r.stdout)
	}
	for _, b := range []string{"kis", "kiwoom", "ls", "db"} {
		doctorLine(t, r, "✓", "clock "+b+" mock")
	}
	doctorLine(t, r, "✓", "timezone")
	doctorLine(t, r, "✓", "cache dir")
	doctorLine(t, r, "✓", "store")
	// The agent is this very build: its version is this kauth's, not the
	// Go toolchain's that kauth_build_info also carries.
	if l := doctorLine(t, r, "✓", "agent"); !strings.Contains(l, "up on unix:"+sock+", version "+buildinfo.Get().Version+":") {
		t.Errorf("agent line %q; want its socket and version %s", l, buildinfo.Get().Version)
	}
	if l := doctorLine(t, r, "✓", "agent account paper"); !strings.Contains(l, "kis mock app ") || !strings.Contains(l, "valid until "+fromAgent.ExpiresAt) {
		t.Errorf("agent account line %q; want its broker, env and token's expiry", l)
	}
	if l := doctorLine(t, r, "✓", "credentials kis mock"); !strings.Contains(l, "the broker accepts the cached token") {
		t.Errorf("kis credentials: %q; want the cached token checked with the broker", l)
	}
	doctorLine(t, r, "✓", "credentials kiwoom mock")
	doctorLine(t, r, "-", "credentials ls mock")
	doctorLine(t, r, "✓", "egress kiwoom mock")
	if l := doctorLine(t, r, "✓", "issuance kis mock"); !strings.Contains(l, "allowed at") {
		t.Errorf("issuance: %q; want the time of the next KIS issuance, a minute after the last", l)
	}
	if got := sim.Stats().Issued; got != issued {
		t.Errorf("kauth doctor issued %d tokens; want none without --issue", got-issued)
	}
	for _, secret := range []string{fakeKISSecret, fakeKiwoomSecret, fakeKISKey} {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Error("kauth doctor printed a credential")
		}
	}

	j := run(t, env, "", "doctor", "--env", "mock", "--config", config, "--json")
	j.wantCode(t, 0)
	var out doctorJSON
	if err := json.Unmarshal([]byte(j.stdout), &out); err != nil || !out.OK || len(out.Checks) < 10 {
		t.Fatalf("--json: %v, %+v", err, out)
	}
}

// TestDoctorSkipsWhatDoesNotApply: with no agent, no broker credentials
// and nothing cached yet, doctor skips those checks and passes; it creates
// nothing.
func TestDoctorSkipsWhatDoesNotApply(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "cache")
	r := run(t, map[string]string{"KAUTH_CACHE_DIR": cache}, "", "doctor")
	r.wantCode(t, 0)
	for _, name := range []string{"clock", "cache dir", "store", "agent", "credentials", "egress"} {
		doctorLine(t, r, "-", name)
	}
	if fileExists(cache) {
		t.Error("kauth doctor created the cache dir")
	}
}

// TestDoctorFailures: each broken setting fails its check with a fix, and
// doctor exits 1.
func TestDoctorFailures(t *testing.T) {
	t.Run("broker clock ahead", func(t *testing.T) {
		sim := newTestSim(t)
		env := sim.env(t, kauth.Mock)
		sim.Advance(10 * time.Minute)
		r := run(t, env, "", "doctor", "--env", "mock")
		r.wantCode(t, 1)
		l := doctorLine(t, r, "✗", "clock kis mock")
		// Date has a resolution of a second.
		if !regexp.MustCompile(`(9m59s|10m0s|10m1s) behind`).MatchString(l) || !strings.Contains(l, "fix: sync the clock") {
			t.Errorf("clock line %q; want 10m0s behind and the fix", l)
		}
	})
	t.Run("cache dir and key file open to others", func(t *testing.T) {
		sim := newTestSim(t)
		env := sim.env(t, kauth.Mock)
		run(t, env, "", "token", "--broker", "kis", "--env", "mock").wantCode(t, 0)
		dir := env["KAUTH_CACHE_DIR"]
		os.Chmod(filepath.Join(dir, "key"), 0o644)
		os.Chmod(dir, 0o755)
		r := run(t, env, "", "doctor", "--env", "mock")
		r.wantCode(t, 1)
		if l := doctorLine(t, r, "✗", "cache dir"); !strings.Contains(l, "mode 0755") || !strings.Contains(l, "fix: chmod 700 "+dir) {
			t.Errorf("cache dir line %q; want its mode and chmod 700", l)
		}
		if !strings.Contains(r.stdout, "key file "+filepath.Join(dir, "key")+" is mode 0644, open to other users; fix: chmod 600") {
			t.Errorf("no key file line with chmod 600:\n%s", r.stdout)
		}
	})
	t.Run("wrong KAUTH_KEY against existing entries", func(t *testing.T) {
		sim := newTestSim(t)
		env := sim.env(t, kauth.Mock)
		run(t, env, "", "token", "--broker", "kis", "--env", "mock").wantCode(t, 0)
		other := base64.StdEncoding.EncodeToString([]byte("another-made-up-key-32-bytes-xx!"))
		r := run(t, with(env, "KAUTH_KEY", other), "", "doctor", "--env", "mock")
		r.wantCode(t, 1)
		if l := doctorLine(t, r, "✗", "store"); !strings.Contains(l, "1 of the 1 entries") || !strings.Contains(l, "do not open with this KAUTH_KEY") {
			t.Errorf("store line %q", l)
		}
	})
	t.Run("unreachable Redis", func(t *testing.T) {
		key := base64.StdEncoding.EncodeToString([]byte("a-made-up-store-key-of-32-bytes!"))
		r := run(t, map[string]string{"KAUTH_STORE": "redis://127.0.0.1:1/15", "KAUTH_KEY": key}, "", "doctor")
		r.wantCode(t, 1)
		if l := doctorLine(t, r, "✗", "redis"); !strings.Contains(l, "does not answer") || !strings.Contains(l, "fix: start Redis") {
			t.Errorf("redis line %q", l)
		}
		doctorLine(t, r, "✗", "store")
		doctorLine(t, r, "-", "cache dir")
	})
	t.Run("bad credentials with --issue", func(t *testing.T) {
		sim := newTestSim(t)
		env := with(sim.env(t, kauth.Mock), "KIS_APPSECRET", "FAKE-WRONG-SECRET")
		r := run(t, env, "", "doctor", "--env", "mock")
		r.wantCode(t, 0)
		doctorLine(t, r, "-", "credentials kis mock")
		r = run(t, env, "", "doctor", "--env", "mock", "--issue")
		r.wantCode(t, 1)
		if l := doctorLine(t, r, "✗", "credentials kis mock"); !strings.Contains(l, "EGW00105") || !strings.Contains(l, "fix: correct KIS_APPKEY and KIS_APPSECRET") {
			t.Errorf("credentials line %q", l)
		}
		if strings.Contains(r.stdout, "FAKE-WRONG-SECRET") {
			t.Error("doctor printed the secret")
		}
	})
	t.Run("cached token the broker rejects", func(t *testing.T) {
		sim := newTestSim(t)
		env := sim.env(t, kauth.Mock)
		tok := run(t, env, "", "token", "--broker", "kis", "--env", "mock")
		tok.wantCode(t, 0)
		sim.InvalidateToken(strings.TrimSpace(tok.stdout))
		r := run(t, env, "", "doctor", "--env", "mock")
		r.wantCode(t, 1)
		if l := doctorLine(t, r, "✗", "credentials kis mock"); !strings.Contains(l, "rejects the cached token") {
			t.Errorf("credentials line %q", l)
		}
	})
	t.Run("unknown TZ", func(t *testing.T) {
		r := run(t, map[string]string{"KAUTH_CACHE_DIR": t.TempDir(), "TZ": "Nowhere/Atlantis"}, "", "doctor")
		r.wantCode(t, 1)
		if l := doctorLine(t, r, "✗", "timezone"); !strings.Contains(l, `TZ="Nowhere/Atlantis" is not a known zone`) || !strings.Contains(l, "fix: set TZ") {
			t.Errorf("timezone line %q", l)
		}
	})
	t.Run("cache dir owned by another user", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("only root can give a directory away")
		}
		sim := newTestSim(t)
		env := sim.env(t, kauth.Mock)
		run(t, env, "", "token", "--broker", "kis", "--env", "mock").wantCode(t, 0)
		dir := env["KAUTH_CACHE_DIR"]
		if err := os.Chown(dir, 54321, -1); err != nil {
			t.Fatal(err)
		}
		r := run(t, env, "", "doctor", "--env", "mock")
		r.wantCode(t, 1)
		if l := doctorLine(t, r, "✗", "cache dir"); !strings.Contains(l, "owned by uid 54321") || !strings.Contains(l, "fix: run kauth as that user, or chown -R 0 "+dir) {
			t.Errorf("cache dir line %q", l)
		}
	})
	t.Run("agent named but down", func(t *testing.T) {
		r := run(t, map[string]string{"KAUTH_CACHE_DIR": t.TempDir()}, "", "doctor", "--addr", "unix:"+t.TempDir()+"/none.sock")
		r.wantCode(t, 1)
		doctorLine(t, r, "✗", "agent")
	})
}

// TestDoctorRedis: against a real Redis, doctor names its version and
// checks that the user may run the store's commands; a user whose ACL
// denies writes fails the check.
func TestDoctorRedis(t *testing.T) {
	url := os.Getenv("KAUTH_TEST_REDIS")
	if url == "" {
		t.Skip("KAUTH_TEST_REDIS is not set")
	}
	key := base64.StdEncoding.EncodeToString([]byte("a-made-up-store-key-of-32-bytes!"))
	r := run(t, map[string]string{"KAUTH_STORE": url, "KAUTH_KEY": key}, "", "doctor")
	if l := doctorLine(t, r, "✓", "redis"); !regexp.MustCompile(`Redis \d+\.\d+.* allows SET, GET`).MatchString(l) {
		t.Errorf("redis line %q; want the version and the commands", l)
	}

	// Kiwoom binds a token to the issuing IP: hosts that share a store
	// must say which egress IP they use.
	sim := newTestSim(t)
	env := with(sim.env(t, kauth.Mock), "KAUTH_STORE", url, "KAUTH_KEY", key)
	r = run(t, env, "", "doctor", "--env", "mock")
	if l := doctorLine(t, r, "✗", "egress kiwoom mock"); !strings.Contains(l, "KAUTH_EGRESS is not set, but the store is shared") {
		t.Errorf("egress line %q", l)
	}
	r = run(t, with(env, "KAUTH_EGRESS", "203.0.113.7"), "", "doctor", "--env", "mock")
	if l := doctorLine(t, r, "✓", "egress kiwoom mock"); !strings.Contains(l, "203.0.113.7") {
		t.Errorf("egress line %q", l)
	}

	// A user that may only read.
	c := goredis.NewClient(mustRedisOptions(t, url))
	defer c.Close()
	user := fmt.Sprintf("kauth-doctor-test-%d", time.Now().UnixNano())
	if err := c.Do(context.Background(), "ACL", "SETUSER", user, "on", ">made-up-password", "~kauth:*", "&kauth:*", "+@read", "+ping", "+hello", "+auth", "+select", "+info").Err(); err != nil {
		t.Fatalf("creating a read-only ACL user: %v", err)
	}
	defer c.Do(context.Background(), "ACL", "DELUSER", user)
	u := strings.Replace(url, "redis://", "redis://"+user+":made-up-password@", 1)
	r = run(t, map[string]string{"KAUTH_STORE": u, "KAUTH_KEY": key}, "", "doctor")
	r.wantCode(t, 1)
	if l := doctorLine(t, r, "✗", "redis"); !strings.Contains(l, "SET (NOPERM") || !strings.Contains(l, "fix: allow the user") {
		t.Errorf("redis line %q; want SET refused and the fix", l)
	}
	if strings.Contains(r.stdout, "made-up-password") {
		t.Error("doctor printed the Redis password")
	}
}

func mustRedisOptions(t *testing.T, url string) *goredis.Options {
	t.Helper()
	o, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return o
}
