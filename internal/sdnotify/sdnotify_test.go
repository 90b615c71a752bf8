//go:build linux

package sdnotify_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth/internal/sdnotify"
)

// listen opens a unixgram socket as systemd does for NOTIFY_SOCKET.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func receive(t *testing.T, c *net.UnixConn) []string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no datagram: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(buf[:n]), "\n"), "\n")
}

func TestNotifierSendsDatagrams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	c := listen(t, path)
	n := sdnotify.New(func(k string) string {
		if k == "NOTIFY_SOCKET" {
			return path
		}
		return ""
	})
	n.Monotonic = func() (uint64, error) { return 123456789, nil }

	if err := n.Ready("serving 2 accounts\non a socket"); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(receive(t, c), "|"), "READY=1|STATUS=serving 2 accounts on a socket"; got != want {
		t.Errorf("Ready sent %q; want %q", got, want)
	}
	if err := n.Reloading(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(receive(t, c), "|"), "RELOADING=1|MONOTONIC_USEC=123456789|STATUS=reloading the config"; got != want {
		t.Errorf("Reloading sent %q; want %q", got, want)
	}
	if err := n.Stopping(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(receive(t, c), "|"), "STOPPING=1|STATUS=stopping"; got != want {
		t.Errorf("Stopping sent %q; want %q", got, want)
	}
}

func TestNotifierAbstractSocket(t *testing.T) {
	name := "kauth-sdnotify-test-" + strconv.Itoa(os.Getpid())
	c := listen(t, "\x00"+name)
	n := &sdnotify.Notifier{Socket: "@" + name}
	if err := n.Send("READY=1"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, c); len(got) != 1 || got[0] != "READY=1" {
		t.Errorf("got %q; want READY=1", got)
	}
}

func TestNotifierWithoutManager(t *testing.T) {
	for _, n := range []*sdnotify.Notifier{nil, {}, sdnotify.New(func(string) string { return "" })} {
		if n.Enabled() {
			t.Errorf("%+v: Enabled() = true; want false", n)
		}
		if err := n.Ready("x"); err != nil {
			t.Errorf("Ready without NOTIFY_SOCKET = %v; want nil", err)
		}
		if err := n.Reloading(); err != nil {
			t.Errorf("Reloading without NOTIFY_SOCKET = %v; want nil", err)
		}
	}
}

func TestNotifierErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		socket string
		state  []string
	}{
		"relative path":      {"notify.sock", []string{"READY=1"}},
		"nobody listens":     {filepath.Join(dir, "absent.sock"), []string{"READY=1"}},
		"newline in a value": {filepath.Join(dir, "x.sock"), []string{"STATUS=a\nREADY=1"}},
		"not an assignment":  {filepath.Join(dir, "x.sock"), []string{"READY"}},
	} {
		t.Run(name, func(t *testing.T) {
			n := &sdnotify.Notifier{Socket: tc.socket}
			if err := n.Send(tc.state...); err == nil || !strings.HasPrefix(err.Error(), "sdnotify: ") {
				t.Errorf("Send(%q) to %q = %v; want an sdnotify error", tc.state, tc.socket, err)
			}
		})
	}
}

// TestMonotonicIsTheSystemClock checks the MONOTONIC_USEC that Reloading
// sends against CLOCK_BOOTTIME (/proc/uptime), which runs ahead of
// CLOCK_MONOTONIC only by the time suspended.
func TestMonotonicIsTheSystemClock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	c := listen(t, path)
	n := &sdnotify.Notifier{Socket: path}
	if err := n.Reloading(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Skip("no /proc/uptime")
	}
	up, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	var usec uint64
	for _, l := range receive(t, c) {
		if v, ok := strings.CutPrefix(l, "MONOTONIC_USEC="); ok {
			usec, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	if usec == 0 || float64(usec) > (up+1)*1e6 {
		t.Errorf("MONOTONIC_USEC = %d; want 0 < it <= uptime %.2fs", usec, up)
	}
}
