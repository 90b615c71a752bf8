package toss_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/brokertest"
	"github.com/kauth/kauth/toss"
)

// start is the simulator's frozen clock: only Advance moves it.
var start = time.Date(2026, 12, 7, 10, 0, 0, 0, kauth.KST)

// newSim starts the simulator and returns it with its root URL and a
// Provider aimed at its Toss env, whose clock is the simulator's.
func newSim(t *testing.T) (*brokersim.Server, string, *toss.Provider) {
	t.Helper()
	sim := brokersim.New()
	sim.Clock = func() time.Time { return start }
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		sim.ReleaseHangs()
		srv.Close()
	})
	return sim, srv.URL, &toss.Provider{BaseURL: brokersim.BaseURL(srv.URL, toss.Broker, kauth.Real), Now: sim.Now}
}

var app = brokersim.DemoTossReal

// prices makes the probe's call through client and returns the status.
func prices(t *testing.T, client *http.Client, base string) (int, string) {
	t.Helper()
	resp, err := client.Get(base + toss.ProbePath)
	if err != nil {
		t.Fatalf("GET prices: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// issueBehindKauth issues a token for app as another program would, which
// kills the token kauth holds.
func issueBehindKauth(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.PostForm(base+toss.TokenPath, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {app.AppKey}, "client_secret": {app.Secret},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("issuing behind kauth's back: %s", resp.Status)
	}
	return "issued"
}

func TestIssueAgainstSim(t *testing.T) {
	sim, _, p := newSim(t)
	tok, err := p.Issue(context.Background(), app.Credentials())
	if err != nil {
		t.Fatalf("Issue() = %v", err)
	}
	if tok.Type != "Bearer" || !tok.IssuedAt.Equal(start) || tok.ExpiresAt.Sub(tok.IssuedAt) != toss.Lifetime {
		t.Errorf("Issue() = %+v; want a Bearer token for %v from %v", tok, toss.Lifetime, start)
	}
	// One valid token per client: the next issuance kills this one.
	sim.Advance(time.Second)
	next, err := p.Issue(context.Background(), app.Credentials())
	if err != nil || next.AccessToken == tok.AccessToken {
		t.Fatalf("second Issue() = %v, %v; want a new token", next, err)
	}
	req, _ := http.NewRequest("GET", p.URL(kauth.Real)+toss.ProbePath, nil)
	p.Authorize(req, app.Credentials(), tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !p.Rejected(resp) {
		t.Errorf("a call with the killed token: Rejected() = false; want true (%s)", resp.Status)
	}
	body, _ := io.ReadAll(resp.Body)
	if err := toss.CheckResponse(app.Credentials(), toss.OpCall, resp, body); !errors.Is(err, kauth.ErrTokenRejected) || !strings.Contains(err.Error(), "invalid-token") {
		t.Errorf("CheckResponse = %v; want invalid-token ErrTokenRejected", err)
	}
}

func TestBadCredentials(t *testing.T) {
	_, _, p := newSim(t)
	c := app.Credentials()
	c.AppSecret = "s_wrongSECRETwrongSECRETwrongSECRET0000"
	_, err := p.Issue(context.Background(), c)
	b := brokertest.Broker{Name: toss.Broker, Secrets: []string{c.AppKey, c.AppSecret}}
	b.CheckError(t, "Issue", err, brokertest.ErrWant{Kind: kauth.ErrCredentials, Code: "invalid_client", Status: 401}, toss.OpIssue, kauth.Real)
}

// TestMockRefused: Toss has no paper-trading environment; credentials for
// mock fail before anything is sent, with a message that says so.
func TestMockRefused(t *testing.T) {
	srv := brokertest.NewServer(t, nil) // any request fails the test
	p := &toss.Provider{BaseURL: srv.URL}
	c := app.Credentials()
	c.Env = kauth.Mock
	_, err := p.Issue(context.Background(), c)
	if !errors.Is(err, toss.ErrNoMock) || !errors.Is(err, kauth.ErrBadRequest) || !strings.Contains(err.Error(), "no paper-trading") {
		t.Fatalf("Issue(mock) = %v; want ErrNoMock", err)
	}
	if !strings.HasPrefix(err.Error(), "kauth: toss mock issue:") {
		t.Errorf("error %q does not name broker, env and op", err)
	}
	if p.URL(kauth.Mock) != srv.URL {
		t.Errorf("URL(mock) with an override = %q", p.URL(kauth.Mock))
	}
	if got := toss.New().URL(kauth.Mock); got != "" {
		t.Errorf("URL(mock) = %q; want none", got)
	}
}

func TestRevokeUnsupported(t *testing.T) {
	srv := brokertest.NewServer(t, nil) // any request fails the test
	p := &toss.Provider{BaseURL: srv.URL}
	err := p.Revoke(context.Background(), app.Credentials(), "sometoken")
	if !errors.Is(err, toss.ErrRevokeUnsupported) || !errors.Is(err, kauth.ErrBadRequest) || kauth.Retryable(err) {
		t.Fatalf("Revoke() = %v; want ErrRevokeUnsupported, not retryable", err)
	}
	if !strings.Contains(err.Error(), "kauth: toss real revoke:") {
		t.Errorf("error %q does not name broker, env and op", err)
	}
}

// newManager returns a Manager of app on store with a Transport, on the
// simulator's clock.
func newManager(t *testing.T, sim *brokersim.Server, p *toss.Provider, store kauth.Store) (*kauth.Manager, *http.Client) {
	t.Helper()
	m, err := kauth.NewManager(kauth.Config{
		Credentials: app.Credentials(),
		Provider:    p,
		Store:       store,
		Clock:       brokertest.SimClock{Sim: sim},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, &http.Client{Transport: &kauth.Transport{Manager: m}}
}

// TestIPNotAllowedNeverReissues: a 403 from the IP allow-list is passed
// back as it is, never healed by a new token; an issuance from an
// unregistered host fails with an *IPNotAllowedError that says what to do.
func TestIPNotAllowedNeverReissues(t *testing.T) {
	sim, _, p := newSim(t)
	m, client := newManager(t, sim, p, kauth.NewMemoryStore())
	base := p.URL(kauth.Real)
	if status, body := prices(t, client, base); status != 200 {
		t.Fatalf("prices = %d %s", status, body)
	}
	sim.SetTossAllowList("203.0.113.7")
	if status, body := prices(t, client, base); status != 403 || !strings.Contains(body, "edge-blocked") {
		t.Fatalf("prices from an unregistered IP = %d %s; want 403 edge-blocked", status, body)
	}
	if n := sim.Issued(toss.Broker, kauth.Real, app.AppKey); n != 1 {
		t.Errorf("issued %d tokens after a 403; want 1", n)
	}
	sim.Advance(toss.Lifetime)
	_, err := m.Token(context.Background())
	var ipErr *toss.IPNotAllowedError
	if !errors.As(err, &ipErr) || errors.Is(err, kauth.ErrTokenRejected) || kauth.Retryable(err) {
		t.Fatalf("Token() from an unregistered IP = %v; want an *IPNotAllowedError, not retryable", err)
	}
	if !strings.Contains(err.Error(), "register this host's public IP") || !strings.Contains(err.Error(), "access_denied") {
		t.Errorf("error %q does not say to register this host's IP", err)
	}
	if n := sim.Issued(toss.Broker, kauth.Real, app.AppKey); n != 1 {
		t.Errorf("issued %d tokens; want 1", n)
	}
}

// TestKilledTokenHealedOnce: another program issues behind kauth's back,
// which kills the token every holder shares. Every holder's next call is
// healed by one retry, and the holders together issue once, not once each.
func TestKilledTokenHealedOnce(t *testing.T) {
	sim, _, p := newSim(t)
	store := kauth.NewMemoryStore()
	base := p.URL(kauth.Real)
	const holders = 4
	var clients []*http.Client
	for range holders {
		_, c := newManager(t, sim, p, store)
		clients = append(clients, c)
	}
	for i, c := range clients {
		if status, body := prices(t, c, base); status != 200 {
			t.Fatalf("holder %d: prices = %d %s", i, status, body)
		}
	}
	if n := sim.Issued(toss.Broker, kauth.Real, app.AppKey); n != 1 {
		t.Fatalf("%d holders issued %d tokens; want 1", holders, n)
	}
	for round := 1; round <= 3; round++ {
		sim.Advance(time.Minute)
		issueBehindKauth(t, base)
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// One healed call: the first call after the kill succeeds.
				if status, body := prices(t, c, base); status != 200 {
					t.Errorf("round %d holder %d: prices after the kill = %d %s; want it healed", round, i, status, body)
				}
			}()
		}
		wg.Wait()
		// Each round: the issuance behind kauth's back and one by kauth.
		if n, want := sim.Issued(toss.Broker, kauth.Real, app.AppKey), 1+2*round; n != want {
			t.Errorf("round %d: %d tokens issued in all; want %d (one re-issue for every holder)", round, n, want)
		}
	}
}
