package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// TestTokenWarnsWhenCacheUnwritable: when the token cannot be written to
// the cache (here a directory sits where its file goes, which stops even
// root), a kauth token process still prints the token and exits 0, but
// says on stderr, in one line, that the next run will have to issue again.
func TestTokenWarnsWhenCacheUnwritable(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	dir := env["KAUTH_CACHE_DIR"]
	key := kauth.Credentials{Broker: kauth.KIS, Env: kauth.Mock, AppKey: fakeKISKey, AppSecret: fakeKISSecret}.Key()
	if err := os.MkdirAll(filepath.Join(dir, "kis-mock-"+key.Fingerprint+".tok", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := runProcess(t, env, "", "token", "--broker", "kis", "--env", "mock")
	r.wantCode(t, 0)
	if strings.TrimSpace(r.stdout) == "" {
		t.Fatal("no token printed")
	}
	t.Logf("stderr: %s", r.stderr)
	if n := strings.Count(r.stderr, "\n"); n != 1 || !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, "kis mock") || !strings.Contains(r.stderr, "next run") {
		t.Errorf("stderr = %q; want one warning line naming kis mock and what it means for the next run", r.stderr)
	}
	for _, s := range []string{fakeKISKey, fakeKISSecret, strings.TrimSpace(r.stdout)} {
		if strings.Contains(r.stderr, s) {
			t.Error("the warning reveals a secret or the token")
		}
	}

	// With a writable cache, no warning.
	ok := runProcess(t, sim.env(t, kauth.Mock), "", "token", "--broker", "kiwoom", "--env", "mock")
	ok.wantCode(t, 0)
	if ok.stderr != "" {
		t.Errorf("stderr with a writable cache = %q; want nothing", ok.stderr)
	}
}

// TestTokenSurvivesTwoBlips: two 502 HTML pages from the KIS token endpoint
// cost a kauth token process seconds, not a failed command.
func TestTokenSurvivesTwoBlips(t *testing.T) {
	sim := newTestSim(t)
	sim.Inject(brokersim.Fault{Broker: kauth.KIS, Path: "/oauth2/tokenP", Kind: brokersim.HTMLPage, Count: 2})
	env := sim.env(t, kauth.Mock)
	start := time.Now()
	r := runProcess(t, env, "", "token", "--broker", "kis", "--env", "mock", "--timeout", "20s")
	r.wantCode(t, 0)
	if strings.TrimSpace(r.stdout) == "" {
		t.Fatal("no token printed")
	}
	t.Logf("two 502 HTML pages cost %v", time.Since(start).Round(time.Millisecond))
	if n := sim.Issued(kauth.KIS, kauth.Mock, fakeKISKey); n != 1 {
		t.Errorf("issued %d; want 1", n)
	}
}
