package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/testredis"
)

// heldRevoke serves a simulator, except that the first revoke, once the
// simulator has carried it out, gets no answer until the client hangs up:
// a revoker killed then has reached the broker and written nothing since.
type heldRevoke struct {
	sim     http.Handler
	held    atomic.Bool
	revoked chan struct{} // closed when the first revoke was carried out
}

func (h *heldRevoke) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	revoke := strings.HasSuffix(r.URL.Path, "/oauth2/revokeP") || strings.HasSuffix(r.URL.Path, "/oauth2/revoke")
	if !revoke || !h.held.CompareAndSwap(false, true) {
		h.sim.ServeHTTP(w, r)
		return
	}
	h.sim.ServeHTTP(httptest.NewRecorder(), r)
	close(h.revoked)
	<-r.Context().Done()
}

// newHeldRevokeSim is newTestSim with every revoke held by heldRevoke.
func newHeldRevokeSim(t *testing.T) (*testSim, *heldRevoke) {
	t.Helper()
	sim := brokersim.New()
	for _, e := range []kauth.Env{kauth.Real, kauth.Mock} {
		for _, b := range brokers.Names() {
			key, secret := fakeApp(b)
			sim.Register(b, e, key, secret)
		}
	}
	h := &heldRevoke{sim: sim, revoked: make(chan struct{})}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &testSim{sim, ts}, h
}

// TestProcessRevokeKilledAfterBroker: a kauth revoke killed (SIGKILL) once
// the broker has revoked the token, before it wrote the store, leaves no
// process serving that token: kauth status does not call it valid, and
// kauth token prints another token, or fails, but never prints it; kauth
// revoke run again finishes the revoke. Both the file store and Redis, KIS
// and Kiwoom.
func TestProcessRevokeKilledAfterBroker(t *testing.T) {
	for _, store := range []string{"file", "redis"} {
		for _, b := range []kauth.Broker{kauth.KIS, kauth.Kiwoom} {
			t.Run(store+"/"+string(b), func(t *testing.T) {
				t.Parallel()
				testRevokeKilledAfterBroker(t, store, b)
			})
		}
	}
}

func testRevokeKilledAfterBroker(t *testing.T, store string, b kauth.Broker) {
	sim, held := newHeldRevokeSim(t)
	env := sim.env(t, kauth.Mock)
	appKey, _ := fakeApp(b)
	if store == "redis" {
		appKey = freshApp(t, sim, b, kauth.Mock, "REVOKEKILL")
		env = with(env, "KAUTH_STORE", testredis.URL(t), "KAUTH_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
			brokers.MustGet(b).KeyVar, appKey)
	}
	args := []string{"--broker", string(b), "--env", "mock"}
	first := runProcess(t, env, "", append([]string{"token"}, args...)...)
	first.wantCode(t, 0)
	revoked := strings.TrimSpace(first.stdout)
	fp := kauth.Fingerprint(revoked)

	cmd := kauthCommand(t, env, append([]string{"revoke"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held.revoked:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("kauth revoke did not reach the broker: %s", stderr.String())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if n := sim.Stats().App(b, kauth.Mock, appKey).Revoked; n != 1 {
		t.Fatalf("the broker revoked %d tokens; want 1", n)
	}

	var st statusJSON
	status := runProcess(t, env, "", "status", "--json")
	status.wantCode(t, 0)
	if err := json.Unmarshal([]byte(status.stdout), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, status.stdout)
	}
	for _, ts := range st.Tokens {
		if ts.Token == fp && ts.State == "valid" {
			t.Errorf("kauth status says the revoked token %s is valid (%d s left)", fp, ts.SecondsLeft)
		}
	}

	// Run again, kauth revoke finishes what the killed one began: the
	// broker refuses the revoked token, and the store records the revoke.
	again := runProcess(t, env, "", append([]string{"revoke"}, args...)...)
	again.wantCode(t, 0)
	if !strings.Contains(again.stdout, "revoked token "+fp) {
		t.Errorf("kauth revoke run again: stdout = %q; want it to name token %s", again.stdout, fp)
	}

	// A killed Redis holder keeps the lock for its lease (15 s); KIS then
	// spaces issuances a minute apart, which a 40 s timeout does not wait
	// for: it must fail saying so, not print the revoked token.
	tok := runProcess(t, env, "", append([]string{"token", "--timeout", "40s"}, args...)...)
	got := strings.TrimSpace(tok.stdout)
	if got == revoked {
		t.Fatalf("kauth token printed the revoked token %s (exit %d)", fp, tok.code)
	}
	if issueSpacing(b) < time.Minute {
		tok.wantCode(t, 0)
		if cur, _, _ := sim.CurrentToken(b, kauth.Mock, appKey); got != cur {
			t.Errorf("kauth token printed %s; want the broker's current token %s", kauth.Fingerprint(got), kauth.Fingerprint(cur))
		}
	} else {
		tok.wantCode(t, 4)
		if !strings.Contains(tok.stderr, "spacing") {
			t.Errorf("kauth token: %s; want it to say it waits for the issuance spacing", tok.stderr)
		}
	}
}
