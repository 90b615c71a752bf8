package kauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/brokersim"
)

// tokenAnswer is a token endpoint's success in spec's shape, carrying token
// and a lifetime that ends at exp (KST) or lasts life.
func tokenAnswer(spec kauth.BrokerSpec, token string, exp time.Time, life time.Duration) any {
	switch spec.Name {
	case kauth.KIS:
		return map[string]any{
			"access_token":               token,
			"token_type":                 "Bearer",
			"expires_in":                 int64(life / time.Second),
			"access_token_token_expired": exp.In(kauth.KST).Format("2006-01-02 15:04:05"),
		}
	case kauth.Kiwoom:
		return map[string]any{
			"token":       token,
			"token_type":  "bearer",
			"expires_dt":  exp.In(kauth.KST).Format("20060102150405"),
			"return_code": 0,
			"return_msg":  "정상적으로 처리되었습니다",
		}
	default: // the LS/DB gateway, and Toss (no scope)
		return map[string]any{
			"access_token": token,
			"token_type":   "Bearer",
			"scope":        "oob",
			"expires_in":   int64(life / time.Second),
		}
	}
}

// answering starts a broker of spec whose token endpoint answers with
// answer, and counts its issuances. Any other request fails the test.
func answering(t *testing.T, spec kauth.BrokerSpec, answer any) (*httptest.Server, *int) {
	t.Helper()
	issued := new(int)
	body, err := json.Marshal(answer)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != tokenPathOf(spec) {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
			http.Error(w, "no such route", http.StatusNotFound)
			return
		}
		*issued++
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.Write(body)
	}))
	t.Cleanup(ts.Close)
	return ts, issued
}

