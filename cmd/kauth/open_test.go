package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// TestOpen: kauth open prints a one-time link to the agent's status page
// and hands the browser a 0600 file that leads to it, never the link
// itself; the link logs a browser in once.
func TestOpen(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	dir := shortDir(t)
	sock := filepath.Join(dir, "a.sock")
	config := filepath.Join(dir, "kauth.yaml")
	agentConfig(t, config, sock)
	s := startServe(t, with(env, "KAUTH_STORE", "memory"), "--config", config, "--addr", "127.0.0.1:0")
	if !strings.Contains(s.stdout.String(), "  status    kauth open") {
		t.Errorf("kauth serve's banner does not point at kauth open:\n%s", s.stdout.String())
	}

	var opened []string
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := MainOptions(ctx, []string{"open", "--config", config}, Options{Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return map[string]string{"KAUTH_CONFIG": config}[k] },
		Browser: func(_ context.Context, path string) error {
			opened = append(opened, path)
			return nil
		}})
	if code != 0 {
		t.Fatalf("kauth open = %d: %s", code, stderr.String())
	}
	out := stdout.String()
	_, link, _ := strings.Cut(out, "    http://")
	link, _, _ = strings.Cut(link, "\n")
	link = "http://" + link
	if !strings.Contains(link, "/status/login?code=") || !strings.Contains(out, "unix:"+sock) || !strings.Contains(out, "every account") {
		t.Fatalf("kauth open printed:\n%s", out)
	}
	if len(opened) != 1 || strings.Contains(opened[0], "code") {
		t.Fatalf("the browser was given %q; want one file path", opened)
	}
	fi, err := os.Stat(opened[0])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the file for the browser: %v, %v; want 0600", fi, err)
	}
	b, _ := os.ReadFile(opened[0])
	if !strings.Contains(string(b), strings.ReplaceAll(link, "&", "&amp;")) {
		t.Errorf("the file does not lead to the link:\n%s", b)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i, want := range []int{200, 403} {
		resp, err := client.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET of the link, time %d = %d; want %d", i+1, resp.StatusCode, want)
		}
	}

	// --no-browser prints the link and starts nothing; --account narrows.
	r := run(t, map[string]string{"KAUTH_CONFIG": config}, "", "open", "--no-browser", "--account", "paper")
	r.wantCode(t, 0)
	if !strings.Contains(r.stdout, "(paper)") || !strings.Contains(r.stdout, "/status/login?code=") {
		t.Errorf("kauth open --no-browser --account paper printed:\n%s", r.stdout)
	}
	r = run(t, map[string]string{"KAUTH_CONFIG": config}, "", "open", "--no-browser", "--account", "nope")
	r.wantCode(t, exitUsage)
	if !strings.Contains(r.stderr, `no account "nope"`) {
		t.Errorf("stderr = %s", r.stderr)
	}
}

// TestOpenNeedsTCP: against an agent with no TCP listener, kauth open says
// in one line what to set, exit 2.
func TestOpenNeedsTCP(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	dir := shortDir(t)
	sock := filepath.Join(dir, "a.sock")
	config := filepath.Join(dir, "kauth.yaml")
	agentConfig(t, config, sock)
	s := startServe(t, with(env, "KAUTH_STORE", "memory"), "--config", config)
	if strings.Contains(s.stdout.String(), "kauth open") {
		t.Errorf("kauth serve with no TCP points at kauth open:\n%s", s.stdout.String())
	}
	r := run(t, map[string]string{"KAUTH_CONFIG": config}, "", "open")
	r.wantCode(t, exitUsage)
	for _, want := range []string{"kauth open", "listen.tcp: 127.0.0.1:PORT", "--addr 127.0.0.1:PORT", "no_tcp"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q lacks %q", r.stderr, want)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q; want nothing", r.stdout)
	}
}
