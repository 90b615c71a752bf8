package reliability_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
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
	"github.com/kauth/kauth/internal/tcpproxy"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/kis"
	"github.com/kauth/kauth/store/file"
	"github.com/kauth/kauth/store/redis"
	goredis "github.com/redis/go-redis/v9"
)

// The harness's bounds, in real time.
const (
	// healBound is how long after its Redis connection is back (or, for a
	// process whose connection never broke, after the revoke returned) a
	// process may still serve a token that kauth revoke revoked.
	healBound = 2 * time.Second
	// probeDeadline is every token API call's deadline; cliTimeout is the
	// CLI runs' --timeout. A caller must be answered by then, plus
	// callerSlack (a loaded 2-core machine, the race detector).
	probeDeadline = 3 * time.Second
	cliTimeout    = 5 * time.Second
	// revokeTimeout is kauth revoke's --timeout: long enough to outwait
	// a lease whose holder lost its Redis path while holding it (the lock
	// stays taken until redis.DefaultLease lapses).
	revokeTimeout = redis.DefaultLease + 5*time.Second
	callerSlack   = 1500 * time.Millisecond
	// settleBound is how long the processes may take, once every fault is
	// lifted, to serve the broker's current token again: a SIGKILLed lock
	// holder's Redis lease (redis.DefaultLease) must lapse first.
	settleBound = redis.DefaultLease + 10*time.Second
)

// kauthBinary builds cmd/kauth into dir: the CLI runs are the real binary,
// with its real clock and no test-only knob.
func kauthBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kauth")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/kauth/kauth/cmd/kauth").CombinedOutput(); err != nil {
		t.Fatalf("building kauth: %v\n%s", err, out)
	}
	return bin
}

// harnessApp returns a fresh app of broker b at env mock, registered at
// sim: its own app key, so that the harness's entries under the default
// Redis prefix (which the kauth binary uses) meet no other test's.
func harnessApp(sim *brokersim.Server, b kauth.Broker) brokersim.App {
	keyLen, secretLen := 36, 180
	if b == kauth.Kiwoom {
		keyLen, secretLen = 43, 43
	}
	app := brokersim.App{Broker: b, Env: kauth.Mock, AppKey: fakeCredential("PSHARNESS", keyLen), Secret: fakeCredential("HARNESS-SECRET-", secretLen)}
	sim.Register(app.Broker, app.Env, app.AppKey, app.Secret)
	return app
}

func fakeCredential(prefix string, n int) string {
	const chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := []byte(prefix)
	r := make([]byte, n)
	rand.Read(r)
	for i := 0; len(b) < n; i++ {
		b = append(b, chars[int(r[i])%len(chars)])
	}
	return string(b[:n])
}

// harness is the world of TestFaultHarness: the simulator in this process,
// agents and CLI runs in their own processes, each reaching Redis through
// a proxy of its own.
type harness struct {
	t        *testing.T
	rig      *reliability.Rig
	bin      string
	dir      string
	storeKey string
	redis    *goredis.Options // the Redis store's; nil for the file store
	fileDir  string           // the file store's cache dir; "" for Redis
	accounts []reliability.AgentAccount
	agents   []*agentProc
	client   *http.Client

	mu       sync.Mutex
	dead     map[string]time.Time // revoked token → when kauth revoke returned
	problems []string
	round    int
	gone     []string // stderr of the agent processes gone
	figures  figures
}

type figures struct {
	rounds, revokes, kills, cuts, stalls, delays, cliRuns, probes, deadServedInBound, timeouts int
	maxHeal                                                                                    time.Duration
	maxSettle                                                                                  time.Duration
}

// agentProc is one agent process and its Redis path.
type agentProc struct {
	i      int
	proxy  *tcpproxy.Proxy
	offset string
	child  *reliability.Child
	addr   string
	key    string
	pid    int
	// backAt is when its connection last came back: the heal bound runs
	// from max(backAt, the revoke).
	backAt time.Time
	broken bool
}

func (h *harness) problem(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.problems) < 30 {
		h.problems = append(h.problems, fmt.Sprintf(format, args...))
	}
}

