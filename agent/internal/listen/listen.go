// Package listen is where the agent keeps its files and how it opens its
// listeners: the default socket and key file paths, the private state
// directory, the unix socket of mode 0600, and the check that a TCP
// listener is loopback unless allowed.
package listen

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/kauth/kauth/agent/internal/config"
	"github.com/kauth/kauth/internal/private"
)

// DefaultSocketPath returns where the agent's unix socket lives when the
// config does not say: $XDG_RUNTIME_DIR/kauth/agent.sock (a per-user 0700
// directory that the system clears at logout), else agent.sock in the state
// directory ($KAUTH_CACHE_DIR, else the user cache directory + /kauth, as
// for the token cache).
func DefaultSocketPath(getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if d := getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "kauth", "agent.sock"), nil
	}
	d, err := stateDir(getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "agent.sock"), nil
}

// DefaultKeyFile returns where the agent key lives when the config does not
// say: agent.key in the state directory ($KAUTH_CACHE_DIR, else the user
// cache directory + /kauth), e.g. ~/.cache/kauth/agent.key on Linux. It
// outlives logouts so that bots keep working across agent restarts.
func DefaultKeyFile(getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	d, err := stateDir(getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "agent.key"), nil
}

func stateDir(getenv func(string) string) (string, error) {
	if d := getenv("KAUTH_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("agent: no cache directory (set KAUTH_CACHE_DIR): %w", err)
	}
	return filepath.Join(d, "kauth"), nil
}

// PrivateDir creates dir (and its parents) private to its owner if it is
// missing: mode 0700, or on windows an access list of its own that the
// files made in it inherit. An existing directory that others can write
// to is refused, they could swap the socket or the key file; on windows,
// where the key file inherits the directory's access list, one that
// others can open at all.
func PrivateDir(dir string) error {
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: creating %s: %w", dir, err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := private.Restrict(dir, true); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if runtime.GOOS == "windows" {
		exp, err := private.Check(dir, fi)
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		if exp != nil {
			return fmt.Errorf("agent: directory %s is open to others (%s); run %s", dir, exp.Who, exp.Fix)
		}
		return nil
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("agent: directory %s is writable by others (mode %04o); chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// Unix opens the unix socket at path with mode 0600. A socket file
// left behind by an agent that died is removed; one that still answers
// belongs to a running agent and is an error.
func Unix(path string) (net.Listener, error) {
	if err := PrivateDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("agent: %s exists and is not a socket; remove it or choose another socket path", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, &config.Error{Err: fmt.Errorf("agent: another agent is already serving on %s; stop it, or give this one another socket (--addr unix:PATH or listen.socket)", path)}
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("agent: removing stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	// The directory is private, so nobody can reach the socket between its
	// creation and this chmod.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("agent: %w", err)
	}
	return ln, nil
}

// WritePrivate writes data to path atomically with mode 0600.
func WritePrivate(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".agent-key-*")
	if err != nil {
		return fmt.Errorf("agent: writing key file: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600; Restrict makes sure under any umask,
	// and on windows gives it an access list of its own before the key is
	// in it.
	if err := private.Restrict(tmp, false); err != nil {
		f.Close()
		return fmt.Errorf("agent: writing key file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("agent: writing key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("agent: writing key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("agent: writing key file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("agent: writing key file: %w", err)
	}
	ok = true
	return nil
}

// Check refuses a TCP listener on a non-loopback address unless
// allowed.
func Check(ln net.Listener, allowNonLoopback bool) error {
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok || allowNonLoopback || addr.IP.IsLoopback() {
		return nil
	}
	return fmt.Errorf("agent: refusing to serve on %s, which is not a loopback address (set allow_non_loopback to expose the accounts to the network)", addr)
}
