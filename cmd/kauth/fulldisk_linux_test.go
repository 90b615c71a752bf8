package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/storetest"
)

// TestProcessTokenOnFullDisk: with a fresh cache dir on a full disk, the
// store's key file cannot be created. kauth token still prints the token
// and exits 0, as it does when only the entry cannot be written, with one
// warning line that names the full disk and says that nothing is cached —
// so every run issues again, and every run says so.
func TestProcessTokenOnFullDisk(t *testing.T) {
	mnt := filepath.Join(shortDir(t), "mnt")
	if !storetest.MountTmpfs(t, mnt, "64k") {
		t.Skip("needs root to mount a small tmpfs")
	}
	storetest.FillDisk(t, filepath.Join(mnt, "filler"))
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	env["KAUTH_CACHE_DIR"] = filepath.Join(mnt, "kauth")
	for i := 1; i <= 2; i++ {
		r := runProcess(t, env, "", "token", "--broker", "kis", "--env", "mock")
		if r.code != exitOK {
			t.Fatalf("run %d: exit code = %d; want 0\nstderr: %s", i, r.code, r.stderr)
		}
		if len(strings.TrimSpace(r.stdout)) < 20 || strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("run %d: stdout = %q; want the token on one line", i, r.stdout)
		}
		if n := strings.Count(r.stderr, "\n"); n != 1 {
			t.Errorf("run %d: stderr has %d lines; want one warning:\n%s", i, n, r.stderr)
		}
		for _, want := range []string{"kis mock: warning", "full", "nothing is cached", "the next run will issue again"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("run %d: stderr = %q; want it to say %q", i, r.stderr, want)
			}
		}
		for _, s := range []string{fakeKISKey, fakeKISSecret, strings.TrimSpace(r.stdout)} {
			if strings.Contains(r.stderr, s) {
				t.Errorf("run %d: stderr shows a secret", i)
			}
		}
		if st := sim.Stats(); st.Issued+st.Reissued != i {
			t.Errorf("after run %d the broker answered %d token requests; want %d (nothing is cached)", i, st.Issued+st.Reissued, i)
		}
		// Past KIS's once-a-minute spacing, so that the next run's
		// issuance is answered at once.
		sim.Advance(61 * time.Second)
	}
}