func (h *harness) redisURL(p *tcpproxy.Proxy) string {
	u := url.URL{Scheme: "redis", Host: p.Addr(), Path: "/" + strconv.Itoa(h.redis.DB)}
	if h.redis.Password != "" {
		u.User = url.UserPassword(h.redis.Username, h.redis.Password)
	}
	return u.String()
}

func (h *harness) newProxy() *tcpproxy.Proxy {
	p, err := tcpproxy.New(h.redis.Addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { p.Close() })
	return p
}

// start starts (or restarts) agent a's process.
func (h *harness) start(a *agentProc) {
	h.t.Helper()
	env := []string{
		reliability.EnvSim + "=" + h.rig.URL(),
		reliability.EnvAccounts + "=" + reliability.AccountsEnv(h.accounts),
		reliability.EnvKeyFile + "=" + filepath.Join(h.dir, fmt.Sprintf("agent%d.key", a.i)),
		reliability.EnvOffset + "=" + a.offset,
		"KAUTH_KEY=" + h.storeKey,
	}
	if h.fileDir != "" {
		env = append(env, reliability.EnvStore+"=file", "KAUTH_CACHE_DIR="+h.fileDir)
	} else {
		env = append(env, reliability.EnvRedis+"="+h.redisURL(a.proxy))
	}
	c, err := reliability.StartChild("agent", env...)
	if err != nil {
		h.t.Fatal(err)
	}
	l, err := c.Line(30 * time.Second)
	if f := strings.Fields(l); err != nil || len(f) != 2 || f[0] != "ready" {
		c.Kill()
		h.t.Fatalf("agent %d not ready: %q, %v", a.i, l, err)
	}
	key, err := os.ReadFile(filepath.Join(h.dir, fmt.Sprintf("agent%d.key", a.i)))
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	a.child, a.addr, a.key, a.pid = c, strings.Fields(l)[1], strings.TrimSpace(string(key)), c.Cmd.Process.Pid
	h.mu.Unlock()
}

