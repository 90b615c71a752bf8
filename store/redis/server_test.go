package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/store/redis"
)

// privateServer starts a redis-server of the test's own, so that it may be
// put out of memory or made a replica without disturbing the shared test
// Redis, and returns a client of it. It skips if redis-server is not
// installed.
func privateServer(t *testing.T, args ...string) *goredis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed; this test runs a private one")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir()}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	for deadline := time.Now().Add(10 * time.Second); c.Ping(t.Context()).Err() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the private redis-server did not start")
		}
	}
	return c
}

func checkUnwritable(t *testing.T, what string, err error, want string) {
	t.Helper()
	if !errors.Is(err, kauth.ErrStoreUnwritable) {
		t.Fatalf("%s = %v; want an error matching ErrStoreUnwritable", what, err)
	}
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("%s error %q: want one line that says %q", what, err, want)
	}
}

// TestOutOfMemory: a Redis at maxmemory refuses writes; Save and Lock say
// so, and the old entry stays.
func TestOutOfMemory(t *testing.T) {
	c := privateServer(t, "--maxmemory-policy", "noeviction")
	s := newStore(t, c, newKey())
	ctx := t.Context()
	old := entry()
	if err := s.Save(ctx, keyMock, old); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	checkUnwritable(t, "Save", s.Save(ctx, keyMock, entry()), "out of memory")
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := s.Lock(lctx, keyMock)
	checkUnwritable(t, "Lock", err, "out of memory")
	if err := c.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, keyMock)
	if err != nil || got.Token.AccessToken != old.Token.AccessToken || !got.LastIssue.Equal(old.LastIssue) {
		t.Fatalf("Load after the refused writes = %v; want the old entry", err)
	}
	if err := s.Save(ctx, keyMock, entry()); err != nil {
		t.Fatalf("Save once memory is back = %v", err)
	}
}

// TestReadOnlyReplica: a store pointed at a replica says to use the
// primary.
func TestReadOnlyReplica(t *testing.T) {
	primary := privateServer(t)
	addr := primary.Options().Addr
	host, port, _ := net.SplitHostPort(addr)
	replica := privateServer(t, "--replicaof", host, port)
	s := newStore(t, replica, newKey(), redis.WithPrefix("kauth"))
	checkUnwritable(t, "Save", s.Save(t.Context(), keyMock, entry()), "read-only replica")
}
