//go:build linux

package main

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProcessServeNotifiesSystemd runs the kauth binary as systemd runs a
// Type=notify unit: NOTIFY_SOCKET set, reloaded by a real SIGHUP, stopped
// by SIGTERM, with JSON logs.
func TestProcessServeNotifiesSystemd(t *testing.T) {
	dir := shortDir(t)
	notify := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	runtime := filepath.Join(dir, "run")
	os.Mkdir(runtime, 0o700)
	env := map[string]string{"XDG_RUNTIME_DIR": runtime, "KAUTH_CACHE_DIR": filepath.Join(dir, "cache"), "NOTIFY_SOCKET": notify}
	d := startDaemon(t, env, "serve", "--sim", "--log-format", "json")
	next := func() string {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v\n%s", err, d.output())
		}
		return string(buf[:n])
	}
	if got := next(); !strings.HasPrefix(got, "READY=1\n") {
		t.Fatalf("first notification = %q; want READY=1", got)
	}
	d.waitLine(t, regexp.MustCompile(`^\s+accounts\s+.*kis-mock`))
	d.cmd.Process.Signal(syscall.SIGHUP)
	if got := next(); !regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*\n`).MatchString(got) {
		t.Errorf("on SIGHUP = %q; want RELOADING=1 with MONOTONIC_USEC", got)
	}
	if got := next(); !strings.HasPrefix(got, "READY=1\n") {
		t.Errorf("after the reload = %q; want READY=1", got)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if got := next(); got != "STOPPING=1\nSTATUS=stopping\n" {
		t.Errorf("on SIGTERM = %q; want STOPPING=1", got)
	}
	// A second SIGTERM while it drains changes nothing.
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("kauth serve exited %d after SIGTERM\n%s", code, d.output())
	}
	if !strings.Contains(d.output(), `"msg":"kauth serve: no config file; serving the simulator's demo apps (--sim)"`) {
		t.Errorf("no JSON log line in:\n%s", d.output())
	}
}
