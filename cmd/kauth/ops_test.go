package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testlog"
)

// TestFindConfigOrder names every step of the config discovery order.
func TestFindConfigOrder(t *testing.T) {
	const (
		xdgFile  = "/xdg/kauth/kauth.yaml"
		homeFile = "/home/u/.config/kauth/kauth.yaml"
	)
	for _, tc := range []struct {
		name     string
		flag     string
		env      map[string]string
		present  []string
		wantPath string
		wantFrom string
	}{
		{"flag first", "/a.yaml", map[string]string{"KAUTH_CONFIG": "/b.yaml", "XDG_CONFIG_HOME": "/xdg"}, []string{xdgFile, systemConfig}, "/a.yaml", "--config"},
		{"KAUTH_CONFIG next", "", map[string]string{"KAUTH_CONFIG": "/b.yaml", "XDG_CONFIG_HOME": "/xdg"}, []string{xdgFile, systemConfig}, "/b.yaml", "KAUTH_CONFIG"},
		{"KAUTH_CONFIG need not exist yet to be chosen", "", map[string]string{"KAUTH_CONFIG": "/b.yaml"}, []string{systemConfig}, "/b.yaml", "KAUTH_CONFIG"},
		{"XDG_CONFIG_HOME next", "", map[string]string{"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"}, []string{xdgFile, homeFile, systemConfig}, xdgFile, "XDG_CONFIG_HOME"},
		{"HOME/.config without XDG_CONFIG_HOME", "", map[string]string{"HOME": "/home/u"}, []string{homeFile, systemConfig}, homeFile, "HOME"},
		{"relative XDG_CONFIG_HOME is ignored", "", map[string]string{"XDG_CONFIG_HOME": "xdg", "HOME": "/home/u"}, []string{homeFile}, homeFile, "HOME"},
		{"system file when the user has none", "", map[string]string{"XDG_CONFIG_HOME": "/xdg"}, []string{systemConfig}, systemConfig, "system"},
		{"none: the environment", "", map[string]string{"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"}, nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exists := func(p string) (bool, error) {
				for _, q := range tc.present {
					if p == q {
						return true, nil
					}
				}
				return false, nil
			}
			got, err := findConfig(tc.flag, func(k string) string { return tc.env[k] }, exists)
			if err != nil {
				t.Fatal(err)
			}
			if got.path != tc.wantPath || got.from != tc.wantFrom {
				t.Errorf("findConfig = %q from %q; want %q from %q", got.path, got.from, tc.wantPath, tc.wantFrom)
			}
		})
	}
	t.Run("unreadable directory is an error", func(t *testing.T) {
		_, err := findConfig("", func(k string) string { return map[string]string{"HOME": "/home/u"}[k] },
			func(string) (bool, error) { return false, errors.New("permission denied") })
		if err == nil || ExitCode(err) != exitUsage || !strings.Contains(err.Error(), homeFile) {
			t.Errorf("err = %v; want a configuration error naming %s", err, homeFile)
		}
	})
}

// agentConfig writes a config serving account paper (KIS mock) on sock.
func agentConfig(t *testing.T, path, sock string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	err := os.WriteFile(path, []byte("listen:\n  socket: "+sock+"\naccounts:\n  - name: paper\n    broker: kis\n    env: mock\n"+
		"    appkey: {env: KIS_APPKEY}\n    appsecret: {env: KIS_APPSECRET}\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
}

// jsonLogLines parses every stderr line as a JSON log record with time,
// level and msg.
func jsonLogLines(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("log line lacks %q: %s", k, line)
			}
		}
		recs = append(recs, rec)
	}
	return recs
}

