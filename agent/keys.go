package agent

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kauth/kauth/agent/internal/config"
	"github.com/kauth/kauth/agent/internal/listen"
)

// clientKey is a loaded ClientKey.
type clientKey struct {
	name     string
	key      string
	accounts []string
}

// principal is who a request speaks for: everyone (the unix socket, the
// agent key) or a client key's accounts.
type principal struct {
	all  bool
	name string   // the client key's name
	accs []string // the accounts a client key may use
}

func (p *principal) may(account string) bool {
	return p == nil || p.all || slices.Contains(p.accs, account)
}

type principalKey struct{}

func principalOf(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	return p
}

func withPrincipal(r *http.Request, p *principal) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
}

// authenticate returns the principal of a TCP request's bearer key, or nil
// if it carries none that the agent knows. Keys compare in constant time.
func (a *Agent) authenticate(r *http.Request) *principal {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil
	}
	return a.principalFor(strings.TrimSpace(got))
}

// principalFor returns the principal of a key (the agent key or a client
// key), or nil. Keys compare in constant time.
func (a *Agent) principalFor(got string) *principal {
	if got == "" {
		return nil
	}
	if key, err := a.loadKey(); err == nil && key != "" && subtle.ConstantTimeCompare([]byte(got), []byte(key)) == 1 {
		return &principal{all: true}
	}
	a.keyMu.Lock()
	clients := a.clients
	a.keyMu.Unlock()
	for _, c := range clients {
		if subtle.ConstantTimeCompare([]byte(got), []byte(c.key)) == 1 {
			return &principal{name: c.name, accs: c.accounts}
		}
	}
	return nil
}

// loadClientKeys reads (or creates) every client key file of cfg.
func loadClientKeys(cfg Config, accounts map[string]bool) ([]clientKey, error) {
	var out []clientKey
	var errs []error
	seen := map[string]string{}
	for i, ck := range cfg.ClientKeys {
		name := ck.Name
		if name == "" {
			name = filepath.Base(ck.File)
		}
		field := fmt.Sprintf("client_keys[%d] (%s)", i, name)
		if ck.File == "" {
			errs = append(errs, fmt.Errorf("agent: %s: file is empty: name the 0600 file that holds the key", field))
			continue
		}
		if len(ck.Accounts) == 0 {
			errs = append(errs, fmt.Errorf("agent: %s: accounts is empty: list the accounts the key may use", field))
			continue
		}
		bad := false
		for _, acc := range ck.Accounts {
			if !accounts[acc] {
				errs = append(errs, fmt.Errorf("agent: %s: accounts: no account %q in the config", field, acc))
				bad = true
			}
		}
		if bad {
			continue
		}
		path, err := config.ExpandHome(ck.File)
		if err != nil {
			errs = append(errs, fmt.Errorf("agent: %s: %w", field, err))
			continue
		}
		k, err := loadOrCreateKey(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("agent: %s: %s", field, strings.TrimPrefix(err.Error(), "agent: ")))
			continue
		}
		if other, dup := seen[k]; dup {
			errs = append(errs, fmt.Errorf("agent: %s: the same key as %s; give each client its own file", field, other))
			continue
		}
		seen[k] = field
		out = append(out, clientKey{name: name, key: k, accounts: slices.Clone(ck.Accounts)})
	}
	return out, errors.Join(errs...)
}

// keyLen is the agent key's size in bytes before encoding.
const keyLen = 32

// loadOrCreateKey returns the key kept in path, creating it (32 random
// bytes, base64url without padding, mode 0600) if the file is missing. An
// existing valid key is kept so that running bots survive an agent
// restart; delete the file to rotate the key. A key file that is a
// symlink or not a regular file, that group or others may read or write,
// or that holds anything but a key is refused with the command that fixes
// it: replacing it silently would lock out every bot holding the key, and
// trusting it would trust whoever could write it.
func loadOrCreateKey(path string) (string, error) {
	if err := listen.PrivateDir(filepath.Dir(path)); err != nil {
		return "", err
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return createKey(path)
	case err != nil:
		return "", fmt.Errorf("agent: key file: %w", err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return "", fmt.Errorf("agent: key file %s is a symlink; replace it with the file itself, or remove it (rm %s) to have a new key made", path, path)
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("agent: key file %s is not a regular file; remove it (rm %s) to have a new key made", path, path)
	case fi.Mode().Perm()&0o077 != 0:
		return "", fmt.Errorf("agent: key file %s is mode %04o, open to others; run chmod 600 %s (and rotate the key if others may have read it: rm %s)", path, fi.Mode().Perm(), path, path)
	case fi.Size() > 1024:
		return "", fmt.Errorf("agent: key file %s is %d bytes, not a key; remove it (rm %s) to have a new key made", path, fi.Size(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("agent: key file: %w", err)
	}
	k := strings.TrimSpace(string(data))
	if b, err := base64.RawURLEncoding.DecodeString(k); err != nil || len(b) != keyLen {
		return "", fmt.Errorf("agent: key file %s does not hold a key (%d random bytes, base64url); remove it (rm %s) to have a new key made", path, keyLen, path)
	}
	return k, nil
}

func createKey(path string) (string, error) {
	var b [keyLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("agent: generating key: %w", err)
	}
	k := base64.RawURLEncoding.EncodeToString(b[:])
	if err := listen.WritePrivate(path, []byte(k+"\n")); err != nil {
		return "", err
	}
	return k, nil
}
