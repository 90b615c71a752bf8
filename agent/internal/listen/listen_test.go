//go:build unix

package listen_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kauth/kauth/agent/internal/config"
	"github.com/kauth/kauth/agent/internal/listen"
)

// shortDir returns a private directory whose socket paths fit a unix
// socket address (t.TempDir's can be too long on macOS).
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "kl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestUnix(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, "sub", "agent.sock")

	ln, err := listen.Unix(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket directory mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}

	// A socket that answers belongs to a running agent.
	_, err = listen.Unix(path)
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "already serving") {
		t.Errorf("second Unix on a live socket = %v; want a config.Error naming the running agent", err)
	}

	// One left behind by an agent that died is replaced.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	ln2, err := listen.Unix(path)
	if err != nil {
		t.Fatalf("Unix over a stale socket = %v; want it replaced", err)
	}
	ln2.Close()

	// A file that is not a socket is never removed.
	file := filepath.Join(dir, "not-a-socket")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := listen.Unix(file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Unix on a regular file = %v; want a refusal", err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("the regular file is gone: %v", err)
	}
}

func TestPrivateDirRefusesOpenDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := listen.PrivateDir(dir); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("PrivateDir(mode 0777) = %v; want a refusal", err)
	}
	if err := listen.PrivateDir(filepath.Join(t.TempDir(), "a", "b")); err != nil {
		t.Errorf("PrivateDir(new) = %v", err)
	}
}

func TestWritePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := listen.WritePrivate(path, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new\n" {
		t.Errorf("content = %q; want %q", b, "new\n")
	}
}

func TestCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := listen.Check(ln, false); err != nil {
		t.Errorf("Check(loopback) = %v", err)
	}
	pub, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skip("cannot listen on 0.0.0.0:", err)
	}
	defer pub.Close()
	if err := listen.Check(pub, false); err == nil || !strings.Contains(err.Error(), "allow_non_loopback") {
		t.Errorf("Check(0.0.0.0) = %v; want a refusal naming allow_non_loopback", err)
	}
	if err := listen.Check(pub, true); err != nil {
		t.Errorf("Check(0.0.0.0, allowed) = %v", err)
	}
}

func TestDefaultPaths(t *testing.T) {
	env := map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000", "KAUTH_CACHE_DIR": "/var/cache/kauth"}
	getenv := func(k string) string { return env[k] }
	if p, _ := listen.DefaultSocketPath(getenv); p != "/run/user/1000/kauth/agent.sock" {
		t.Errorf("DefaultSocketPath = %q", p)
	}
	if p, _ := listen.DefaultKeyFile(getenv); p != "/var/cache/kauth/agent.key" {
		t.Errorf("DefaultKeyFile = %q", p)
	}
	delete(env, "XDG_RUNTIME_DIR")
	if p, _ := listen.DefaultSocketPath(getenv); p != "/var/cache/kauth/agent.sock" {
		t.Errorf("DefaultSocketPath without XDG_RUNTIME_DIR = %q", p)
	}
}
