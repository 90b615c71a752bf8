package redis_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/tcpproxy"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/store/redis"
	"github.com/kauth/kauth/storetest"
)

// These tests run the test binary again as child processes, so that the
// lease lock is shown to exclude separate processes with separate
// connections, and to lapse when its holder is killed.

const (
	childEnv       = "KAUTH_REDIS_TEST_CHILD" // the child's role
	childPrefixEnv = "KAUTH_REDIS_TEST_PREFIX"
	childKeyEnv    = "KAUTH_REDIS_TEST_KEY" // a throwaway store key for the test
	childNEnv      = "KAUTH_REDIS_TEST_N"
	childLeaseEnv  = "KAUTH_REDIS_TEST_LEASE"
	childURLEnv    = "KAUTH_REDIS_TEST_URL" // the parent's test Redis
)

// TestChildProcess is not a test: it is the body of the child processes
// that the multi-process tests start.
func TestChildProcess(t *testing.T) {
	role := os.Getenv(childEnv)
	if role == "" {
		t.Skip("runs only as a child of the multi-process tests")
	}
	if err := childMain(role); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func childMain(role string) error {
	ctx := context.Background()
	key, err := base64.StdEncoding.DecodeString(os.Getenv(childKeyEnv))
	if err != nil {
		return err
	}
	opts := []redis.Option{redis.WithPrefix(os.Getenv(childPrefixEnv))}
	if role == "outage" {
		// The program's logger: JSON on stdout, so that the parent can
		// tell routed lines from raw ones on stderr.
		opts = append(opts, redis.WithLogger(slog.New(slog.NewJSONHandler(os.Stdout, nil))))
	}
	if d, err := time.ParseDuration(os.Getenv(childLeaseEnv)); err == nil {
		opts = append(opts, redis.WithLease(d))
	}
	s, err := redis.Open(os.Getenv(childURLEnv), key, opts...)
	if err != nil {
		return err
	}
	defer s.Close()
	switch role {
	case "count":
		n, _ := strconv.Atoi(os.Getenv(childNEnv))
		for range n {
			if err := storetest.Increment(ctx, s, keyMock); err != nil {
				return err
			}
		}
		return nil
	case "outage":
		if err := s.Ping(ctx); err != nil {
			return err
		}
		fmt.Println("up")
		// The parent takes Redis away; wait until it is gone.
		for deadline := time.Now().Add(10 * time.Second); s.Ping(ctx) == nil; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				return errors.New("redis still answers")
			}
		}
		for range 3 {
			s.Load(ctx, keyMock)
			s.Save(ctx, keyMock, entry())
		}
		lctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		s.Lock(lctx, keyMock)
		cancel()
		wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		s.Watch(wctx, func(kauth.Change) {})
		cancel()
		fmt.Println("done")
		return nil
	case "fences":
		n, _ := strconv.Atoi(os.Getenv(childNEnv))
		return storetest.LeaseFences(ctx, s, keyMock, n)
	case "hold":
		if _, err := s.Lock(ctx, keyMock); err != nil {
			return err
		}
		fmt.Println("locked")
		time.Sleep(time.Minute) // until killed
		return errors.New("not killed")
	}
	return fmt.Errorf("unknown role %q", role)
}

// childVars returns the environment of a child playing role on the
// parent's test Redis, under prefix, with the store key key.
func childVars(t *testing.T, role, prefix string, key []byte, more ...string) []string {
	return append([]string{
		childEnv + "=" + role,
		childURLEnv + "=" + testredis.URL(t),
		childPrefixEnv + "=" + prefix,
		childKeyEnv + "=" + base64.StdEncoding.EncodeToString(key),
	}, more...)
}

func TestProcessesExcludeEachOther(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := testredis.Client(t)
	prefix := testredis.Prefix(t)
	key := newKey()
	const procs, rounds = 4, 15
	storetest.RunProcesses(t, procs, childVars(t, "count", prefix, key, childNEnv+"="+strconv.Itoa(rounds))...)
	n, err := storetest.Count(t.Context(), newStore(t, c, key, redis.WithPrefix(prefix)), keyMock)
	if err != nil {
		t.Fatal(err)
	}
	if want := procs * rounds; n != want {
		t.Errorf("%d processes × %d locked increments left the counter at %d; want %d", procs, rounds, n, want)
	}
}

func TestProcessesFences(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	storetest.CheckProcessFences(t, 4, 10, childVars(t, "fences", testredis.Prefix(t), newKey(), childNEnv+"=10")...)
}

func TestKilledHolderLeaseLapses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := testredis.Client(t)
	prefix := testredis.Prefix(t)
	key := newKey()
	const lease = time.Second
	cmd, out := storetest.StartChild(t, childVars(t, "hold", prefix, key, childLeaseEnv+"="+lease.String())...)
	storetest.AwaitLine(t, out, "locked")
	s := newStore(t, c, key, redis.WithPrefix(prefix))

	// The live child renews its lease past its length.
	ctx, cancel := context.WithTimeout(t.Context(), lease+lease/2)
	defer cancel()
	if unlock, err := s.Lock(ctx, keyMock); err == nil {
		unlock.Unlock()
		t.Fatal("Lock succeeded while a live process held the lease")
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	unlock, err := s.Lock(ctx, keyMock)
	if err != nil {
		t.Fatalf("Lock after the holder was killed = %v", err)
	}
	unlock.Unlock()
	if d := time.Since(killed); d > lease+500*time.Millisecond {
		t.Errorf("Lock took %v after the holder was killed; want at most about the lease, %v", d, lease)
	}
}

// TestNoRawStderrWhileRedisDown: a process whose Redis goes away writes
// nothing raw to stderr; the Redis client's own lines reach the Store's
// logger.
func TestNoRawStderrWhileRedisDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	p, err := tcpproxy.New(testredis.Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	o := testredis.Options(t)
	url := fmt.Sprintf("redis://%s/%d", p.Addr(), o.DB)
	if o.Password != "" {
		t.Skip("the test Redis has a password; this test passes the URL without one")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=outage", childURLEnv+"="+url,
		childPrefixEnv+"="+testredis.Prefix(t), childKeyEnv+"="+base64.StdEncoding.EncodeToString(newKey()))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var stdout strings.Builder
	lines := make(chan string)
	go func() {
		defer close(lines)
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			stdout.WriteString(line)
			if strings.TrimSpace(line) == "up" {
				lines <- "up"
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-lines:
	case <-time.After(30 * time.Second):
		t.Fatal("child did not connect")
	}
	p.Close() // Redis is gone: dials are refused
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v; stderr:\n%s", err, stderr.String())
	}
	if s := stderr.String(); s != "" {
		t.Errorf("raw lines on stderr while Redis was down:\n%s", s)
	}
	if !strings.Contains(stdout.String(), `"msg":"kauth: redis client"`) {
		t.Errorf("the Redis client's lines did not reach the Store's logger; stdout:\n%s", stdout.String())
	}
	t.Logf("child's log:\n%s", stdout.String())
}
