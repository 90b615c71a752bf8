package reliability_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/reliability"
	"github.com/kauth/kauth/storetest"
)

// fillDisk writes to a file in dir until the file system is full, and
// returns the file's path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	storetest.FillDisk(t, path)
	return path
}

// TestFaultHarnessFullStore is the harness's file-store variant: two agent
// processes (clocks right and 5 min ahead) and runs of the kauth binary
// share a cache dir on a tmpfs of 512 KiB, which the test fills. On the
// full disk kauth revoke revokes at the broker and fails saying the disk
// is full; kauth token prints the broker's current token. After a revoke made with room, on a full disk again,
// kauth token issues anew, and neither it nor any agent (after 2 s) serves
// the revoked token; every caller is answered by its deadline. Once space
// is freed, a kauth token run caches the broker's current token, whole,
// and every agent serves it. It needs root, to mount the tmpfs; otherwise
// it skips.
func TestFaultHarnessFullStore(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the full store is a 512 KiB tmpfs, and mounting one needs root: run the tests as root to include this case")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs for the full store (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	defer func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	}()
	rig := reliability.NewRig(func(s *brokersim.Server) {
		s.KISRealCallsPerSecond, s.KISMockCallsPerSecond, s.KiwoomCallsPerSecond = -1, -1, -1
	})
	defer rig.Close()
	h := &harness{
		t: t, rig: rig, bin: kauthBinary(t), dir: t.TempDir(), storeKey: reliability.NewStoreKey(),
		fileDir: filepath.Join(mnt, "cache"),
		dead:    map[string]time.Time{},
		client:  &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}
	app := harnessApp(rig.Sim, kauth.Kiwoom)
	h.accounts = []reliability.AgentAccount{{Name: "kiwoom", App: app}}
	fail := func() {
		t.Helper()
		for _, p := range h.problems {
			t.Error(p)
		}
		h.problems = nil
	}

	code, out, stderr := h.cli(nil, app, "token")
	if first := strings.TrimSpace(out); code != 0 || first == "" || first != h.current(app) {
		t.Fatalf("kauth token on an empty cache: exit %d, the broker's token: %v; stderr: %s", code, first == h.current(app), stderr)
	}
	for i, off := range []string{"0s", "5m"} {
		a := &agentProc{i: i, offset: off}
		h.start(a)
		h.agents = append(h.agents, a)
	}
	defer func() {
		for _, a := range h.agents {
			if err := a.child.Stop(15 * time.Second); err != nil {
				t.Errorf("agent %d: %v", a.i, err)
			}
			h.gone = append(h.gone, a.child.Stderr())
		}
		checkChildOutput(t, h.gone, []brokersim.App{app})
	}()
	h.settle(0, time.Now())
	fail()

	// On a full disk, kauth revoke still revokes at the broker (and then
	// nobody serves the token), and fails saying the disk is full.
	filler := fillDisk(t, mnt)
	stop := make(chan struct{})
	probes := h.probing(stop)
	revoke := func(when string) {
		old := h.current(app)
		code, _, stderr := h.cli(nil, app, "revoke")
		revoked := h.current(app) != old
		t.Logf("kauth revoke %s: exit %d, revoked at the broker: %v; %s", when, code, revoked, strings.TrimSpace(stderr))
		switch {
		case revoked:
			h.mu.Lock()
			h.dead[old] = time.Now()
			h.mu.Unlock()
		case code == 0:
			t.Errorf("kauth revoke %s exited 0 but the broker's token is still valid", when)
		default:
			t.Errorf("kauth revoke %s did not reach the broker: %s", when, stderr)
		}
		if code != 0 && !strings.Contains(stderr, "full") {
			t.Errorf("kauth revoke %s failed without saying the disk is full: %s", when, stderr)
		}
	}
	revoke("on a full disk")
	code, out, stderr = h.cli(nil, app, "token")
	if tok := strings.TrimSpace(out); code != 0 || tok != h.current(app) {
		t.Errorf("kauth token on a full disk: exit %d, the broker's current token: %v; stderr: %s", code, tok == h.current(app), stderr)
	}

	// Revoked while there is room, then the disk fills before the next
	// token is cached: kauth token issues and says it could not cache it;
	// nobody serves the revoked token.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// The token issued on the full disk was not cached: cache the broker's
	// current one, which is what kauth revoke revokes.
	if code, _, stderr := h.cli(nil, app, "token"); code != 0 {
		t.Fatalf("kauth token with room: exit %d; stderr: %s", code, stderr)
	}
	// The agents issue as soon as they hear of the revoke, and a token
	// they cache before the disk is full leaves kauth token nothing to
	// issue: on a loaded machine they can beat the filler. Their token
	// requests wait at the broker until the disk is full, so the next
	// token always comes after it.
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	defer release()
	rig.Intercept(func(r *http.Request) {
		if r.Header.Get(reliability.PIDHeader) != "" && strings.Contains(r.URL.Path, "/oauth2/token") {
			<-hold
		}
	})
	revoke("with room")
	filler = fillDisk(t, mnt)
	release()
	rig.Intercept(nil)
	code, out, stderr = h.cli(nil, app, "token")
	tok := strings.TrimSpace(out)
	h.mu.Lock()
	_, dead := h.dead[tok]
	h.mu.Unlock()
	if code != 0 || tok == "" || dead {
		t.Errorf("kauth token on a full disk after a revoke: exit %d, printed a revoked token: %v; stderr: %s", code, dead, stderr)
	}
	if !strings.Contains(stderr, "could not be cached") {
		t.Errorf("kauth token on a full disk did not warn that the token could not be cached; stderr: %s", stderr)
	}
	t.Logf("kauth token on a full disk after a revoke: exit %d; %s", code, strings.TrimSpace(stderr))
	time.Sleep(healBound + 500*time.Millisecond)
	close(stop)
	probes.Wait()
	fail()

	// Space is freed: the next kauth token caches the broker's token.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	code, out, stderr = h.cli(nil, app, "token")
	if tok := strings.TrimSpace(out); code != 0 || tok != h.current(app) {
		t.Errorf("kauth token once space is freed: exit %d, the broker's current token: %v; stderr: %s", code, tok == h.current(app), stderr)
	}
	h.settle(1, freed)
	fail()
	st := rig.Sim.Stats().App(app.Broker, app.Env, app.AppKey)
	if st.Issued > 1+st.Revoked {
		t.Errorf("Kiwoom: %d tokens minted for %d revokes; want at most %d", st.Issued, st.Revoked, 1+st.Revoked)
	}
	f := h.figures
	t.Logf("%d CLI runs, %d probes (%d timed out); revoked token served within the bound %d times, at most %v after the revoke; Kiwoom %d minted, %d re-issued",
		f.cliRuns, f.probes, f.timeouts, f.deadServedInBound, f.maxHeal.Round(time.Millisecond), st.Issued, st.Reissued)
}