// answeredManager is a Manager for a demo app of spec's broker aimed at
// ts, on store, logging to logs.
func answeredManager(t *testing.T, spec kauth.BrokerSpec, ts *httptest.Server, sim *brokersim.Server, store kauth.Store, logs *bytes.Buffer) *kauth.Manager {
	t.Helper()
	env := kauth.Mock
	if spec.MockURL == "" {
		env = kauth.Real // a broker with no paper trading (Toss)
	}
	m, err := kauth.NewManager(kauth.Config{
		Credentials: kauth.Credentials{Broker: spec.Name, Env: env, AppKey: "PSanswerkey0123456789", AppSecret: "answer-secret-0123456789"},
		Provider:    spec.New(ts.URL, ts.Client(), sim.Now),
		Store:       store,
		Clock:       vclock{sim},
		Logger:      slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestImpossibleTokensRefused: an answer whose token cannot be a bearer
// credential (empty, blank, control bytes that would split the
// Authorization header, non-ASCII, absurdly long) is refused by every
// broker's Manager with ErrMalformedToken: nothing is stored, nothing is
// served, the token shows in no error or log, and the answer is not asked
// for again at once.
func TestImpossibleTokensRefused(t *testing.T) {
	bad := []struct{ name, token string }{
		{"empty", ""},
		{"blank", "   "},
		{"CRLF", "tok-ok\r\nX-Injected: 1"},
		{"LF", "tok-ok\nX"},
		{"NUL", "tok\x00ok"},
		{"tab", "tok\tok"},
		{"DEL", "tok\x7fok"},
		{"space", "tok ok"},
		{"non-ASCII", "tok-토큰"},
		{"huge", strings.Repeat("A", 64<<10)},
	}
	for _, spec := range brokers.All() {
		for _, tc := range bad {
			t.Run(string(spec.Name)+"/"+tc.name, func(t *testing.T) {
				sim := brokersim.New()
				now := sim.Now()
				ts, issued := answering(t, spec, tokenAnswer(spec, tc.token, now.Add(20*time.Hour), 20*time.Hour))
				store := kauth.NewMemoryStore()
				var logs bytes.Buffer
				m := answeredManager(t, spec, ts, sim, store, &logs)

				tok, err := m.Token(context.Background())
				if err == nil {
					t.Fatalf("Token() = %v, nil; want an error", tok)
				}
				if tc.token != "" && !errors.Is(err, kauth.ErrMalformedToken) {
					t.Errorf("Token() error = %v; want ErrMalformedToken", err)
				}
				var ke *kauth.Error
				if !errors.As(err, &ke) || ke.Broker != spec.Name || ke.Op != "issue" {
					t.Errorf("Token() error = %#v; want a *kauth.Error of %s issue", err, spec.Name)
				}
				if tok.AccessToken != "" {
					t.Errorf("Token() handed out %q", tok.AccessToken)
				}
				if got, ok := m.Cached(); ok || got.AccessToken != "" {
					t.Errorf("Cached() = %q, %v; want nothing", got.AccessToken, ok)
				}
				e, lerr := store.Load(context.Background(), m.Key())
				if lerr != nil && !errors.Is(lerr, kauth.ErrNotFound) {
					t.Fatal(lerr)
				}
				if e.Token.AccessToken != "" || !e.Token.ExpiresAt.IsZero() {
					t.Errorf("the store holds %q (expires %v); want no token", e.Token.AccessToken, e.Token.ExpiresAt)
				}
				if tc.token != "" && len(strings.TrimSpace(tc.token)) > 0 {
					if strings.Contains(err.Error(), tc.token) || strings.Contains(logs.String(), tc.token) {
						t.Errorf("the refused token shows in the error or the logs: %v", err)
					}
				}
				// A caller right after gets the same answer without another
				// issuance: the broker would hand the same token back.
				if _, err2 := m.Token(context.Background()); err2 == nil {
					t.Errorf("second Token() succeeded")
				}
				if tc.token != "" && *issued != 1 {
					t.Errorf("issuances = %d; want 1 (no retry of an impossible token)", *issued)
				}
			})
		}
	}
}

// TestAbsurdLifetimeBounded: a token said to live until 9999-12-31 is
// served, but only for the longest life its broker documents
// (its Provider's MaxLifetime), after which it is refreshed; the cut is
// logged. A lifetime within the documented one is kept as sent.
func TestAbsurdLifetimeBounded(t *testing.T) {
	for _, spec := range brokers.All() {
		t.Run(string(spec.Name), func(t *testing.T) {
			maxLife := kauth.MaxLifetime(spec.New("", nil, nil))
			if maxLife <= 0 || maxLife > 31*time.Hour {
				t.Fatalf("%s: MaxLifetime = %v; want a documented bound of at most 31 h", spec.Name, maxLife)
			}
			sim := brokersim.New()
			now := sim.Now().Round(0).Truncate(time.Second)
			forever := time.Date(9999, 12, 31, 23, 59, 59, 0, kauth.KST)
			// expires_in of ten years: as absurd, and within what the
			// decoders read as a number of seconds.
			ts, _ := answering(t, spec, tokenAnswer(spec, "tok-forever", forever, 10*365*24*time.Hour))
			store := kauth.NewMemoryStore()
			var logs bytes.Buffer
			m := answeredManager(t, spec, ts, sim, store, &logs)

			tok, err := m.Token(context.Background())
			if err != nil {
				t.Fatalf("Token() = %v", err)
			}
			if limit := now.Add(maxLife + time.Second); tok.ExpiresAt.After(limit) {
				t.Errorf("ExpiresAt = %v; want at most %v (receipt + %v)", tok.ExpiresAt, limit, maxLife)
			}
			if tok.ExpiresAt.Before(now.Add(maxLife - time.Second)) {
				t.Errorf("ExpiresAt = %v; want the documented %v after receipt (%v)", tok.ExpiresAt, maxLife, now)
			}
			e, err := store.Load(context.Background(), m.Key())
			if err != nil {
				t.Fatal(err)
			}
			if !e.Token.ExpiresAt.Equal(tok.ExpiresAt) {
				t.Errorf("stored expiry = %v; want the bounded %v", e.Token.ExpiresAt, tok.ExpiresAt)
			}
			if !strings.Contains(logs.String(), "lifetime") {
				t.Errorf("the cut is not logged: %s", logs.String())
			}
		})
	}
}

// TestImpossibleStoredTokensNotServed: a token in the shared store that
// kauth would have refused from the broker (written by an older kauth, or
// damaged) is not served: a control byte makes it count as no token, and
// an expiry far past the broker's documented lifetime is cut to that
// lifetime from when it was issued.
func TestImpossibleStoredTokensNotServed(t *testing.T) {
	for _, spec := range brokers.All() {
		t.Run(string(spec.Name), func(t *testing.T) {
			sim := brokersim.New()
			now := sim.Now().Round(0)
			ts, issued := answering(t, spec, tokenAnswer(spec, "tok-fresh", now.Add(20*time.Hour), 20*time.Hour))
			store := kauth.NewMemoryStore()
			var logs bytes.Buffer
			m := answeredManager(t, spec, ts, sim, store, &logs)
			ctx := context.Background()

			bad := kauth.Token{AccessToken: "tok-stored\r\nX-Injected: 1", Type: "Bearer", IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(20 * time.Hour)}
			if err := store.Save(ctx, m.Key(), kauth.Entry{Token: bad, LastIssue: now.Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			tok, err := m.Token(ctx)
			if err != nil || tok.AccessToken != "tok-fresh" || *issued != 1 {
				t.Fatalf("Token() over a stored token with CRLF = %v, %v after %d issuances; want the broker's tok-fresh", tok, err, *issued)
			}

			// A second Manager on the same store, which holds a token
			// said to live until 9999.
			issuedAt := now.Add(-time.Hour)
			forever := kauth.Token{AccessToken: "tok-forever", Type: "Bearer", IssuedAt: issuedAt, ExpiresAt: time.Date(9999, 12, 31, 23, 59, 59, 0, kauth.KST)}
			store2 := kauth.NewMemoryStore()
			m2 := answeredManager(t, spec, ts, sim, store2, &logs)
			if err := store2.Save(ctx, m2.Key(), kauth.Entry{Token: forever, LastIssue: issuedAt}); err != nil {
				t.Fatal(err)
			}
			tok, err = m2.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Cut to 23 h left, it is still served as it is.
			if limit := issuedAt.Add(kauth.MaxLifetime(spec.New("", nil, nil))); tok.AccessToken != "tok-forever" || tok.ExpiresAt.After(limit) {
				t.Errorf("Token() = %.11s expiring %v; want the stored tok-forever expiring by %v (issued + %v)", tok.AccessToken, tok.ExpiresAt, limit, kauth.MaxLifetime(spec.New("", nil, nil)))
			}
		})
	}
}

// tokenPathOf returns the token endpoint of spec's broker.
func tokenPathOf(spec kauth.BrokerSpec) string {
	tok, _ := spec.New("", nil, nil).(interface{ FacadePaths() (token, revoke string) }).FacadePaths()
	return tok
}
