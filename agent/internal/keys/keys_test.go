package keys_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kauth/kauth/agent/internal/config"
	"github.com/kauth/kauth/agent/internal/keys"
)

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "agent.key")
	k, err := keys.LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := base64.RawURLEncoding.DecodeString(k); err != nil || len(b) != keys.Len {
		t.Errorf("new key %d bytes, %v; want %d random bytes in base64url", len(b), err, keys.Len)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	again, err := keys.LoadOrCreate(path)
	if err != nil || again != k {
		t.Errorf("second LoadOrCreate = %q, %v; want the kept key", again, err)
	}
}

func TestLoadOrCreateRefuses(t *testing.T) {
	dir := t.TempDir()
	good, err := keys.LoadOrCreate(filepath.Join(dir, "good.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		make func(path string) error
		want string
	}{
		{"open to others", func(p string) error {
			if err := os.WriteFile(p, []byte(good), 0o600); err != nil {
				return err
			}
			return os.Chmod(p, 0o644)
		}, "chmod 600"},
		{"not a key", func(p string) error { return os.WriteFile(p, []byte("hunter2"), 0o600) }, "does not hold a key"},
		{"symlink", func(p string) error { return os.Symlink(filepath.Join(dir, "good.key"), p) }, "symlink"},
		{"directory", func(p string) error { return os.Mkdir(p, 0o700) }, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := tc.make(path); err != nil {
				t.Fatal(err)
			}
			k, err := keys.LoadOrCreate(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadOrCreate = %q, %v; want an error with %q", k, err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), good) {
				t.Errorf("error %q repeats the file's content", err)
			}
		})
	}
}

func TestLoadClients(t *testing.T) {
	dir := t.TempDir()
	accounts := map[string]bool{"kis-real": true, "kiwoom-mock": true}
	got, err := keys.LoadClients([]config.ClientKey{
		{File: filepath.Join(dir, "bot-a.key"), Accounts: []string{"kis-real"}},
		{Name: "b", File: filepath.Join(dir, "bot-b.key"), Accounts: []string{"kis-real", "kiwoom-mock"}},
	}, accounts)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "bot-a.key" || got[1].Name != "b" || got[0].Key == got[1].Key || len(got[1].Accounts) != 2 {
		t.Errorf("LoadClients = %+v; want bot-a.key and b with keys of their own", got)
	}

	_, err = keys.LoadClients([]config.ClientKey{
		{Name: "empty"},
		{Name: "none", File: filepath.Join(dir, "none.key")},
		{Name: "stranger", File: filepath.Join(dir, "s.key"), Accounts: []string{"ls-real"}},
		{Name: "twin", File: filepath.Join(dir, "bot-a.key"), Accounts: []string{"kis-real"}},
		{Name: "twin2", File: filepath.Join(dir, "bot-a.key"), Accounts: []string{"kis-real"}},
	}, accounts)
	for _, want := range []string{"(empty): file is empty", "(none): accounts is empty", `no account "ls-real"`, "(twin2): the same key as client_keys[3] (twin)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadClients error = %v; want one with %q", err, want)
		}
	}
}

func TestEqual(t *testing.T) {
	for _, tc := range []struct {
		got, want string
		ok        bool
	}{
		{"k1", "k1", true},
		{"k1", "k2", false},
		{"k", "k1", false},
		{"", "", false},
	} {
		if ok := keys.Equal(tc.got, tc.want); ok != tc.ok {
			t.Errorf("Equal(%q, %q) = %v; want %v", tc.got, tc.want, ok, tc.ok)
		}
	}
}
