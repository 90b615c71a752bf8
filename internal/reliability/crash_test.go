package reliability_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/reliability"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/store/file"
)

// crashScale is how much faster than the wall clock the crash test's
// virtual time runs, in the parent's simulator and in every child alike: a
// 24 h token lives 0.86 s, the KIS issuance minute 0.6 ms.
const crashScale = 100_000

// TestCrashDuringRefresh kills processes with SIGKILL at random points of a
// refresh, round after round. Four children hammer Token for a KIS and a
// Kiwoom app on one file store, on a shared virtual clock that makes tokens
// expire (and be refreshed ahead) every second or so. In half the rounds
// the parent kills the very child whose token request just reached the
// simulator, a random 0-4 ms after it arrived (before, during or after the
// answer, and while it saves the entry); in the other half a random child at
// a random moment. After each kill a fresh file store must read every entry
// without a corruption warning, and at the end the broker must have minted
// at most one token per validity period elapsed, plus one. It runs 20
// rounds, 200 under KAUTH_LONG (CI) or KAUTH_SOAK.
func TestCrashDuringRefresh(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes for several seconds")
	}
	rounds := reliability.LongScale(20, 200)
	const children = 4
	clock := reliability.ScaledClock{Base: time.Now(), Scale: crashScale}
	rig := reliability.NewRig(func(s *brokersim.Server) { s.Clock = clock.Now })
	defer rig.Close()
	apps := []brokersim.App{brokersim.DemoKISMock, brokersim.DemoKiwoomMock}
	// Widen the window in which an issuing child can be caught: each token
	// answer takes 2 ms (3 virtual minutes).
	for _, app := range apps {
		rig.Sim.Inject(brokersim.Fault{Broker: app.Broker, Path: issuePath(app.Broker), Kind: brokersim.Latency, Delay: 2 * time.Millisecond, Count: 1 << 30})
	}

	dir := filepath.Join(t.TempDir(), "cache")
	storeKey := reliability.NewStoreKey()
	var names []string
	for _, app := range apps {
		names = append(names, reliability.AppName(app))
	}
	env := []string{
		reliability.EnvSim + "=" + rig.URL(),
		reliability.EnvApps + "=" + strings.Join(names, ","),
		reliability.EnvStore + "=file",
		"KAUTH_CACHE_DIR=" + dir,
		"KAUTH_KEY=" + storeKey,
		reliability.EnvBase + "=" + strconv.FormatInt(clock.Base.UnixNano(), 10),
		reliability.EnvScale + "=" + strconv.Itoa(crashScale),
	}

	var mu sync.Mutex
	procs := map[int]*reliability.Child{} // by pid
	var stderr []string                   // of the children gone
	start := func() *reliability.Child {
		t.Helper()
		c, err := reliability.StartChild("hammer", env...)
		if err != nil {
			t.Fatal(err)
		}
		if l, err := c.Line(30 * time.Second); err != nil || l != "ready" {
			t.Fatalf("child not ready: %q, %v", l, err)
		}
		mu.Lock()
		procs[c.Cmd.Process.Pid] = c
		mu.Unlock()
		return c
	}
	defer func() {
		for _, c := range procs {
			c.Stop(10 * time.Second)
			stderr = append(stderr, c.Stderr())
		}
		checkChildOutput(t, stderr, apps)
	}()
	for range children {
		start()
	}

	var armed atomic.Bool
	killed := make(chan int, 1)
	rig.Intercept(func(r *http.Request) {
		pid, err := strconv.Atoi(r.Header.Get(reliability.PIDHeader))
		if err != nil || !strings.Contains(r.URL.Path, "/oauth2/token") || !armed.CompareAndSwap(true, false) {
			return
		}
		delay := time.Duration(rand.IntN(4000)) * time.Microsecond
		time.AfterFunc(delay, func() {
			killPID(pid)
			killed <- pid
		})
	})
	defer rig.Intercept(nil)

	virtStart := clock.Now()
	inRefresh := 0
	for round := range rounds {
		var pid int
		if round%2 == 0 {
			armed.Store(true)
			select {
			case pid = <-killed:
				inRefresh++
			case <-time.After(3 * time.Second):
				armed.Store(false)
				t.Logf("round %d: no token request within 3 s; killing at random instead", round)
			}
		}
		if pid == 0 {
			time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
			mu.Lock()
			for p := range procs {
				pid = p
				break
			}
			mu.Unlock()
			killPID(pid)
		}
		mu.Lock()
		c := procs[pid]
		delete(procs, pid)
		mu.Unlock()
		if c == nil {
			t.Fatalf("round %d: killed pid %d is not a child", round, pid)
		}
		c.Kill()
		stderr = append(stderr, c.Stderr())
		checkCacheFiles(t, dir, storeKey, apps, fmt.Sprintf("round %d", round))
		start()
	}
	elapsed := clock.Now().Sub(virtStart)

	periods := int((elapsed + 24*time.Hour - 1) / (24 * time.Hour))
	for _, app := range apps {
		c := rig.Sim.Stats().App(app.Broker, app.Env, app.AppKey)
		if c.Issued > periods+1 {
			t.Errorf("%s: %d tokens minted over %v (%d validity periods); want at most %d", app, c.Issued, elapsed.Round(time.Hour), periods, periods+1)
		}
		t.Logf("%s: %d tokens minted, %d re-issued, %d rate-limited, over %v virtual (%d periods)",
			app, c.Issued, c.Reissued, c.RateLimited, elapsed.Round(time.Hour), periods)
	}
	t.Logf("%d rounds, %d kills aimed at an issuing process", rounds, inRefresh)
	checkCacheFiles(t, dir, storeKey, apps, "at the end")
}

