package kiwoom_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/brokertest"
	"github.com/kauth/kauth/kiwoom"
)

// start is the simulator's frozen clock: only Advance moves it.
var start = time.Date(2024, 11, 6, 8, 37, 13, 0, kauth.KST)

// newSim starts the simulator and returns it with Providers aimed at its
// Kiwoom envs, whose clock is the simulator's.
func newSim(t *testing.T) (sim *brokersim.Server, real, mock *kiwoom.Provider) {
	t.Helper()
	sim = brokersim.New()
	sim.Clock = func() time.Time { return start }
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		sim.ReleaseHangs()
		srv.Close()
	})
	real = &kiwoom.Provider{BaseURL: brokersim.BaseURL(srv.URL, kauth.Kiwoom, kauth.Real), Now: sim.Now}
	mock = &kiwoom.Provider{BaseURL: brokersim.BaseURL(srv.URL, kauth.Kiwoom, kauth.Mock), Now: sim.Now}
	return sim, real, mock
}

// stkinfo makes the protected call of Kiwoom (ka10001) with tok for the
// given stock codes, and returns what Rejected and CheckResponse made of the
// answer.
func stkinfo(t *testing.T, p *kiwoom.Provider, c kauth.Credentials, tok kauth.Token, codes string) (rejected bool, err error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.URL(c.Env)+"/api/dostk/stkinfo", strings.NewReader(`{"stk_cd":"`+codes+`"}`))
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	req.Header.Set("api-id", "ka10001")
	p.Authorize(req, c, tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("ka10001: %v", err)
	}
	defer resp.Body.Close()
	if got := resp.Header.Get("api-id"); got != "ka10001" {
		t.Errorf("ka10001 answer api-id = %q; want it echoed", got)
	}
	rejected = p.Rejected(resp)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading ka10001 after Rejected(): %v", err)
	}
	return rejected, kiwoom.CheckResponse(c, kiwoom.OpCall, resp, body)
}

func TestSimLifecycle(t *testing.T) {
	for _, asString := range []bool{false, true} {
		name := "return_code number"
		if asString {
			name = "return_code string"
		}
		t.Run(name, func(t *testing.T) {
			sim, _, p := newSim(t)
			sim.KiwoomReturnCodeAsString = asString
			sim.KiwoomTokenLifetime = 18 * time.Hour
			app := brokersim.DemoKiwoomMock
			c := app.Credentials()
			ctx := context.Background()
			var seen brokertest.Errs
			defer func() { seen.CheckNoSecrets(t, app.AppKey, app.Secret) }()

			tok, err := p.Issue(ctx, c)
			if seen.Add(err) != nil {
				t.Fatalf("Issue() = %v", err)
			}
			// An 18 h token: expires_dt, never receipt + 24 h.
			if !tok.ExpiresAt.Equal(start.Add(18*time.Hour)) || !tok.IssuedAt.Equal(start) || tok.Type != "Bearer" {
				t.Errorf("Issue() = %+v; want Bearer issued %v expiring 18 h later", tok, start)
			}

			// While valid, Kiwoom hands back the same token.
			sim.Advance(time.Hour)
			again, err := p.Issue(ctx, c)
			if seen.Add(err) != nil || again.AccessToken != tok.AccessToken || !again.ExpiresAt.Equal(tok.ExpiresAt) {
				t.Errorf("Issue() an hour later = %v, %v; want the same token and expiry", again, err)
			}
			if n := sim.Issued(kauth.Kiwoom, kauth.Mock, app.AppKey); n != 1 {
				t.Errorf("simulator minted %d tokens; want 1", n)
			}

			if rejected, err := stkinfo(t, p, c, tok, "005930"); rejected || seen.Add(err) != nil {
				t.Errorf("call with a fresh token: Rejected() = %v, CheckResponse() = %v; want false, nil", rejected, err)
			}

			// 1634 shares return_code 5 with 1700, but it is an input error.
			rejected, err := stkinfo(t, p, c, tok, strings.Repeat("005930|", 100)+"005930")
			seen.Add(err)
			if rejected || !errors.Is(err, kauth.ErrBadRequest) || kauth.Retryable(err) || !strings.Contains(err.Error(), "1634") {
				t.Errorf("call with 101 stocks: Rejected() = %v, CheckResponse() = %v; want false, 1634 ErrBadRequest", rejected, err)
			}

			sim.InvalidateToken(tok.AccessToken)
			rejected, err = stkinfo(t, p, c, tok, "005930")
			seen.Add(err)
			if !rejected || !errors.Is(err, kauth.ErrTokenRejected) || !strings.Contains(err.Error(), "8005") {
				t.Errorf("call with an invalidated token: Rejected() = %v, CheckResponse() = %v; want true, 8005 ErrTokenRejected", rejected, err)
			}

			fresh, err := p.Issue(ctx, c)
			if seen.Add(err) != nil || fresh.AccessToken == tok.AccessToken {
				t.Fatalf("Issue() after invalidation = %v, %v; want a new token", fresh, err)
			}
			if err := p.Revoke(ctx, c, fresh.AccessToken); seen.Add(err) != nil {
				t.Errorf("Revoke() = %v; want nil", err)
			}
			if rejected, err := stkinfo(t, p, c, fresh, "005930"); !rejected || !errors.Is(seen.Add(err), kauth.ErrTokenRejected) {
				t.Errorf("call with a revoked token: Rejected() = %v, CheckResponse() = %v; want true, ErrTokenRejected", rejected, err)
			}
			if err := p.Revoke(ctx, c, "not-a-token-of-this-app"); !errors.Is(seen.Add(err), kauth.ErrTokenRejected) {
				t.Errorf("Revoke(unknown token) = %v; want 8005 ErrTokenRejected", err)
			}

			// Expired after 18 h.
			next, err := p.Issue(ctx, c)
			if seen.Add(err) != nil {
				t.Fatal(err)
			}
			sim.Advance(18*time.Hour + time.Second)
			if rejected, err := stkinfo(t, p, c, next, "005930"); !rejected || !errors.Is(seen.Add(err), kauth.ErrTokenRejected) {
				t.Errorf("call with an expired token: Rejected() = %v, CheckResponse() = %v; want true, ErrTokenRejected", rejected, err)
			}
		})
	}
}

