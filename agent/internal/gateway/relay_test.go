package gateway_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/gateway"
	"github.com/kauth/kauth/agent/internal/rtowner"
	"github.com/kauth/kauth/internal/fakeclock"
	"github.com/kauth/kauth/internal/testlog"
)

// TestGatewayServeRelayRefuses: a relay request is refused, with nothing
// written, by a gateway that shares no sessions (400), without the store
// key's proof (401), or for a session the gateway does not have (404).
func TestGatewayServeRelayRefuses(t *testing.T) {
	secret := rtowner.Secret([]byte("0123456789abcdef0123456789abcdef"))
	share := func(kauth.Key, string, *slog.Logger) *rtowner.Upstream {
		t.Error("a refused relay request made an upstream")
		return nil
	}
	signed, _ := rtowner.Sign(secret, "0123", 1, time.Now())
	for _, tc := range []struct {
		name   string
		c      gateway.Config
		header http.Header
		want   int
	}{
		{"no sharing", gateway.Config{}, signed, http.StatusBadRequest},
		{"no proof", gateway.Config{Share: share, RelaySecret: secret}, http.Header{}, http.StatusUnauthorized},
		{"another key's proof", gateway.Config{Share: share, RelaySecret: rtowner.Secret([]byte("another store key, 32 bytes long"))}, signed, http.StatusUnauthorized},
		{"no such session", gateway.Config{Share: share, RelaySecret: secret}, signed, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := new(testlog.Buffer)
			tc.c.Logger = logs.Logger()
			g := gateway.New(tc.c)
			defer g.Close()
			r := httptest.NewRequest(http.MethodGet, rtowner.RelayPath("0123"), nil)
			r.Header = tc.header.Clone()
			w := httptest.NewRecorder()
			err := g.ServeRelay(w, r, "0123")
			var re *gateway.RelayError
			if !errors.As(err, &re) || re.Status != tc.want {
				t.Fatalf("ServeRelay: %v; want a RelayError %d", err, tc.want)
			}
			if w.Body.Len() != 0 || len(w.Header()) != 0 {
				t.Errorf("ServeRelay wrote %v %q; want nothing written", w.Header(), w.Body)
			}
		})
	}
}

// TestGatewayRelayRefusalLogThinned: anyone who reaches the agent's TCP
// port can send relay requests without the store key's proof; the first
// refusal is logged, then at most one a minute, which counts the refusals
// left out.
func TestGatewayRelayRefusalLogThinned(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	logs := new(testlog.Buffer)
	share := func(kauth.Key, string, *slog.Logger) *rtowner.Upstream { return nil }
	g := gateway.New(gateway.Config{Share: share, RelaySecret: rtowner.Secret([]byte("0123456789abcdef0123456789abcdef")), Clock: clk, Logger: logs.Logger()})
	defer g.Close()
	refuse := func() {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, rtowner.RelayPath("0123"), nil)
		var re *gateway.RelayError
		if err := g.ServeRelay(httptest.NewRecorder(), r, "0123"); !errors.As(err, &re) || re.Status != http.StatusUnauthorized {
			t.Fatalf("ServeRelay without proof: %v; want 401", err)
		}
	}
	const event = `msg="agent: relay request refused"`
	for range 12 {
		refuse()
	}
	if n := strings.Count(logs.String(), event); n != 1 {
		t.Fatalf("%d warnings for 12 refusals; want 1", n)
	}
	clk.Advance(time.Minute)
	refuse()
	if n := strings.Count(logs.String(), event); n != 2 || !strings.Contains(logs.String(), "suppressed.count=11 suppressed.since=2026-01-05T09:00:00.000Z") {
		t.Errorf("%d warnings a minute later; want 2, the second with suppressed.count=11:\n%s", n, logs)
	}
}
