package redis_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

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