func TestSimTokenOfTheOtherEnv(t *testing.T) {
	_, real, mock := newSim(t)
	tok, err := mock.Issue(context.Background(), brokersim.DemoKiwoomMock.Credentials())
	if err != nil {
		t.Fatal(err)
	}
	// A mock token at the real server: 8031. Rejected, so that a fresh
	// token is tried; CheckResponse says the credentials are of the wrong
	// env, which no retry fixes.
	rejected, err := stkinfo(t, real, brokersim.DemoKiwoomReal.Credentials(), tok, "005930")
	if !rejected || !errors.Is(err, kauth.ErrCredentials) || !strings.Contains(err.Error(), "8031") {
		t.Errorf("Rejected() = %v, CheckResponse() = %v; want true, 8031 ErrCredentials", rejected, err)
	}
}

func TestSimCredentialErrors(t *testing.T) {
	_, real, mock := newSim(t)
	good := brokersim.DemoKiwoomMock
	tests := []struct {
		name string
		p    *kiwoom.Provider
		c    kauth.Credentials
		code string
	}{
		{"wrong secret", mock, kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Mock, AppKey: good.AppKey, AppSecret: "fake-wrong-secret-0000000000"}, "8002"},
		{"unknown app key", mock, kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Mock, AppKey: "KWfakeUNKNOWNAPPKEY0000000000000000000000000", AppSecret: good.Secret}, "8001"},
		{"mock app at the real server", real, kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Real, AppKey: good.AppKey, AppSecret: good.Secret}, "8030"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			var seen brokertest.Errs
			defer func() { seen.CheckNoSecrets(t, tt.c.AppKey, tt.c.AppSecret) }()
			_, err := tt.p.Issue(ctx, tt.c)
			seen.Add(err)
			var e *kauth.Error
			if !errors.Is(err, kauth.ErrCredentials) || !errors.As(err, &e) || e.Code != tt.code {
				t.Errorf("Issue() = %v; want %s ErrCredentials", err, tt.code)
			}
			if err := tt.p.Revoke(ctx, tt.c, "some-token"); !errors.Is(seen.Add(err), kauth.ErrCredentials) {
				t.Errorf("Revoke() = %v; want ErrCredentials", err)
			}
		})
	}
}

