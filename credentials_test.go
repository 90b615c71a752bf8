package kauth_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

const (
	fakeKey    = "PSFAKEKEY0123456789abcdefghijklmnopq"
	fakeSecret = "fakeSECRETvalue+/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV=="
	fakeToken  = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9.fakeTOKENpayload.signature"
)

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	c := kauth.Credentials{Broker: kauth.KIS, Env: kauth.Mock, AppKey: fakeKey, AppSecret: fakeSecret}
	tok := kauth.Token{AccessToken: fakeToken, Type: "Bearer", ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 0, kauth.KST)}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v"} {
		out = append(out, fmt.Sprintf(verb, c), fmt.Sprintf(verb, tok), fmt.Sprintf(verb, &c), fmt.Sprintf(verb, []kauth.Credentials{c}))
		out = append(out, fmt.Sprintf(verb, struct{ C kauth.Credentials }{c}))
	}
	out = append(out, c.String(), c.GoString(), tok.String(), fmt.Sprint(c, tok), fmt.Sprintln(c))
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		slog.New(h(&buf)).Info("x", "creds", c, "token", tok)
		out = append(out, buf.String())
	}
	for _, s := range out {
		for _, secret := range []string{fakeKey, fakeSecret, fakeToken, fakeKey[:12], fakeSecret[:20], fakeToken[:30]} {
			if strings.Contains(s, secret) {
				t.Errorf("printed %q; reveals a secret", s)
			}
		}
	}
	if got, want := c.String(), "kis/mock/"+kauth.Fingerprint(fakeKey); got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

func TestCredentialsValidate(t *testing.T) {
	good := kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Real, AppKey: "k", AppSecret: "s"}
	tests := []struct {
		name string
		edit func(*kauth.Credentials)
		want string
	}{
		{"ok", func(*kauth.Credentials) {}, ""},
		// Any well-formed name: the Provider is the broker, and the brokers
		// package parses the known names.
		{"other broker", func(c *kauth.Credentials) { c.Broker = "nh" }, ""},
		{"no broker", func(c *kauth.Credentials) { c.Broker = "" }, "bad broker name"},
		{"broker case", func(c *kauth.Credentials) { c.Broker = "NH" }, "bad broker name"},
		{"broker path", func(c *kauth.Credentials) { c.Broker = "../kis" }, "bad broker name"},
		{"env", func(c *kauth.Credentials) { c.Env = "staging" }, "unknown env"},
		{"appkey", func(c *kauth.Credentials) { c.AppKey = "" }, "app key is empty"},
		{"secret", func(c *kauth.Credentials) { c.AppSecret = "" }, "app secret is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			err := c.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v; want %q", err, tt.want)
			}
		})
	}
}

func TestParseEnv(t *testing.T) {
	for in, want := range map[string]kauth.Env{"real": kauth.Real, "prod": kauth.Real, "MOCK": kauth.Mock, "dev": kauth.Mock, "paper": kauth.Mock, "vps": kauth.Mock} {
		if got, err := kauth.ParseEnv(in); got != want || err != nil {
			t.Errorf("ParseEnv(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := kauth.ParseEnv("staging"); err == nil {
		t.Error("ParseEnv(staging) = nil error")
	}
}

func TestErrorIsOneLineAndMatchesKind(t *testing.T) {
	cause := errors.New("read: connection reset\nby peer")
	err := &kauth.Error{Broker: kauth.KIS, Env: kauth.Real, Op: "issue", Kind: kauth.ErrRateLimited, Code: "EGW00133",
		Message: "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)", RetryAfter: time.Minute, Err: cause}
	if got, want := err.Error(), "kauth: kis real issue: EGW00133 rate limited: 접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회): read: connection reset by peer"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	wrapped := fmt.Errorf("calling: %w", err)
	if !errors.Is(wrapped, kauth.ErrRateLimited) || !errors.Is(wrapped, cause) || errors.Is(wrapped, kauth.ErrCredentials) {
		t.Errorf("errors.Is mismatched for %v", wrapped)
	}
	if !kauth.Retryable(wrapped) || kauth.RetryAfter(wrapped) != time.Minute {
		t.Errorf("Retryable/RetryAfter = %v/%v", kauth.Retryable(wrapped), kauth.RetryAfter(wrapped))
	}
}
