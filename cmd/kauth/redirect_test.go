package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/brokertest"
)

// TestRedirectRefused checks that kauth token, approval and hashkey follow
// no redirect of the broker: the credentials never reach the host the
// Location names, whatever that host answers (here: a valid-looking token,
// key or hash), and the command exits 4 with one line that names the
// broker, env, status and host — not the Location's query, not a secret.
// Asking again gets the same redirect, so the broker is asked once.
func TestRedirectRefused(t *testing.T) {
	for _, tt := range []struct {
		name   string
		b      kauth.Broker
		status int
		args   []string
		stdin  string
	}{
		{"kis token 307", kauth.KIS, http.StatusTemporaryRedirect, []string{"token"}, ""},
		{"kiwoom token 302", kauth.Kiwoom, http.StatusFound, []string{"token"}, ""},
		{"ls token 308", kauth.Broker("ls"), http.StatusPermanentRedirect, []string{"token"}, ""},
		{"kis approval 308", kauth.KIS, http.StatusPermanentRedirect, []string{"approval"}, ""},
		{"kis hashkey 307", kauth.KIS, http.StatusTemporaryRedirect, []string{"hashkey"}, `{"CANO":"50000000","ORD_QTY":"1"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim := newTestSim(t)
			catcher := brokertest.NewCatcher(t)
			red, hits := brokertest.NewRedirector(t, tt.status, catcher)
			env := sim.env(t, kauth.Mock)
			for k := range env {
				if strings.HasSuffix(k, "_BASE_URL") {
					env[k] = red.URL
				}
			}
			args := append(tt.args, "--broker", string(tt.b), "--env", "mock", "--timeout", "20s")
			r := run(t, env, tt.stdin, args...)
			key, secret := fakeApp(tt.b)
			catcher.Check(t, key, secret)
			r.wantCode(t, exitUnavailable)
			t.Logf("stderr: %s", r.stderr)
			for _, want := range []string{string(tt.b) + " mock", "HTTP " + strconv.Itoa(tt.status), catcher.Host} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr = %q; want it to name %q", r.stderr, want)
				}
			}
			if n := hits(); n != 1 {
				t.Errorf("the broker was asked %d times; want once: a redirect is not worth retrying", n)
			}
			for _, bad := range []string{key, secret, "echo="} {
				if strings.Contains(r.stderr, bad) {
					t.Errorf("stderr = %q shows %q", r.stderr, bad)
				}
			}
		})
	}
}
