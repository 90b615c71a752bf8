package reliability

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/store/file"
	"github.com/kauth/kauth/store/redis"
)

// The multi-process tests and benchmarks re-execute their own test binary
// as children. A child learns its role and its world from these variables;
// TestMain calls ChildMain when IsChild reports true. They hold no secret:
// the children use the simulator's demo apps, named by "broker/env".
const (
	EnvRole   = "KAUTH_REL_CHILD"  // "storm", "hammer" or "agent"
	EnvSim    = "KAUTH_REL_SIM"    // the simulator's root URL
	EnvApps   = "KAUTH_REL_APPS"   // comma-separated demo apps, "kis/mock,kiwoom/mock"
	EnvStore  = "KAUTH_REL_STORE"  // "file" (KAUTH_CACHE_DIR) or "redis"
	EnvRedis  = "KAUTH_REL_REDIS"  // Redis URL for the redis store
	EnvPrefix = "KAUTH_REL_PREFIX" // Redis key prefix
	EnvBase   = "KAUTH_REL_BASE"   // ScaledClock base, Unix nanoseconds; unset: the real clock
	EnvScale  = "KAUTH_REL_SCALE"  // ScaledClock scale
	EnvOffset = "KAUTH_REL_OFFSET" // a Go duration added to the child's clock: a host whose clock is off
)

// PIDHeader carries the child's process id on its requests to the
// simulator, so that the parent can kill the very process that is issuing.
const PIDHeader = "X-Kauth-Test-Pid"

// IsChild reports whether this process is a child of a multi-process test.
func IsChild() bool { return os.Getenv(EnvRole) != "" }

// ChildMain runs the child's role and returns its exit code.
func ChildMain() int {
	var err error
	switch role := os.Getenv(EnvRole); role {
	case "storm":
		err = childStorm()
	case "hammer":
		err = childHammer()
	case "agent":
		err = childAgent()
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// childWorld is what a child builds from its environment.
type childWorld struct {
	clock    kauth.Clock
	now      func() time.Time
	store    kauth.Store
	close    func()
	managers []*kauth.Manager
}

func newChildWorld() (*childWorld, error) {
	w := &childWorld{clock: kauth.SystemClock{}, now: time.Now, close: func() {}}
	if base := os.Getenv(EnvBase); base != "" {
		ns, err1 := strconv.ParseInt(base, 10, 64)
		scale, err2 := strconv.ParseInt(os.Getenv(EnvScale), 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		c := ScaledClock{Base: time.Unix(0, ns), Scale: scale}
		w.clock, w.now = c, c.Now
	}
	if off := os.Getenv(EnvOffset); off != "" {
		d, err := time.ParseDuration(off)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvOffset, err)
		}
		c := OffsetClock{Clock: w.clock, Offset: d}
		w.clock, w.now = c, c.Now
	}
	key, err := base64.StdEncoding.DecodeString(os.Getenv("KAUTH_KEY"))
	if err != nil {
		return nil, fmt.Errorf("KAUTH_KEY: %w", err)
	}
	log := DiscardLogger()
	switch os.Getenv(EnvStore) {
	case "file":
		st, err := file.New(os.Getenv("KAUTH_CACHE_DIR"), file.WithKey(key), file.WithLogger(log))
		if err != nil {
			return nil, err
		}
		w.store = st
	case "redis":
		st, err := redis.Open(os.Getenv(EnvRedis), key, redis.WithPrefix(os.Getenv(EnvPrefix)), redis.WithLogger(log))
		if err != nil {
			return nil, err
		}
		w.store, w.close = st, func() { st.Close() }
	default:
		return nil, fmt.Errorf("%s=%q: want file or redis", EnvStore, os.Getenv(EnvStore))
	}
	client := &http.Client{Transport: pidTransport{http.DefaultTransport}}
	group := kauth.NewGroup() // one watch of the store for every app
	for _, name := range strings.Split(os.Getenv(EnvApps), ",") {
		app, ok := AppByName(name)
		if !ok {
			return nil, fmt.Errorf("%s: unknown app %q", EnvApps, name)
		}
		cfg := kauth.Config{
			Credentials: app.Credentials(),
			Provider:    NewProvider(os.Getenv(EnvSim), app.Broker, app.Env, client, w.now),
			Store:       w.store,
			Group:       group,
			Clock:       w.clock,
			Logger:      log,
			// Real-time bounds, whatever the clock's scale.
			IssueTimeout:   20 * time.Second,
			AttemptTimeout: 5 * time.Second,
		}
		m, err := kauth.NewManager(cfg)
		if err != nil {
			return nil, err
		}
		w.managers = append(w.managers, m)
	}
	return w, nil
}

func (w *childWorld) Close() {
	for _, m := range w.managers {
		m.Close()
	}
	w.close()
}

type pidTransport struct{ base http.RoundTripper }

func (t pidTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(PIDHeader, strconv.Itoa(os.Getpid()))
	return t.base.RoundTrip(r)
}

// childStorm builds its Managers, says "ready", waits for a line on stdin,
// then gets each app's token once and prints "token <app> <fingerprint>
// <microseconds>".
func childStorm() error {
	w, err := newChildWorld()
	if err != nil {
		return err
	}
	defer w.Close()
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for go: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, m := range w.managers {
		start := time.Now()
		tok, err := m.Token(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("token %s %s %d\n", m.Key(), tok.Fingerprint(), time.Since(start).Microseconds())
	}
	return nil
}

// childHammer calls Token on every app in a loop until stdin closes (or
// the process is killed), checking that each token is valid on its clock.
// It prints "ready" after the first round and reports failures on stderr.
func childHammer() error {
	w, err := newChildWorld()
	if err != nil {
		return err
	}
	defer w.Close()
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	for i := 0; ; i++ {
		for _, m := range w.managers {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			before := w.now()
			tok, err := m.Token(ctx)
			cancel()
			if err != nil {
				fmt.Fprintf(os.Stderr, "child: Token(%s) = %v\n", m.Key(), err)
			} else if !tok.ExpiresAt.After(before) {
				fmt.Fprintf(os.Stderr, "child: Token(%s) handed out an expired token\n", m.Key())
			}
		}
		if i == 0 {
			fmt.Println("ready")
		}
		select {
		case <-stop:
			return nil
		case <-time.After(200 * time.Microsecond):
		}
	}
}

// Child is a running child process.
type Child struct {
	Cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr testlog.Buffer
	done   chan struct{}
}

// StartChild starts this test binary again as a child with the given role
// and extra environment. Its stdout lines arrive on Lines.
func StartChild(role string, env ...string) (*Child, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), EnvRole+"="+role)
	cmd.Env = append(cmd.Env, env...)
	c := &Child{Cmd: cmd, lines: make(chan string, 16), done: make(chan struct{})}
	cmd.Stderr = &c.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	return c, nil
}