// checkCacheFiles opens a fresh file store on dir and reads each app's
// entry: no corruption warning, no read error, and a token, if any, that
// is whole.
func checkCacheFiles(t *testing.T, dir, storeKey string, apps []brokersim.App, when string) {
	t.Helper()
	var logs testlog.Buffer
	key, _ := base64.StdEncoding.DecodeString(storeKey)
	st, err := file.New(dir, file.WithKey(key), file.WithLogger(logs.Logger()))
	if err != nil {
		t.Fatalf("%s: file.New() = %v", when, err)
	}
	for _, app := range apps {
		e, err := st.Load(context.Background(), app.Credentials().Key())
		if err != nil && !errors.Is(err, kauth.ErrNotFound) {
			t.Errorf("%s: Load(%s) = %v", when, app, err)
		}
		if tok := e.Token; tok.AccessToken != "" && (tok.Type != "Bearer" || !tok.ExpiresAt.After(tok.IssuedAt)) {
			t.Errorf("%s: Load(%s) = %v, type %q: not a whole token", when, app, tok, tok.Type)
		}
	}
	if w := logs.Warnings(); len(w) > 0 {
		t.Errorf("%s: the cache is corrupt: %s", when, w[0])
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range entries {
		fi, err := de.Info()
		if err != nil {
			continue // a temporary file renamed away meanwhile
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s: %s is mode %04o; want 0600", when, de.Name(), perm)
		}
	}
}

// checkChildOutput asserts that no child panicked, handed out an expired
// token or printed a secret.
func checkChildOutput(t *testing.T, stderr []string, apps []brokersim.App) {
	t.Helper()
	all := strings.Join(stderr, "\n")
	for _, bad := range []string{"panic", "expired token", "DATA RACE"} {
		if strings.Contains(all, bad) {
			t.Errorf("a child wrote %q:\n%s", bad, firstLines(all, 20))
		}
	}
	for _, app := range apps {
		if strings.Contains(all, app.AppKey) || strings.Contains(all, app.Secret) {
			t.Errorf("a child wrote a credential of %s", app)
		}
	}
	if n := strings.Count(all, "child: Token("); n > 0 {
		t.Logf("%d failed Token calls in the children, e.g.:\n%s", n, firstLines(all, 5))
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