// cli runs the kauth binary through proxy p, to completion or a hard
// kill well past its --timeout, and checks that it ended in time.
func (h *harness) cli(p *tcpproxy.Proxy, app brokersim.App, args ...string) (code int, stdout, stderr string) {
	timeout := cliTimeout
	if args[0] == "revoke" {
		timeout = revokeTimeout
	}
	args = append(args, "--broker", string(app.Broker), "--env", string(app.Env), "--timeout", timeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	home := filepath.Join(h.dir, "home")
	os.MkdirAll(home, 0o700)
	creds := map[kauth.Broker][2]string{}
	for _, a := range h.accounts {
		creds[a.App.Broker] = [2]string{a.App.AppKey, a.App.Secret}
	}
	cmd.Env = []string{"HOME=" + home, "TMPDIR=" + home, "PATH=/usr/bin:/bin",
		"KAUTH_KEY=" + h.storeKey,
		"KIS_APPKEY=" + creds[kauth.KIS][0], "KIS_APPSECRET=" + creds[kauth.KIS][1],
		"KIWOOM_APPKEY=" + creds[kauth.Kiwoom][0], "KIWOOM_SECRETKEY=" + creds[kauth.Kiwoom][1],
		"KIS_BASE_URL=" + brokersim.BaseURL(h.rig.URL(), kauth.KIS, kauth.Mock),
		"KIWOOM_BASE_URL=" + brokersim.BaseURL(h.rig.URL(), kauth.Kiwoom, kauth.Mock),
	}
	if h.fileDir != "" {
		cmd.Env = append(cmd.Env, "KAUTH_CACHE_DIR="+h.fileDir)
	} else {
		cmd.Env = append(cmd.Env, "KAUTH_STORE="+h.redisURL(p))
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		h.t.Fatalf("running kauth %s: %v", args[0], err)
	}
	h.mu.Lock()
	h.figures.cliRuns++
	h.mu.Unlock()
	if took > timeout+callerSlack {
		h.problem("kauth %s %s took %v; --timeout %v", args[0], app, took.Round(time.Millisecond), timeout)
	}
	if s := errb.String(); strings.Contains(s, "panic") || strings.Count(strings.TrimSpace(s), "\n") > 1 {
		h.problem("kauth %s %s: stderr is not one line:\n%s", args[0], app, firstLines(s, 5))
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// current returns the broker's current token of app, or "".
func (h *harness) current(app brokersim.App) string {
	tok, _, _ := h.rig.Sim.CurrentToken(app.Broker, app.Env, app.AppKey)
	return tok
}

// probe asks agent a for account acct's token once and checks the answer:
// within the deadline, and no revoked token past the heal bound.
func (h *harness) probe(a *agentProc, acct reliability.AgentAccount) reliability.TokenAnswer {
	h.mu.Lock()
	addr, key := a.addr, a.key
	h.mu.Unlock()
	ans := reliability.GetToken(h.client, addr, key, acct.Name, probeDeadline)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.figures.probes++
	if ans.Took > probeDeadline+callerSlack {
		h.problems = append(h.problems, fmt.Sprintf("agent %d: token API took %v; deadline %v", a.i, ans.Took, probeDeadline))
	}
	if ans.Status == 0 || ans.Code == "timeout" || ans.Code == "canceled" {
		h.figures.timeouts++
	}
	if ans.Status != http.StatusOK {
		return ans
	}
	revoked, ok := h.dead[ans.Token]
	if !ok {
		return ans
	}
	from := revoked
	if a.backAt.After(from) {
		from = a.backAt
	}
	switch late := time.Since(from); {
	case a.broken:
	case late > healBound:
		h.problems = append(h.problems, fmt.Sprintf("round %d: agent %d (clock %s) served %s's revoked token %s %v after its connection was back",
			h.round, a.i, a.offset, acct.Name, kauth.Fingerprint(ans.Token), late.Round(time.Millisecond)))
	default:
		h.figures.deadServedInBound++
		h.figures.maxHeal = max(h.figures.maxHeal, late)
	}
	return ans
}

// probing probes every agent and account every 50 ms until stop closes.
func (h *harness) probing(stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, a := range h.agents {
		for _, acct := range h.accounts {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					h.mu.Lock()
					alive := a.child != nil
					h.mu.Unlock()
					if alive {
						h.probe(a, acct)
					}
				}
			})
		}
	}
	return &wg
}

