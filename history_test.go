package kauth_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// TestHistoryRecordsIssuances: an issuance that was refused for the rate
// limit and then succeeded leaves both in the shared entry, with who made
// them and the broker's code, and nothing secret.
func TestHistoryRecordsIssuances(t *testing.T) {
	r := newRig(t)
	app := brokersim.DemoKISReal
	r.sim.Inject(brokersim.Fault{Broker: app.Broker, Env: app.Env, Path: "/oauth2/tokenP", Kind: brokersim.RateLimit})
	store := kauth.NewMemoryStore()
	m := r.manager(t, app, func(c *kauth.Config) { c.Store = store })
	tok, err := m.Token(context.Background())
	if err != nil {
		t.Fatalf("Token() = %v", err)
	}
	e, err := store.Load(context.Background(), app.Credentials().Key())
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	h := e.History
	host, _ := os.Hostname()
	if issued, same, failed := h.Today(r.sim.Now()); issued != 1 || same != 0 || failed != 1 {
		t.Errorf("Today() = %d, %d, %d; want 1 issued, 0 same, 1 failed", issued, same, failed)
	}
	if h.LastFailure.Code != "EGW00133" || h.LastFailure.Host != host || h.LastFailure.PID != os.Getpid() {
		t.Errorf("LastFailure = %+v; want EGW00133 by %s pid %d", h.LastFailure, host, os.Getpid())
	}
	if h.LastIssue.Outcome != kauth.OutcomeIssued || h.LastIssue.Host != host || h.LastIssue.PID != os.Getpid() || !h.LastIssue.At.After(h.LastFailure.At) {
		t.Errorf("LastIssue = %+v; want an issuance by this process after the failure", h.LastIssue)
	}
	if got := h.Recent(); len(got) != 2 || got[0].Outcome != kauth.OutcomeFailed || got[1].Outcome != kauth.OutcomeIssued {
		t.Errorf("Recent() = %+v; want failed, then issued", got)
	}
	raw, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{"token": tok.AccessToken, "app key": app.AppKey, "app secret": app.Secret} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the history holds the %s", name)
		}
	}
}

// TestManagerIssuance: before any issuance a Manager reports no history
// and the next issuance allowed now; after one, the history and the next
// issuance a spacing later, on its clock.
func TestManagerIssuance(t *testing.T) {
	r := newRig(t)
	app := brokersim.DemoKISMock
	m := r.manager(t, app)
	h, next, err := m.Issuance(context.Background())
	if err != nil || h != (kauth.History{}) || !next.IsZero() {
		t.Fatalf("Issuance() before any = %+v, %v, %v; want zero, zero, nil", h, next, err)
	}
	if _, err := m.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	h, next, err = m.Issuance(context.Background())
	if err != nil || h.LastIssue.IsZero() {
		t.Fatalf("Issuance() = %+v, %v, %v; want the issuance", h, next, err)
	}
	spacing := kauth.MinIssueInterval(r.provider(app.Broker, app.Env))
	if want := h.LastIssue.At.Add(spacing); next.Sub(want).Abs() > time.Second {
		t.Errorf("next issuance = %v; want about %v (a spacing after %v)", next, want, h.LastIssue.At)
	}
	r.sim.Advance(spacing)
	if _, next, _ := m.Issuance(context.Background()); !next.IsZero() {
		t.Errorf("next issuance a spacing later = %v; want zero (now)", next)
	}
}
