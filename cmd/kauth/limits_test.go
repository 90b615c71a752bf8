package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeConfigFileBounded: kauth serve reads at most 8 MiB of its
// config file, so that --config /dev/zero (or a file that is not a config)
// is one line naming the file and the limit, exit 2, not a read without
// end. The process runs with its data (heap) capped at 512 MiB, so that
// reading without bound ends it in seconds rather than filling the
// machine.
func TestServeConfigFileBounded(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("# not a config, only a comment line\n"), 256<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/dev/zero", big} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			home := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `ulimit -d 524288 && exec "$0" "$@"`,
				kauthBin, "serve", "--config", path)
			cmd.Env = []string{"HOME=" + home, "TMPDIR=" + home, "PATH=/usr/bin:/bin",
				"KAUTH_STORE=memory", "KAUTH_CACHE_DIR=" + filepath.Join(home, "cache")}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatal(err)
			}
			r := result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
			if len(r.stderr) > 500 {
				r.stderr = r.stderr[:500] + "…"
			}
			r.wantCode(t, exitUsage)
			if !strings.Contains(r.stderr, path) || !strings.Contains(r.stderr, "8 MiB") {
				t.Errorf("stderr = %q; want it to name %s and the 8 MiB limit", r.stderr, path)
			}
		})
	}
}

// TestServeListenErrorsExit2: an address the agent cannot listen on as
// written — a URL, a port out of range or missing, a socket path longer
// than a unix socket address holds — is a configuration error: exit 2 with
// one line naming the setting, whether it comes from the config file or
// from --addr.
func TestServeListenErrorsExit2(t *testing.T) {
	dir := shortDir(t)
	env := map[string]string{"KAUTH_CACHE_DIR": filepath.Join(dir, "cache"), "KAUTH_STORE": "memory",
		"K": "PSabcdefghijklmnopqrstuvwxyz0123456789", "S": strings.Repeat("s", 180)}
	sock := filepath.Join(dir, "a.sock")
	config := func(listen string) string {
		return "listen:\n" + listen + "accounts:\n  - name: a\n    broker: kis\n    env: mock\n    base_url: http://127.0.0.1:1\n    appkey: {env: K}\n    appsecret: {env: S}\n"
	}
	long := "/tmp/" + strings.Repeat("d", 120) + "/agent.sock"
	for _, tc := range []struct {
		name, config string
		args         []string
		want         string
	}{
		{"file url", config("  socket: " + sock + "\n  tcp: file:///etc/passwd\n"), nil, "file:///etc/passwd"},
		{"file url allowed off loopback", config("  socket: " + sock + "\n  allow_non_loopback: true\n  tcp: file:///etc/passwd\n"), nil, "file:///etc/passwd"},
		{"port out of range", config("  socket: " + sock + "\n  tcp: 127.0.0.1:99999\n"), nil, "127.0.0.1:99999"},
		{"no port", config("  socket: " + sock + "\n  tcp: 127.0.0.1\n"), nil, "127.0.0.1"},
		{"socket path too long", config("  socket: " + long + "\n"), nil, "socket"},
		{"addr flag url", config("  socket: " + sock + "\n"), []string{"--addr", "file:///etc/passwd"}, "file:///etc/passwd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "kauth.yaml")
			if err := os.WriteFile(path, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			r := run(t, env, "", append([]string{"serve", "--config", path}, tc.args...)...)
			if r.code != exitUsage {
				t.Fatalf("exit code = %d; want %d\n%s", r.code, exitUsage, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, "listen") || !strings.Contains(last, tc.want) {
				t.Errorf("last stderr line = %q; want it to name the listen setting and %q", last, tc.want)
			}
			if strings.Contains(r.stderr, env["S"]) || strings.Contains(r.stderr, env["K"]) {
				t.Error("stderr shows a credential")
			}
		})
	}
}

// shortDir is a temporary directory whose name leaves room for a socket
// (a unix socket path holds at most 107 bytes).
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "kl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// endless is a stdin that never ends; it fails the read past limit bytes,
// so that a reader without bound is an error rather than a full memory.
type endless struct {
	n, limit int
}

func (e *endless) Read(p []byte) (int, error) {
	if e.n >= e.limit {
		return 0, errors.New("read past the bound")
	}
	clear(p)
	e.n += len(p)
	return len(p), nil
}

// TestHashkeyStdinBounded: kauth hashkey reads at most its 1 MiB limit
// (and a byte) of an endless stdin and says the body is too large; it
// never reads on, and never asks the broker.
func TestHashkeyStdinBounded(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, "mock")
	in := &endless{limit: 8 * maxBody}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := Main(ctx, []string{"hashkey", "--env", "mock"}, in, &stdout, &stderr, func(k string) string { return env[k] })
	r := result{code, stdout.String(), stderr.String()}
	r.wantCode(t, exitUsage)
	if !strings.Contains(r.stderr, "larger than") {
		t.Errorf("stderr = %q; want it to say the body is too large", r.stderr)
	}
	if in.n > maxBody+64<<10 {
		t.Errorf("read %d bytes of stdin; want at most the %d-byte limit and a buffer", in.n, maxBody)
	}
	if n := sim.Stats().Requests; n != 0 {
		t.Errorf("the broker saw %d requests; want none", n)
	}
}