// settle waits until every agent serves the broker's current token of
// every account, and then checks the store's entries.
func (h *harness) settle(round int, since time.Time) {
	h.t.Helper()
	for _, acct := range h.accounts {
		// After a revoke, a KIS token comes only once the issuance minute
		// since the last one has passed.
		deadline := time.Now().Add(settleBound)
		if acct.App.Broker == kauth.KIS {
			deadline = deadline.Add(kauth.MinIssueInterval(kis.New()))
		}
		for _, a := range h.agents {
			for {
				ans := h.probe(a, acct)
				cur := h.current(acct.App)
				if ans.Status == http.StatusOK && ans.Token == cur {
					break
				}
				if time.Now().After(deadline) {
					h.problem("round %d: agent %d (clock %s) still answers %s with status %d %s (token %s; the broker's is %s) %v after the faults ended",
						round, a.i, a.offset, acct.Name, ans.Status, ans.Code, kauth.Fingerprint(ans.Token), kauth.Fingerprint(cur), time.Since(since).Round(time.Millisecond))
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	h.mu.Lock()
	h.figures.maxSettle = max(h.figures.maxSettle, time.Since(since))
	h.mu.Unlock()
	h.checkStore(round)
}

// checkStore reads every entry straight from Redis (no proxy): none lost,
// none corrupt, each holding the broker's current token.
func (h *harness) checkStore(round int) {
	key, _ := base64.StdEncoding.DecodeString(h.storeKey)
	if h.fileDir != "" {
		var apps []brokersim.App
		for _, acct := range h.accounts {
			apps = append(apps, acct.App)
		}
		checkCacheFiles(h.t, h.fileDir, h.storeKey, apps, fmt.Sprintf("round %d", round))
		st, err := file.New(h.fileDir, file.WithKey(key), file.WithLogger(reliability.DiscardLogger()))
		if err != nil {
			h.t.Fatal(err)
		}
		for _, acct := range h.accounts {
			e, err := st.Load(context.Background(), acct.App.Credentials().Key())
			if cur := h.current(acct.App); err != nil || e.Token.AccessToken != cur {
				h.problem("round %d: the cache holds %s's token %s (%v); the broker's is %s", round, acct.Name, kauth.Fingerprint(e.Token.AccessToken), err, kauth.Fingerprint(cur))
			}
		}
		return
	}
	u := url.URL{Scheme: "redis", Host: h.redis.Addr, Path: "/" + strconv.Itoa(h.redis.DB)}
	if h.redis.Password != "" {
		u.User = url.UserPassword(h.redis.Username, h.redis.Password)
	}
	st, err := redis.Open(u.String(), key, redis.WithLogger(reliability.DiscardLogger()))
	if err != nil {
		h.t.Fatal(err)
	}
	defer st.Close()
	for _, acct := range h.accounts {
		e, err := st.Load(context.Background(), acct.App.Credentials().Key())
		cur := h.current(acct.App)
		switch {
		case err != nil:
			h.problem("round %d: the store's entry of %s: %v", round, acct.Name, err)
		case e.Token.AccessToken != cur:
			h.problem("round %d: the store holds %s's token %s; the broker's is %s", round, acct.Name, kauth.Fingerprint(e.Token.AccessToken), kauth.Fingerprint(cur))
		case e.Token.Type != "Bearer" || !e.Token.ExpiresAt.After(e.Token.IssuedAt):
			h.problem("round %d: the store's entry of %s is not whole: %v, type %q", round, acct.Name, e.Token, e.Token.Type)
		}
	}
}

// cleanup deletes the harness's keys (entries, fences, locks) from Redis.
func (h *harness) cleanup() {
	if h.redis == nil {
		return
	}
	c := goredis.NewClient(h.redis)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, acct := range h.accounts {
		it := c.Scan(ctx, 0, redis.DefaultPrefix+":{"+acct.App.Credentials().Key().String()+"}*", 100).Iterator()
		for it.Next(ctx) {
			c.Del(ctx, it.Val())
		}
	}
}

// TestFaultHarness runs rounds of faults against three agent processes
// (clocks right, 5 min ahead, 1 s behind) and runs of the kauth binary,
// all on one Redis, each process through a TCP proxy of its own. A round
// cuts, stalls or delays the Redis path of some agents, then revokes the
// Kiwoom token with kauth revoke (in a soak, the KIS one too), or runs
// kauth token through a cut path, or SIGKILLs the agent that holds the
// issuance lock as its token request reaches the broker. Meanwhile every
// agent's token API is probed every 50 ms. Checked throughout: no agent
// serves a revoked token more than 2 s after its connection is back; every
// caller (probe, CLI run) is answered within its deadline. Checked after
// each round, once the faults are lifted: every agent serves the broker's
// current token, the store holds it, whole. Checked at the end: the broker
// minted at most one token per revoke (plus the first), and refused a KIS
// issuance for its one-a-minute rule only to kauth token runs that could
// not reach Redis.
func TestFaultHarness(t *testing.T) {
	redisOpts := testredis.Options(t)
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("KAUTH_HARNESS_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (KAUTH_HARNESS_SEED repeats the rounds' choices)", seed)
	rng := mrand.New(mrand.NewPCG(seed, 9))
	budget := 25 * time.Second
	switch {
	case reliability.Soak():
		budget = 6 * time.Minute
	case testing.Short():
		budget = 8 * time.Second
	}
	rig := reliability.NewRig(func(s *brokersim.Server) {
		s.KISRealCallsPerSecond, s.KISMockCallsPerSecond, s.KiwoomCallsPerSecond = -1, -1, -1
	})
	defer rig.Close()
	h := &harness{
		t: t, rig: rig, bin: kauthBinary(t), dir: t.TempDir(), storeKey: reliability.NewStoreKey(), redis: redisOpts,
		dead:   map[string]time.Time{},
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}
	kisApp, kiwoomApp := harnessApp(rig.Sim, kauth.KIS), harnessApp(rig.Sim, kauth.Kiwoom)
	h.accounts = []reliability.AgentAccount{{Name: "kis", App: kisApp}, {Name: "kiwoom", App: kiwoomApp}}
	defer h.cleanup()
	for i, off := range []string{"0s", "5m", "-1s"} {
		a := &agentProc{i: i, proxy: h.newProxy(), offset: off}
		h.start(a)
		h.agents = append(h.agents, a)
	}
	defer func() {
		for _, a := range h.agents {
			if a.child != nil {
				if err := a.child.Stop(15 * time.Second); err != nil {
					t.Errorf("agent %d: %v", a.i, err)
				}
				h.gone = append(h.gone, a.child.Stderr())
			}
		}
		if t.Failed() {
			for i, s := range h.gone {
				t.Logf("agent process %d's log:\n%s", i, s)
			}
		}
		checkChildOutput(t, h.gone, []brokersim.App{kisApp, kiwoomApp})
	}()
	cliProxy := h.newProxy()

	// The lock holder's killer: armed, it SIGKILLs the agent whose token
	// request reaches the broker next, 0-3 ms after it arrived.
	var armed atomic.Bool
	killed := make(chan int, 1)
	rig.Intercept(func(r *http.Request) {
		pid, err := strconv.Atoi(r.Header.Get(reliability.PIDHeader))
		if err != nil || !strings.Contains(r.URL.Path, "/oauth2/token") || !armed.CompareAndSwap(true, false) {
			return
		}
		time.AfterFunc(time.Duration(mrand.IntN(3000))*time.Microsecond, func() {
			killPID(pid)
			killed <- pid
		})
	})
	defer rig.Intercept(nil)

	h.settle(-1, time.Now())
	if len(h.problems) > 0 {
		t.Fatalf("before any fault: %s", strings.Join(h.problems, "\n"))
	}
	// kisBlind counts the KIS runs of kauth token that could not reach
	// Redis: such a run issues directly (README: when Redis is down), and
	// within the minute after another process's issuance it earns the
	// broker's EGW00133, which it cannot know to avoid.
	kisRevokes, kiwoomRevokes, kisBlind := 0, 0, 0
	lastKISRevoke := time.Now()
	start := time.Now()
	for round := 0; time.Since(start) < budget || round < 3; round++ {
		h.mu.Lock()
		h.figures.rounds++
		h.round = round
		h.mu.Unlock()
		// Break the Redis path of some agents.
		var broken []*agentProc
		mode := rng.IntN(3)
		var what []string
		for _, a := range h.agents {
			if rng.IntN(2) == 0 {
				continue
			}
			broken = append(broken, a)
			what = append(what, fmt.Sprintf("agent %d %s", a.i, []string{"cut", "stalled", "delayed"}[mode]))
			h.mu.Lock()
			switch mode {
			case 0:
				a.proxy.Cut()
				a.broken = true
				h.figures.cuts++
			case 1:
				a.proxy.Stall()
				a.broken = true
				h.figures.stalls++
			default:
				a.proxy.Delay(time.Duration(50+rng.IntN(300)) * time.Millisecond)
				h.figures.delays++
			}
			h.mu.Unlock()
		}
		stop := make(chan struct{})
		probes := h.probing(stop)

		revoke := func(app brokersim.App) {
			old := h.current(app)
			code, _, stderr := h.cli(cliProxy, app, "revoke")
			if code != 0 {
				h.problem("round %d: kauth revoke %s exited %d: %s", round, app, code, stderr)
				return
			}
			if old != "" && h.current(app) == old {
				h.problem("round %d: kauth revoke %s left the broker's token in place", round, app)
			}
			h.mu.Lock()
			if old != "" {
				h.dead[old] = time.Now()
			}
			h.figures.revokes++
			h.mu.Unlock()
		}
		action := rng.IntN(4)
		if round == 1 {
			action = 3 // every run kills a lock holder at least once
		}
		what = append(what, []string{"revoke", "revoke", "kauth token on a broken path", "revoke and SIGKILL the lock holder"}[action])
		t.Logf("round %d: %s", round, strings.Join(what, ", "))
		switch action {
		case 0, 1:
			if reliability.Soak() && time.Since(lastKISRevoke) > 2*time.Minute && rng.IntN(2) == 0 {
				revoke(kisApp)
				kisRevokes++
				lastKISRevoke = time.Now()
			} else {
				revoke(kiwoomApp)
				kiwoomRevokes++
			}
		case 2:
			// A CLI run whose own Redis path is broken.
			p := h.newProxy()
			if rng.IntN(2) == 0 {
				p.Cut()
			} else {
				p.Stall()
			}
			app := []brokersim.App{kisApp, kiwoomApp}[rng.IntN(2)]
			if app.Broker == kauth.KIS {
				kisBlind++
			}
			_, stdout, _ := h.cli(p, app, "token")
			if tok := strings.TrimSpace(stdout); tok != "" {
				h.mu.Lock()
				_, dead := h.dead[tok]
				h.mu.Unlock()
				if dead {
					h.problem("round %d: kauth token %s on a broken Redis path printed a revoked token", round, app)
				}
			}
			p.Close()
		case 3:
			// Kill the lock holder: revoke, so that the agents issue, and
			// SIGKILL the one whose token request reaches the broker.
			armed.Store(true)
			revoke(kiwoomApp)
			kiwoomRevokes++
			var pid int
			select {
			case pid = <-killed:
			case <-time.After(5 * time.Second):
				armed.Store(false)
			}
			for _, a := range h.agents {
				if a.pid == pid && a.child != nil {
					a.child.Kill()
					h.mu.Lock()
					h.gone = append(h.gone, a.child.Stderr())
					a.child = nil
					h.figures.kills++
					h.mu.Unlock()
					h.start(a)
				}
			}
		}
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		for _, a := range broken {
			a.proxy.Restore()
			h.mu.Lock()
			a.backAt, a.broken = time.Now(), false
			h.mu.Unlock()
		}
		lifted := time.Now()
		time.Sleep(healBound + 500*time.Millisecond)
		close(stop)
		probes.Wait()
		h.settle(round, lifted)
		for _, p := range h.problems {
			t.Error(p)
		}
		if t.Failed() {
			break
		}
	}

	kis := rig.Sim.Stats().App(kisApp.Broker, kisApp.Env, kisApp.AppKey)
	kiwoom := rig.Sim.Stats().App(kiwoomApp.Broker, kiwoomApp.Env, kiwoomApp.AppKey)
	if kis.Issued > 1+kisRevokes {
		t.Errorf("KIS: %d tokens minted for %d revokes; want at most %d", kis.Issued, kisRevokes, 1+kisRevokes)
	}
	if kis.RateLimited > kisBlind {
		t.Errorf("KIS: the broker refused %d issuances for its one-a-minute rule (EGW00133); want at most %d, one per kauth token run that could not reach Redis", kis.RateLimited, kisBlind)
	}
	if kiwoom.Issued > 1+kiwoomRevokes {
		t.Errorf("Kiwoom: %d tokens minted for %d revokes; want at most %d", kiwoom.Issued, kiwoomRevokes, 1+kiwoomRevokes)
	}
	f := h.figures
	t.Logf("%d rounds in %v: %d revokes (KIS %d, Kiwoom %d), %d lock holders SIGKILLed, Redis paths cut %d, stalled %d, delayed %d; %d CLI runs, %d probes (%d timed out)",
		f.rounds, time.Since(start).Round(time.Second), f.revokes, kisRevokes, kiwoomRevokes, f.kills, f.cuts, f.stalls, f.delays, f.cliRuns, f.probes, f.timeouts)
	t.Logf("revoked token still served within the bound: %d answers, at most %v after the connection was back; slowest settle after the faults %v",
		f.deadServedInBound, f.maxHeal.Round(time.Millisecond), f.maxSettle.Round(time.Millisecond))
	t.Logf("broker: KIS %d minted, %d rate-limited (%d runs blind to Redis); Kiwoom %d minted, %d re-issued", kis.Issued, kis.RateLimited, kisBlind, kiwoom.Issued, kiwoom.Reissued)
}
