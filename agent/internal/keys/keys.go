// Package keys keeps the agent's keys: the agent key that opens every
// account over TCP and the client keys that open some, each in a file of
// mode 0600 made on first use, and their comparison in constant time.
package keys

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kauth/kauth/agent/internal/config"
	"github.com/kauth/kauth/agent/internal/listen"
	"github.com/kauth/kauth/internal/private"
)

// Client is a loaded client key: a key that opens some accounts only.
type Client struct {
	// Name identifies the key in logs and errors.
	Name string
	// Key is the key itself.
	Key string
	// Accounts are the names of the accounts the key may use.
	Accounts []string
}

// Equal reports whether a key got from a caller is want, in constant time.
// An empty want matches nothing.
func Equal(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// LoadClients reads (or creates) the file of every client key of cks,
// each of which may only name accounts in accounts. It reports every
// problem at once, each naming its key.
func LoadClients(cks []config.ClientKey, accounts map[string]bool) ([]Client, error) {
	var out []Client
	var errs []error
	seen := map[string]string{}
	for i, ck := range cks {
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
		k, err := LoadOrCreate(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("agent: %s: %s", field, strings.TrimPrefix(err.Error(), "agent: ")))
			continue
		}
		if other, dup := seen[k]; dup {
			errs = append(errs, fmt.Errorf("agent: %s: the same key as %s; give each client its own file", field, other))
			continue
		}
		seen[k] = field
		out = append(out, Client{Name: name, Key: k, Accounts: slices.Clone(ck.Accounts)})
	}
	return out, errors.Join(errs...)
}

// Len is the agent key's size in bytes before encoding.
const Len = 32

// LoadOrCreate returns the key kept in path, creating it (32 random
// bytes, base64url without padding, mode 0600) if the file is missing. An
// existing valid key is kept so that running bots survive an agent
// restart; delete the file to rotate the key. A key file that is a
// symlink or not a regular file, that group or others may read or write,
// or that holds anything but a key is refused with the command that fixes
// it: replacing it silently would lock out every bot holding the key, and
// trusting it would trust whoever could write it.
func LoadOrCreate(path string) (string, error) {
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
	case fi.Size() > 1024:
		return "", fmt.Errorf("agent: key file %s is %d bytes, not a key; remove it (rm %s) to have a new key made", path, fi.Size(), path)
	}
	if exp, err := private.Check(path, fi); err != nil {
		return "", fmt.Errorf("agent: key file: %w", err)
	} else if exp != nil {
		return "", fmt.Errorf("agent: key file %s is %s, open to others; run %s (and rotate the key if others may have read it: rm %s)", path, exp.Who, exp.Fix, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("agent: key file: %w", err)
	}
	k := strings.TrimSpace(string(data))
	if b, err := base64.RawURLEncoding.DecodeString(k); err != nil || len(b) != Len {
		return "", fmt.Errorf("agent: key file %s does not hold a key (%d random bytes, base64url); remove it (rm %s) to have a new key made", path, Len, path)
	}
	return k, nil
}

func createKey(path string) (string, error) {
	var b [Len]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("agent: generating key: %w", err)
	}
	k := base64.RawURLEncoding.EncodeToString(b[:])
	if err := listen.WritePrivate(path, []byte(k+"\n")); err != nil {
		return "", err
	}
	return k, nil
}