// TestServeSaysWhichConfig: kauth serve logs, in one line, which config
// file it read and why, for each way of finding one.
func TestServeSaysWhichConfig(t *testing.T) {
	sim := newTestSim(t)
	base := sim.env(t, kauth.Mock)
	dir := t.TempDir()
	sock := filepath.Join(dir, "a.sock")
	explicit := filepath.Join(dir, "explicit.yaml")
	agentConfig(t, explicit, sock)
	fromVar := filepath.Join(dir, "var.yaml")
	agentConfig(t, fromVar, sock)
	xdg := filepath.Join(dir, "xdg")
	agentConfig(t, filepath.Join(xdg, "kauth", "kauth.yaml"), sock)
	home := filepath.Join(dir, "home")
	agentConfig(t, filepath.Join(home, ".config", "kauth", "kauth.yaml"), sock)

	for _, tc := range []struct {
		name     string
		args     []string
		env      map[string]string
		wantFile string
		wantFrom string
	}{
		{"--config", []string{"--config", explicit}, with(base, "KAUTH_CONFIG", fromVar, "XDG_CONFIG_HOME", xdg), explicit, "--config"},
		{"KAUTH_CONFIG", nil, with(base, "KAUTH_CONFIG", fromVar, "XDG_CONFIG_HOME", xdg), fromVar, "KAUTH_CONFIG"},
		{"XDG_CONFIG_HOME", nil, with(base, "XDG_CONFIG_HOME", xdg, "HOME", home), filepath.Join(xdg, "kauth", "kauth.yaml"), "XDG_CONFIG_HOME"},
		{"HOME", nil, with(base, "HOME", home), filepath.Join(home, ".config", "kauth", "kauth.yaml"), "HOME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServe(t, tc.env, append([]string{"--log-format", "json"}, tc.args...)...)
			if c := s.stop(t); c != 0 {
				t.Fatalf("kauth serve exited %d: %s", c, s.stderr.String())
			}
			var read []map[string]any
			for _, rec := range jsonLogLines(t, s.stderr.String()) {
				if rec["msg"] == "kauth serve: config file read" {
					read = append(read, rec)
				}
			}
			if len(read) != 1 || read[0]["file"] != tc.wantFile || read[0]["from"] != tc.wantFrom {
				t.Errorf("config lines = %v; want one with file=%s from=%s", read, tc.wantFile, tc.wantFrom)
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		env := map[string]string{"HOME": filepath.Join(dir, "nobody"), "KAUTH_ENV": "mock", "KAUTH_STORE": "memory"}
		for _, k := range []string{"KIS_APPKEY", "KIS_APPSECRET", "KIS_BASE_URL"} {
			env[k] = base[k]
		}
		s := startServe(t, env, "--log-format", "json", "--addr", "unix:"+sock)
		s.stop(t)
		found := false
		for _, rec := range jsonLogLines(t, s.stderr.String()) {
			if rec["msg"] == "kauth serve: no config file; serving the accounts in the environment" {
				found = strings.Contains(rec["looked_in"].(string), filepath.Join(dir, "nobody", ".config", "kauth", "kauth.yaml")) &&
					strings.Contains(rec["looked_in"].(string), systemConfig)
			}
		}
		if !found {
			t.Errorf("no line saying where serve looked:\n%s", s.stderr.String())
		}
	})
	t.Run("KAUTH_CONFIG missing", func(t *testing.T) {
		r := run(t, with(base, "KAUTH_CONFIG", filepath.Join(dir, "absent.yaml")), "", "serve")
		r.wantCode(t, exitUsage)
		if !strings.Contains(r.stderr, "absent.yaml") {
			t.Errorf("stderr = %q; want it to name the file", r.stderr)
		}
	})
}

func TestLogFlags(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	for _, args := range [][]string{
		{"token", "--broker", "kis", "--env", "mock", "--log-format", "xml"},
		{"status", "--log-level", "loud"},
		{"serve", "--sim", "--log-format", "yaml"},
	} {
		r := run(t, env, "", args...)
		r.wantCode(t, exitUsage)
		if !strings.Contains(r.stderr, "--log-") {
			t.Errorf("%v: stderr = %q; want it to name the flag", args, r.stderr)
		}
	}
	// --log-level makes a quiet command log, in the chosen format.
	r := run(t, env, "", "token", "--broker", "kis", "--env", "mock", "--log-format", "json", "--log-level", "debug")
	r.wantCode(t, 0)
	recs := jsonLogLines(t, r.stderr)
	if len(recs) == 0 {
		t.Fatal("kauth token --log-level debug logged nothing")
	}
	// The fields the README documents for the issuance event.
	issued := false
	for _, rec := range recs {
		if rec["msg"] == "kauth: token issued" {
			issued = true
			for _, k := range []string{"key", "token", "expires", "source", "took"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("kauth: token issued lacks %q: %v", k, rec)
				}
			}
		}
	}
	if !issued {
		t.Errorf("no kauth: token issued event in:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, strings.TrimSpace(r.stdout)) || strings.Contains(r.stderr, fakeKISSecret) {
		t.Error("the log holds the token or the secret")
	}
	// warn hides the issuance, which is logged at info.
	r = run(t, sim.env(t, kauth.Real), "", "token", "--broker", "kis", "--env", "real", "--log-level", "warn")
	r.wantCode(t, 0)
	if r.stderr != "" {
		t.Errorf("--log-level warn logged %q", r.stderr)
	}
}

// TestServeNotifiesSystemd runs kauth serve as systemd would with
// Type=notify: READY=1 once it serves, RELOADING=1 with MONOTONIC_USEC and
// READY=1 again around a reload, STOPPING=1 when it stops.
func TestServeNotifiesSystemd(t *testing.T) {
	sim := newTestSim(t)
	dir := t.TempDir()
	notify := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	config := filepath.Join(dir, "kauth.yaml")
	agentConfig(t, config, filepath.Join(dir, "a.sock"))
	env := with(sim.env(t, kauth.Mock), "NOTIFY_SOCKET", notify)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal, 1)
	code := make(chan int, 1)
	var stdout, stderr testlog.Buffer
	go func() {
		code <- MainOptions(ctx, []string{"serve", "--config", config}, Options{Stdout: &stdout, Stderr: &stderr,
			Getenv: func(k string) string { return env[k] }, Hangups: hup})
	}()
	next := func() string {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v\n%s", err, stderr.String())
		}
		return string(buf[:n])
	}
	if got := next(); !strings.HasPrefix(got, "READY=1\nSTATUS=serving 1 accounts") {
		t.Errorf("first notification = %q; want READY=1", got)
	}
	if !strings.Contains(stdout.String(), "agent ready") {
		t.Error("READY=1 came before the agent said it was ready")
	}
	hup <- syscall.SIGHUP
	if got := next(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("on SIGHUP = %q; want RELOADING=1 and MONOTONIC_USEC", got)
	}
	if got := next(); got != "READY=1\nSTATUS=config reloaded\n" {
		t.Errorf("after the reload = %q; want READY=1", got)
	}
	os.WriteFile(config, []byte("accounts: [\n"), 0o600)
	hup <- syscall.SIGHUP
	next()
	if got := next(); !strings.HasPrefix(got, "READY=1\nSTATUS=reload failed") {
		t.Errorf("after a failed reload = %q; want READY=1 saying it failed", got)
	}
	cancel()
	if got := next(); got != "STOPPING=1\nSTATUS=stopping\n" {
		t.Errorf("on stop = %q; want STOPPING=1", got)
	}
	if c := <-code; c != 0 {
		t.Errorf("kauth serve exited %d: %s", c, stderr.String())
	}
}