// Line returns the child's next stdout line, or an error after timeout or
// if the child's output ended.
func (c *Child) Line(timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l, ok := <-c.lines:
		if !ok {
			return "", fmt.Errorf("child %d ended its output; stderr: %s", c.Cmd.Process.Pid, c.Stderr())
		}
		return l, nil
	case <-t.C:
		return "", fmt.Errorf("child %d said nothing for %v; stderr: %s", c.Cmd.Process.Pid, timeout, c.Stderr())
	}
}

// Send writes a line to the child's stdin.
func (c *Child) Send(line string) error {
	_, err := io.WriteString(c.stdin, line+"\n")
	return err
}

// Stderr returns what the child wrote to stderr so far.
func (c *Child) Stderr() string { return c.stderr.String() }

// Stop closes the child's stdin and waits for it to exit, killing it after
// timeout. It returns the child's exit error, if any.
func (c *Child) Stop(timeout time.Duration) error {
	c.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- c.Cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		c.Cmd.Process.Kill()
		<-done
		return fmt.Errorf("child %d did not exit within %v", c.Cmd.Process.Pid, timeout)
	}
}

// Kill kills the child with SIGKILL and reaps it.
func (c *Child) Kill() {
	c.Cmd.Process.Kill()
	c.stdin.Close()
	c.Cmd.Wait()
}

// StormResult is the outcome of a storm across processes.
type StormResult struct {
	Processes    int
	Fingerprints map[string]int // token fingerprint → how many processes got it
	Wall         time.Duration  // from "go" to the last process's token
	Startup      time.Duration  // from the first start to the last "ready"
}

// ProcessStorm starts n children that each build a Manager for app on the
// store that env describes, waits until all are ready, then releases them
// at once and collects the fingerprint of the token each got.
func ProcessStorm(n int, env []string) (StormResult, error) {
	res := StormResult{Processes: n, Fingerprints: map[string]int{}}
	children := make([]*Child, 0, n)
	defer func() {
		for _, c := range children {
			c.Stop(5 * time.Second)
		}
	}()
	t0 := time.Now()
	for range n {
		c, err := StartChild("storm", env...)
		if err != nil {
			return res, err
		}
		children = append(children, c)
	}
	for _, c := range children {
		if l, err := c.Line(60 * time.Second); err != nil || l != "ready" {
			return res, fmt.Errorf("child not ready: %q, %v", l, err)
		}
	}
	res.Startup = time.Since(t0)
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range children {
		wg.Go(func() { c.Send("go") })
	}
	wg.Wait()
	for _, c := range children {
		l, err := c.Line(60 * time.Second)
		if err != nil {
			return res, err
		}
		f := strings.Fields(l)
		if len(f) != 4 || f[0] != "token" {
			return res, fmt.Errorf("child said %q; want token <key> <fingerprint> <µs>", l)
		}
		res.Fingerprints[f[2]]++
	}
	res.Wall = time.Since(start)
	return res, nil
}