func TestSimFaults(t *testing.T) {
	tests := []struct {
		name     string
		fault    brokersim.Fault
		kind     error
		contains string
	}{
		{"HTML page", brokersim.Fault{Kind: brokersim.HTMLPage}, kauth.ErrUnavailable, "HTTP 502 broker unavailable: HTML page instead of JSON"},
		{"malformed JSON", brokersim.Fault{Kind: brokersim.MalformedJSON}, kauth.ErrUnavailable, "malformed JSON"},
		{"server error", brokersim.Fault{Kind: brokersim.ServerError, Status: 500}, kauth.ErrUnavailable, "HTTP 500"},
		{"reset", brokersim.Fault{Kind: brokersim.Reset}, kauth.ErrUnavailable, ""},
		{"rate limit", brokersim.Fault{Kind: brokersim.RateLimit}, kauth.ErrRateLimited, "1700"},
		{"gateway timeout", brokersim.Fault{Kind: brokersim.Hang, Delay: 10 * time.Millisecond}, kauth.ErrUnavailable, "HTTP 504"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, _, p := newSim(t)
			app := brokersim.DemoKiwoomMock
			tt.fault.Path = "/oauth2/token"
			sim.Inject(tt.fault)
			_, err := p.Issue(context.Background(), app.Credentials())
			brokertest.Errs{err}.CheckNoSecrets(t, app.AppKey, app.Secret)
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("Issue() = %v; want %v mentioning %q", err, tt.kind, tt.contains)
			}
		})
	}
	t.Run("hang until the caller's deadline", func(t *testing.T) {
		sim, _, p := newSim(t)
		sim.Inject(brokersim.Fault{Kind: brokersim.Hang})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := p.Issue(ctx, brokersim.DemoKiwoomMock.Credentials())
		if !errors.Is(err, kauth.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Issue() = %v; want ErrUnavailable matching context.DeadlineExceeded", err)
		}
	})
	t.Run("call rate limit", func(t *testing.T) {
		sim, _, p := newSim(t)
		c := brokersim.DemoKiwoomMock.Credentials()
		tok, err := p.Issue(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		sim.Inject(brokersim.Fault{Kind: brokersim.RateLimit, Path: "/api/dostk/stkinfo"})
		rejected, err := stkinfo(t, p, c, tok, "005930")
		if rejected || !errors.Is(err, kauth.ErrRateLimited) || kauth.RetryAfter(err) != time.Second {
			t.Errorf("Rejected() = %v, CheckResponse() = %v; want false, 1700 ErrRateLimited after 1s", rejected, err)
		}
	})
}

func TestSimTokenFromAnotherIP(t *testing.T) {
	sim, _, p := newSim(t)
	sim.KiwoomBindIP = true
	c := brokersim.DemoKiwoomMock.Credentials()
	tok, err := p.Issue(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	// Use the token from another loopback address than the one that
	// issued it.
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	defer other.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, p.URL(c.Env)+"/api/dostk/stkinfo", strings.NewReader(`{"stk_cd":"005930"}`))
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	req.Header.Set("api-id", "ka10001")
	p.Authorize(req, c, tok)
	resp, err := other.Do(req)
	if err != nil {
		t.Skipf("cannot call from 127.0.0.2: %v", err)
	}
	defer resp.Body.Close()
	rejected := p.Rejected(resp)
	body, _ := io.ReadAll(resp.Body)
	err = kiwoom.CheckResponse(c, kiwoom.OpCall, resp, body)
	// No new token fixes an IP mismatch: not a rejection to heal, and not
	// retryable.
	if rejected || !errors.Is(err, kauth.ErrCredentials) || kauth.Retryable(err) || !strings.Contains(err.Error(), "8010") || !strings.Contains(err.Error(), "egress IP") {
		t.Errorf("Rejected() = %v, CheckResponse() = %v; want false, 8010 ErrCredentials naming the egress IP", rejected, err)
	}
}

// TestSimHealsCodeAsReturnCode: with the code sent as return_code itself
// (as the official SDK reads it), the Transport still heals an invalidated
// token.
func TestSimHealsCodeAsReturnCode(t *testing.T) {
	sim := brokersim.New()
	sim.KiwoomCodeAsReturnCode = true
	ts := httptest.NewServer(sim)
	defer ts.Close()
	app := brokersim.DemoKiwoomReal
	base := brokersim.BaseURL(ts.URL, app.Broker, app.Env)
	m, err := kauth.NewManager(kauth.Config{
		Credentials: app.Credentials(),
		Provider:    &kiwoom.Provider{BaseURL: base, HTTPClient: ts.Client(), Now: sim.Now},
		Store:       kauth.NewMemoryStore(),
		Clock:       brokertest.SimClock{Sim: sim},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	client := &http.Client{Transport: &kauth.Transport{Manager: m, Base: ts.Client().Transport}}
	if ok, body := brokertest.CallOK(t, client, base, app); !ok {
		t.Fatalf("first call = %s", body)
	}
	tok, _ := m.Cached()
	sim.InvalidateToken(tok.AccessToken)
	sim.Advance(time.Second)
	if ok, body := brokertest.CallOK(t, client, base, app); !ok {
		t.Fatalf("call after the token was invalidated = %s; want a transparent retry", body)
	}
	if n := sim.Issued(app.Broker, app.Env, app.AppKey); n != 2 {
		t.Errorf("issuances = %d; want 2", n)
	}
}
