package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/gofrs/flock"

	"github.com/kauth/kauth/internal/seal"
)

// keyFileName is the file, in the store's directory, that holds the store
// key when none is given: base64 of 32 random bytes and a newline, so that
// it can be copied into KAUTH_KEY on another host.
const keyFileName = "key"

// keyFileMu keeps goroutines of this process from creating two key files at
// once where the file lock would not exclude them (fcntl-based systems).
var keyFileMu sync.Mutex

// loadOrCreateKey returns the key in dir's key file, creating the file if it
// does not exist. Creation happens under a file lock and re-checks, so
// processes that start together agree on one key; the file is written
// atomically, so no process reads half a key.
func loadOrCreateKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, keyFileName)
	key, err := readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	keyFileMu.Lock()
	defer keyFileMu.Unlock()
	if err := regularOrAbsent(path+lockSuffix, "key lock file"); err != nil {
		return nil, err
	}
	fl := flock.New(path+lockSuffix, flock.SetPermissions(0o600), flock.SetFlag(lockFlag))
	if err := fl.Lock(); err != nil {
		return nil, dirFailed(dir, "locking the key file", err)
	}
	defer fl.Unlock()
	key, err = readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key = seal.NewKey()
	if _, err := writeAtomic(path, []byte(seal.EncodeKey(key)+"\n"), nil, nil); err != nil {
		return nil, dirFailed(dir, "creating the key file", err)
	}
	return key, nil
}

// readKeyFile reads and parses a key file. It returns an error matching
// fs.ErrNotExist if there is none.
func readKeyFile(path string) ([]byte, error) {
	data, err := readPrivate(path)
	if err != nil {
		return nil, err
	}
	key, err := seal.ParseKey(string(data))
	clear(data)
	if err != nil {
		return nil, fmt.Errorf("kauth: key file %s: %v; fix it, or remove it to start over with a new key (cached tokens are then lost)", path, err)
	}
	return key, nil
}

// ParseKey decodes a store key as KAUTH_KEY holds it: base64 (standard or
// URL alphabet, padded or not) of exactly 32 bytes. The error says what is
// wrong without repeating the input.
func ParseKey(s string) ([]byte, error) {
	key, err := seal.ParseKey(s)
	if err != nil {
		return nil, fmt.Errorf("kauth: %w", err)
	}
	return key, nil
}

// DefaultDir returns the directory FromEnv uses when KAUTH_CACHE_DIR is not
// set: "kauth" in the user's cache directory (os.UserCacheDir).
func DefaultDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("kauth: no cache directory (set KAUTH_CACHE_DIR): %w", err)
	}
	return filepath.Join(d, "kauth"), nil
}

// FromEnv returns the Store that the environment describes. The directory
// is $KAUTH_CACHE_DIR, or DefaultDir if that is empty. The key is
// $KAUTH_KEY (see ParseKey) if set, or else the key file in the directory.
// opts are applied after, so an explicit WithKey wins over KAUTH_KEY.
func FromEnv(opts ...Option) (*Store, error) {
	dir := os.Getenv("KAUTH_CACHE_DIR")
	if dir == "" {
		var err error
		if dir, err = DefaultDir(); err != nil {
			return nil, err
		}
	}
	if s := os.Getenv("KAUTH_KEY"); s != "" {
		key, err := seal.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("kauth: KAUTH_KEY: %w", err)
		}
		defer clear(key)
		opts = append([]Option{WithKey(key)}, opts...)
	}
	return New(dir, opts...)
}
