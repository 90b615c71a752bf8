package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/storetest"
)

// fullDisk mounts a small tmpfs at dir, unmounted when the test ends, and
// returns the function that fills it until not one byte fits. It skips the
// test when this process may not mount (it needs root).
func fullDisk(t *testing.T, dir string) (fill func()) {
	t.Helper()
	if !storetest.MountTmpfs(t, dir, "256k") {
		t.Skip("needs a tmpfs mount (root) to fill a disk")
	}
	return func() { storetest.FillDisk(t, filepath.Join(dir, "filler")) }
}

// TestRevokeOnFullDisk: on a full disk, where the store can neither be
// locked (the fence file cannot be written) nor written, kauth revoke still
// revokes at the broker, then fails with one line that says so and what the
// store holds; the revoked token is not printed by kauth token afterwards.
func TestRevokeOnFullDisk(t *testing.T) {
	for _, b := range []kauth.Broker{kauth.KIS, kauth.Kiwoom} {
		t.Run(string(b), func(t *testing.T) {
			mnt := filepath.Join(t.TempDir(), "mnt")
			fill := fullDisk(t, mnt)
			sim := newTestSim(t)
			env := with(sim.env(t, kauth.Mock), "KAUTH_CACHE_DIR", filepath.Join(mnt, "cache"))
			args := []string{"--broker", string(b), "--env", "mock"}
			first := runProcess(t, env, "", append([]string{"token"}, args...)...)
			first.wantCode(t, 0)
			revoked := strings.TrimSpace(first.stdout)
			fp := kauth.Fingerprint(revoked)
			fill()

			r := runProcess(t, env, "", append([]string{"revoke"}, args...)...)
			r.wantCode(t, 1)
			t.Logf("kauth revoke on a full disk: %s", r.stderr)
			if n := sim.Stats().Revoked; n != 1 {
				t.Fatalf("the broker revoked %d tokens; want 1 (stderr: %s)", n, r.stderr)
			}
			for _, want := range []string{"the broker revoked token " + fp, "the store could not record it", "its entry was removed instead", "disk", "is full"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("kauth revoke on a full disk: stderr = %q; want it to say %q", r.stderr, want)
				}
			}

			tok := runProcess(t, env, "", append([]string{"token", "--timeout", "5s"}, args...)...)
			if got := strings.TrimSpace(tok.stdout); got == revoked {
				t.Fatalf("kauth token on a full disk printed the revoked token (exit %d)", tok.code)
			}
			if b == kauth.Kiwoom {
				tok.wantCode(t, 0)
				if cur, _, _ := sim.CurrentToken(b, kauth.Mock, fakeKiwoomKey); strings.TrimSpace(tok.stdout) != cur {
					t.Errorf("kauth token on a full disk did not print the broker's current token")
				}
			}
		})
	}
}
