package file_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/store/file"
)

// fuzzCreds is a made-up app; only its key name matters here.
var fuzzCreds = kauth.Credentials{Broker: kauth.KIS, Env: kauth.Mock, AppKey: "PSFUZZFAKEAPPKEY0000000000000000000", AppSecret: "FUZZ-FAKE-SECRET"}

// FuzzLoad writes arbitrary bytes as a cache file and loads it: Load never
// panics, reports anything but a genuine entry as not found, and never
// returns a token from garbage. The seeds are real envelopes — this key's,
// another key's (right format, wrong key name), truncated ones — and some
// near misses.
func FuzzLoad(f *testing.F) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := file.New(filepath.Join(f.TempDir(), "cache"), file.WithKey(bytes.Repeat([]byte{0x42}, 32)), file.WithLogger(quiet))
	if err != nil {
		f.Fatal(err)
	}
	key := fuzzCreds.Key()
	other := kauth.Key{Broker: kauth.Kiwoom, Env: kauth.Real, Fingerprint: key.Fingerprint}
	now := time.Date(2025, 3, 4, 9, 0, 0, 0, kauth.KST)
	entry := kauth.Entry{
		Token:     kauth.Token{AccessToken: "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9.fake.fake", Type: "Bearer", IssuedAt: now, ExpiresAt: now.Add(24 * time.Hour)},
		LastIssue: now,
		Rejected:  "0123456789ab",
	}
	read := func(k kauth.Key) []byte {
		if err := st.Save(ctx, k, entry); err != nil {
			f.Fatal(err)
		}
		name := string(k.Broker) + "-" + string(k.Env) + "-" + k.Fingerprint + ".tok"
		data, err := os.ReadFile(filepath.Join(st.Dir(), name))
		if err != nil {
			f.Fatalf("the file store's layout changed: %v", err)
		}
		return data
	}
	otherData := read(other)
	good := read(key)
	path := filepath.Join(st.Dir(), string(key.Broker)+"-"+string(key.Env)+"-"+key.Fingerprint+".tok")
	if e, err := st.Load(ctx, key); err != nil || !sameEntry(e, entry) {
		f.Fatalf("Load(a saved entry) = %v, %v", e.Token, err)
	}

	f.Add(good)
	f.Add(otherData)
	f.Add(good[:len(good)-1])
	f.Add(good[:18])
	f.Add(append(bytes.Clone(good), 0))
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	f.Add(flipped)
	f.Add([]byte("KAUTH\x01"))
	f.Add([]byte("KAUTH\x02" + strings.Repeat("\x00", 40)))
	f.Add([]byte(`{"Token":{"AccessToken":"plain","Type":"Bearer","ExpiresAt":"2099-01-01T00:00:00Z"}}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		e, err := st.Load(ctx, key)
		if err != nil {
			if !errors.Is(err, kauth.ErrNotFound) {
				t.Fatalf("Load() = %v; want an entry or ErrNotFound", err)
			}
			if e != (kauth.Entry{}) {
				t.Fatalf("Load() = %v with an error; want the zero entry", e.Token)
			}
			return
		}
		// Only this test ever seals an entry for key, always the same one
		// (the fuzzing workers each seal their own copy, with its own
		// nonce): anything else that opened would be garbage taken for a
		// token.
		if !sameEntry(e, entry) {
			t.Fatalf("Load() returned token %v from %d bytes that are not a saved entry", e.Token, len(data))
		}
	})
}

func sameEntry(a, b kauth.Entry) bool {
	return a.Token.AccessToken == b.Token.AccessToken && a.Token.Type == b.Token.Type &&
		a.Token.IssuedAt.Equal(b.Token.IssuedAt) && a.Token.ExpiresAt.Equal(b.Token.ExpiresAt) &&
		a.LastIssue.Equal(b.LastIssue) && a.Rejected == b.Rejected
}

// FuzzKeyFile writes arbitrary bytes as the store's key file: New never
// panics, accepts only a well-formed 32-byte key, and never repeats the
// file's content in its error.
func FuzzKeyFile(f *testing.F) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Add([]byte("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\n"))
	f.Add([]byte("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI"))
	f.Add([]byte("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC\n"))
	f.Add([]byte("not base64 at all, a secret-looking line"))
	f.Add([]byte(""))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A directory of its own each time: an entry sealed with an
		// earlier input's key is, rightly, never replaced.
		dir := filepath.Join(t.TempDir(), "cache")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "key"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := file.New(dir, file.WithLogger(quiet))
		if err != nil {
			if s := strings.TrimSpace(string(data)); len(s) >= 12 && strings.Contains(err.Error(), s) {
				t.Fatalf("New() error repeats the key file: %v", err)
			}
			return
		}
		ctx := context.Background()
		e := kauth.Entry{Token: kauth.Token{AccessToken: "x", Type: "Bearer", ExpiresAt: time.Now().Add(time.Hour)}}
		if err := st.Save(ctx, fuzzCreds.Key(), e); err != nil {
			t.Fatalf("Save() with the key file's key = %v", err)
		}
		if got, err := st.Load(ctx, fuzzCreds.Key()); err != nil || got.Token.AccessToken != "x" {
			t.Fatalf("Load() with the key file's key = %v, %v", got.Token, err)
		}
	})
}
