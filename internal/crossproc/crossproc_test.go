// Package crossproc tests that Managers in separate processes, and on
// separate handles of one shared store, behave as one: one issuance per
// validity period, restarts that reuse the cached token, and revocations and
// invalidations that reach every holder. The processes are real: the test
// binary re-executes itself.
package crossproc_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/kis"
	"github.com/kauth/kauth/kiwoom"
	"github.com/kauth/kauth/store/file"
	"github.com/kauth/kauth/store/redis"
)

// The child process reads its orders from these variables.
const (
	envChild  = "KAUTH_CROSSPROC_CHILD"
	envBase   = "KAUTH_CROSSPROC_BASE"   // the simulator's KIS mock base URL
	envStore  = "KAUTH_CROSSPROC_STORE"  // "file:<dir>" or "redis:<url>"
	envPrefix = "KAUTH_CROSSPROC_PREFIX" // Redis key namespace
	envLoop   = "KAUTH_CROSSPROC_LOOP"   // if set, a Go duration: keep getting tokens from fresh Managers for at most that long
	envStop   = "KAUTH_CROSSPROC_STOP"   // with envLoop, a path: stop looping as soon as it exists
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		os.Exit(child())
	}
	goleak.VerifyTestMain(m)
}

// child gets a token for the KIS mock demo app through a Manager on the
// shared store, prints its fingerprint and exits.
func child() int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := openStore(os.Getenv(envStore), os.Getenv(envPrefix), decodeKey(os.Getenv("KAUTH_KEY")), time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if d, err := time.ParseDuration(os.Getenv(envLoop)); err == nil {
		return loop(store, d)
	}
	m, err := kauth.NewManager(kauth.Config{
		Credentials: brokersim.DemoKISMock.Credentials(),
		Provider:    &kis.Provider{BaseURL: os.Getenv(envBase)},
		Store:       store,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer m.Close()
	tok, err := m.Token(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(tok.Fingerprint())
	return 0
}

// loop plays a process that restarts over and over, for d or until the
// file named by envStop exists: each round a fresh Manager (nothing in
// memory) gets a token within a 5 s deadline, and the child prints every
// distinct fingerprint it got and how many calls failed or overran their
// deadline.
func loop(store kauth.Store, d time.Duration) int {
	seen := map[string]bool{}
	failed, late := 0, 0
	stop := os.Getenv(envStop)
	stopped := func() bool {
		if stop == "" {
			return false
		}
		_, err := os.Stat(stop)
		return err == nil
	}
	for end := time.Now().Add(d); time.Now().Before(end) && !stopped(); {
		m, err := kauth.NewManager(kauth.Config{
			Credentials: brokersim.DemoKISMock.Credentials(),
			Provider:    &kis.Provider{BaseURL: os.Getenv(envBase)},
			Store:       store,
			Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		tok, err := m.Token(ctx)
		if time.Since(start) > 6*time.Second {
			late++
		}
		cancel()
		m.Close()
		if err != nil {
			fmt.Println("error:", err)
			failed++
		} else {
			seen[tok.Fingerprint()] = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	for fp := range seen {
		fmt.Println("token:", fp)
	}
	fmt.Printf("failed=%d late=%d\n", failed, late)
	return 0
}

func openStore(spec, prefix string, key []byte, poll time.Duration) (kauth.Store, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "file":
		return file.New(arg, file.WithKey(key), file.WithPollInterval(poll), file.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	case "redis":
		return redis.Open(arg, key, redis.WithPrefix(prefix))
	}
	return nil, fmt.Errorf("unknown store %q", spec)
}

func decodeKey(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s)
	return b
}

func newKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	return key
}

// storm starts n children at once and returns what each printed.
func storm(t *testing.T, n int, env []string) []string {
	t.Helper()
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	for i := range n {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), append([]string{envChild + "=1"}, env...)...)
		outs[i] = new(bytes.Buffer)
		cmd.Stdout = outs[i]
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmds[i] = cmd
		t.Cleanup(func() {
			if t.Failed() && stderr.Len() > 0 {
				t.Logf("child %d stderr:\n%s", i, stderr.String())
			}
		})
	}
	for _, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	fps := make([]string, n)
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("child %d: %v", i, err)
		}
		fps[i] = strings.TrimSpace(outs[i].String())
	}
	return fps
}

func sameNonEmpty(t *testing.T, fps []string) {
	t.Helper()
	for i, fp := range fps {
		if fp == "" || fp != fps[0] {
			t.Fatalf("child %d got token %q; child 0 got %q: want one shared token", i, fp, fps[0])
		}
	}
}

func newSim(t *testing.T) (*brokersim.Server, string) {
	t.Helper()
	sim := brokersim.New()
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, brokersim.BaseURL(ts.URL, kauth.KIS, kauth.Mock)
}

func issued(sim *brokersim.Server) int {
	a := brokersim.DemoKISMock
	return sim.Issued(a.Broker, a.Env, a.AppKey)
}

func TestFileStoreProcessesIssueOnce(t *testing.T) {
	sim, base := newSim(t)
	key := newKey(t)
	env := []string{envBase + "=" + base, envStore + "=file:" + filepath.Join(t.TempDir(), "cache"), "KAUTH_KEY=" + base64.StdEncoding.EncodeToString(key)}
	sameNonEmpty(t, storm(t, 16, env))
	if got := issued(sim); got != 1 {
		t.Errorf("16 cold processes on one file store: issuances = %d; want 1", got)
	}
	// A restarted process finds the token in the encrypted file.
	sameNonEmpty(t, storm(t, 1, env))
	if got := issued(sim); got != 1 {
		t.Errorf("after a restart: issuances = %d; want still 1", got)
	}
}

func TestRedisStoreProcessesIssueOnce(t *testing.T) {
	url := testredis.URL(t)
	sim, base := newSim(t)
	key := newKey(t)
	prefix := testredis.Prefix(t)
	env := []string{envBase + "=" + base, envStore + "=redis:" + url, envPrefix + "=" + prefix, "KAUTH_KEY=" + base64.StdEncoding.EncodeToString(key)}
	first := storm(t, 4, env)
	sameNonEmpty(t, first)
	if got := issued(sim); got != 1 {
		t.Errorf("4 cold processes on one Redis: issuances = %d; want 1", got)
	}
	again := storm(t, 1, env)
	if again[0] != first[0] {
		t.Errorf("restarted process got token %q; want the shared %q", again[0], first[0])
	}
	if got := issued(sim); got != 1 {
		t.Errorf("after a restart: issuances = %d; want still 1", got)
	}
}

// vclock drives Managers from the simulator's virtual clock.
type vclock struct{ sim *brokersim.Server }

func (c vclock) Now() time.Time { return c.sim.Now() }

func (c vclock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sim.Advance(d)
	return nil
}

// pair builds two Managers for the Kiwoom mock demo app on two handles of
// one shared store, as two processes would have.
func pair(t *testing.T, sim *brokersim.Server, base string, open func() kauth.Store) (a, b *kauth.Manager) {
	t.Helper()
	mk := func() *kauth.Manager {
		m, err := kauth.NewManager(kauth.Config{
			Credentials: brokersim.DemoKiwoomMock.Credentials(),
			Provider:    &kiwoom.Provider{BaseURL: base, Now: sim.Now},
			Store:       open(),
			Clock:       vclock{sim},
			Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	return mk(), mk()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sharedStores(t *testing.T) map[string]func() kauth.Store {
	key := newKey(t)
	dir := filepath.Join(t.TempDir(), "cache")
	stores := map[string]func() kauth.Store{
		"file": func() kauth.Store {
			s, err := openStore("file:"+dir, "", key, 20*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	if url, ok := testredis.Try(t); ok {
		prefix := testredis.Prefix(t)
		stores["redis"] = func() kauth.Store {
			s, err := redis.Open(url, key, redis.WithPrefix(prefix))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}
	return stores
}

func TestRevokeReachesOtherHolders(t *testing.T) {
	for name, open := range sharedStores(t) {
		t.Run(name, func(t *testing.T) {
			sim := brokersim.New()
			ts := httptest.NewServer(sim)
			defer ts.Close()
			a, b := pair(t, sim, brokersim.BaseURL(ts.URL, kauth.Kiwoom, kauth.Mock), open)
			ctx := context.Background()
			ta, err1 := a.Token(ctx)
			tb, err2 := b.Token(ctx)
			if err1 != nil || err2 != nil || ta.AccessToken != tb.AccessToken {
				t.Fatalf("Token() = %v, %v; same=%v", err1, err2, ta.AccessToken == tb.AccessToken)
			}
			if err := a.Revoke(ctx); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the other holder drops the revoked token", func() bool { _, ok := b.Cached(); return !ok })
			fresh, err := b.Token(ctx)
			if err != nil || fresh.AccessToken == ta.AccessToken {
				t.Fatalf("Token() after revoke elsewhere = %v, %v; want a new token", fresh, err)
			}
			if got, _ := a.Token(ctx); got.AccessToken != fresh.AccessToken {
				t.Error("the revoking holder did not pick up the other's new token")
			}
			if got := sim.Issued(kauth.Kiwoom, kauth.Mock, brokersim.DemoKiwoomMock.AppKey); got != 2 {
				t.Errorf("issuances = %d; want 2", got)
			}
		})
	}
}

func TestNewTokenReachesOtherHolders(t *testing.T) {
	for name, open := range sharedStores(t) {
		t.Run(name, func(t *testing.T) {
			sim := brokersim.New()
			ts := httptest.NewServer(sim)
			defer ts.Close()
			a, b := pair(t, sim, brokersim.BaseURL(ts.URL, kauth.Kiwoom, kauth.Mock), open)
			ctx := context.Background()
			old, _ := a.Token(ctx)
			b.Token(ctx)
			// The broker rejects the token; a learns of it and replaces it.
			sim.InvalidateToken(old.AccessToken)
			a.Invalidate(old.AccessToken)
			fresh, err := a.Token(ctx)
			if err != nil || fresh.AccessToken == old.AccessToken {
				t.Fatalf("Token() after Invalidate = %v, %v", fresh, err)
			}
			eventually(t, "the other holder adopts the new token", func() bool {
				tok, ok := b.Cached()
				return ok && tok.AccessToken == fresh.AccessToken
			})
			if got := sim.Issued(kauth.Kiwoom, kauth.Mock, brokersim.DemoKiwoomMock.AppKey); got != 2 {
				t.Errorf("issuances = %d; want 2", got)
			}
		})
	}
}

// TestRedisDown: with Redis gone, a valid token in memory keeps being
// served, and a token that must be issued is issued directly, with a
// warning, rather than leave the caller without one.
func TestRedisDown(t *testing.T) {
	url := testredis.URL(t)
	proxy := newCutProxy(t, hostPort(t, url))
	sim := brokersim.New()
	ts := httptest.NewServer(sim)
	defer ts.Close()
	store, err := redis.Open(strings.Replace(url, hostPort(t, url), proxy.addr, 1), newKey(t), redis.WithPrefix(testredis.Prefix(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var logs testlog.Buffer
	m, err := kauth.NewManager(kauth.Config{
		Credentials: brokersim.DemoKISMock.Credentials(),
		Provider:    &kis.Provider{BaseURL: brokersim.BaseURL(ts.URL, kauth.KIS, kauth.Mock), Now: sim.Now},
		Store:       store,
		Clock:       vclock{sim},
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	first, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}

	proxy.cut()
	for range 100 {
		if tok, err := m.Token(ctx); err != nil || tok.AccessToken != first.AccessToken {
			t.Fatalf("Token() with Redis down = %v, %v; want the token in memory", tok, err)
		}
	}
	sim.Advance(25 * time.Hour) // the token expires: one must be issued
	fresh, err := m.Token(ctx)
	if err != nil || fresh.AccessToken == first.AccessToken || !fresh.Valid(sim.Now()) {
		t.Fatalf("Token() after expiry with Redis down = %v, %v; want a new token issued directly", fresh, err)
	}
	if !strings.Contains(logs.String(), "issuing without it") {
		t.Errorf("no warning about issuing without the shared lock; log:\n%s", logs.String())
	}
	if got := issued(sim); got != 2 {
		t.Errorf("issuances = %d; want 2", got)
	}
}

// cutProxy forwards TCP to a target until cut, then refuses everything:
// a Redis server that went away, without stopping the shared one.
type cutProxy struct {
	addr  string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{addr: ln.Addr().String(), ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(u, c); u.Close() }()
			go func() { defer p.wg.Done(); io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// hostPort returns the address of the Redis at url.
func hostPort(t *testing.T, url string) string {
	o, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return o.Addr
}
