package kis_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/brokertest"
	"github.com/kauth/kauth/kis"
)

// start is the simulator's frozen clock: only Advance moves it.
var start = time.Date(2024, 11, 6, 8, 0, 0, 0, kauth.KST)

// newSim starts the simulator and returns it with a Provider aimed at its KIS
// mock env, whose clock is the simulator's.
func newSim(t *testing.T) (*brokersim.Server, *httptest.Server, *kis.Provider) {
	t.Helper()
	sim := brokersim.New()
	sim.Clock = func() time.Time { return start }
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		sim.ReleaseHangs()
		srv.Close()
	})
	p := &kis.Provider{BaseURL: brokersim.BaseURL(srv.URL, kauth.KIS, kauth.Mock), Now: sim.Now}
	return sim, srv, p
}

// quote makes the protected call of KIS (inquire-price) with tok, and
// returns what Rejected and CheckResponse made of the answer.
func quote(t *testing.T, p *kis.Provider, c kauth.Credentials, tok kauth.Token) (rejected bool, err error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.URL(c.Env)+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
	req.Header.Set("content-type", "application/json; charset=utf-8")
	req.Header.Set("tr_id", "FHKST01010100")
	req.Header.Set("custtype", "P")
	p.Authorize(req, c, tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("inquire-price: %v", err)
	}
	defer resp.Body.Close()
	rejected = p.Rejected(resp)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading inquire-price after Rejected(): %v", err)
	}
	err = kis.CheckResponse(c, kis.OpCall, resp, body)
	if err == nil && !strings.Contains(string(body), `"stck_prpr":"71000"`) {
		t.Errorf("inquire-price body = %s; want the quote", body)
	}
	return rejected, err
}

func TestSimLifecycle(t *testing.T) {
	sim, _, p := newSim(t)
	app := brokersim.DemoKISMock
	c := app.Credentials()
	ctx := context.Background()
	var seen brokertest.Errs
	defer func() { seen.CheckNoSecrets(t, app.AppKey, app.Secret) }()

	tok, err := p.Issue(ctx, c)
	if seen.Add(err) != nil {
		t.Fatalf("Issue() = %v", err)
	}
	if cur, exp, _ := sim.CurrentToken(kauth.KIS, kauth.Mock, app.AppKey); tok.AccessToken != cur || !tok.ExpiresAt.Equal(exp) {
		t.Errorf("Issue() = %v; want the simulator's token expiring %v", tok, exp.In(kauth.KST))
	}
	if !tok.ExpiresAt.Equal(start.Add(24*time.Hour)) || !tok.IssuedAt.Equal(start) || tok.Type != "Bearer" {
		t.Errorf("Issue() = %+v; want Bearer issued %v expiring 24 h later", tok, start)
	}

	// Once a minute per app key.
	_, err = p.Issue(ctx, c)
	seen.Add(err)
	if !errors.Is(err, kauth.ErrRateLimited) || kauth.RetryAfter(err) != time.Minute {
		t.Errorf("second Issue() within a minute = %v (retry after %v); want ErrRateLimited after 1m", err, kauth.RetryAfter(err))
	}

	// Within 6 h KIS answers with the same token and its old expiry.
	sim.Advance(5 * time.Hour)
	again, err := p.Issue(ctx, c)
	if seen.Add(err) != nil {
		t.Fatalf("Issue() 5 h later = %v", err)
	}
	if again.AccessToken != tok.AccessToken || !again.ExpiresAt.Equal(tok.ExpiresAt) {
		t.Errorf("Issue() 5 h later = %v; want the same token with the same expiry %v", again, tok.ExpiresAt.In(kauth.KST))
	}
	if n := sim.Issued(kauth.KIS, kauth.Mock, app.AppKey); n != 1 {
		t.Errorf("simulator minted %d tokens; want 1", n)
	}

	if rejected, err := quote(t, p, c, tok); rejected || seen.Add(err) != nil {
		t.Errorf("call with a fresh token: Rejected() = %v, CheckResponse() = %v; want false, nil", rejected, err)
	}

	// Expired: EGW00123.
	sim.Advance(19*time.Hour + time.Second)
	rejected, err := quote(t, p, c, tok)
	seen.Add(err)
	if !rejected || !errors.Is(err, kauth.ErrTokenRejected) || !strings.Contains(err.Error(), "EGW00123") {
		t.Errorf("call with an expired token: Rejected() = %v, CheckResponse() = %v; want true, EGW00123 ErrTokenRejected", rejected, err)
	}

	fresh, err := p.Issue(ctx, c)
	if seen.Add(err) != nil {
		t.Fatalf("Issue() after expiry = %v", err)
	}
	if fresh.AccessToken == tok.AccessToken {
		t.Error("Issue() after expiry handed back the expired token")
	}
	if err := p.Revoke(ctx, c, fresh.AccessToken); seen.Add(err) != nil {
		t.Errorf("Revoke() = %v; want nil", err)
	}
	if rejected, err := quote(t, p, c, fresh); !rejected || !errors.Is(seen.Add(err), kauth.ErrTokenRejected) {
		t.Errorf("call with a revoked token: Rejected() = %v, CheckResponse() = %v; want true, ErrTokenRejected", rejected, err)
	}
	if err := p.Revoke(ctx, c, "not-a-token-of-this-app"); !errors.Is(seen.Add(err), kauth.ErrTokenRejected) {
		t.Errorf("Revoke(unknown token) = %v; want ErrTokenRejected", err)
	}
}

func TestSimInvalidatedToken(t *testing.T) {
	for name, status := range map[string]int{"default": 0, "HTTP 200": http.StatusOK, "HTTP 500": http.StatusInternalServerError} {
		t.Run(name, func(t *testing.T) {
			sim, _, p := newSim(t)
			sim.KISAuthErrorStatus = status
			c := brokersim.DemoKISMock.Credentials()
			tok, err := p.Issue(context.Background(), c)
			if err != nil {
				t.Fatalf("Issue() = %v", err)
			}
			sim.InvalidateToken(tok.AccessToken)
			rejected, err := quote(t, p, c, tok)
			if !rejected || !errors.Is(err, kauth.ErrTokenRejected) {
				t.Errorf("Rejected() = %v, CheckResponse() = %v; want true, ErrTokenRejected", rejected, err)
			}
		})
	}
}

func TestSimApprovalAndHashKey(t *testing.T) {
	sim, _, p := newSim(t)
	app := brokersim.DemoKISMock
	c := app.Credentials()
	ctx := context.Background()

	key, err := p.ApprovalKey(ctx, c)
	if err != nil || key == "" {
		t.Fatalf("ApprovalKey() = %q, %v; want a key", key, err)
	}

	body := []byte(`{"CANO":"00000000","ACNT_PRDT_CD":"01","PDNO":"005930","ORD_DVSN":"00","ORD_QTY":"1","ORD_UNPR":"71000"}`)
	hash, err := p.HashKey(ctx, c, body)
	if err != nil {
		t.Fatalf("HashKey() = %v", err)
	}
	mac := hmac.New(sha256.New, []byte(app.Secret))
	mac.Write(body)
	if want := hex.EncodeToString(mac.Sum(nil)); hash != want {
		t.Errorf("HashKey() = %q; want %q", hash, want)
	}
	if st := sim.Stats(); st.Approvals != 1 || st.Hashkeys != 1 {
		t.Errorf("simulator counted %d approvals, %d hashkeys; want 1, 1", st.Approvals, st.Hashkeys)
	}
}

func TestSimCredentialErrors(t *testing.T) {
	_, _, p := newSim(t)
	good := brokersim.DemoKISMock
	tests := []struct {
		name string
		c    kauth.Credentials
		code string
	}{
		{"wrong secret", kauth.Credentials{Broker: kauth.KIS, Env: kauth.Mock, AppKey: good.AppKey, AppSecret: "fake-wrong-secret-0000000000"}, "EGW00105"},
		{"unknown app key", kauth.Credentials{Broker: kauth.KIS, Env: kauth.Mock, AppKey: "PSfakeUNKNOWNAPPKEY00000000000000000", AppSecret: good.Secret}, "EGW00103"},
		{"real app at the mock server", brokersim.DemoKISReal.Credentials(), "EGW00103"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			var seen brokertest.Errs
			defer func() { seen.CheckNoSecrets(t, tt.c.AppKey, tt.c.AppSecret) }()
			c := tt.c
			c.Env = kauth.Mock // the provider aims at the mock server
			_, err := p.Issue(ctx, c)
			seen.Add(err)
			var e *kauth.Error
			if !errors.Is(err, kauth.ErrCredentials) || !errors.As(err, &e) || e.Code != tt.code {
				t.Errorf("Issue() = %v; want %s ErrCredentials", err, tt.code)
			}
			if _, err := p.ApprovalKey(ctx, c); !errors.Is(seen.Add(err), kauth.ErrCredentials) {
				t.Errorf("ApprovalKey() = %v; want ErrCredentials", err)
			}
			if _, err := p.HashKey(ctx, c, []byte(`{}`)); !errors.Is(seen.Add(err), kauth.ErrCredentials) {
				t.Errorf("HashKey() = %v; want ErrCredentials", err)
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
		{"server error", brokersim.Fault{Kind: brokersim.ServerError}, kauth.ErrUnavailable, "HTTP 503"},
		{"reset", brokersim.Fault{Kind: brokersim.Reset}, kauth.ErrUnavailable, ""},
		{"rate limit", brokersim.Fault{Kind: brokersim.RateLimit}, kauth.ErrRateLimited, "EGW00133"},
		{"gateway timeout", brokersim.Fault{Kind: brokersim.Hang, Delay: 10 * time.Millisecond}, kauth.ErrUnavailable, "HTTP 504"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, _, p := newSim(t)
			app := brokersim.DemoKISMock
			tt.fault.Path = "/oauth2/tokenP"
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
		_, err := p.Issue(ctx, brokersim.DemoKISMock.Credentials())
		if !errors.Is(err, kauth.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Issue() = %v; want ErrUnavailable matching context.DeadlineExceeded", err)
		}
	})
	t.Run("call rate limit", func(t *testing.T) {
		sim, _, p := newSim(t)
		c := brokersim.DemoKISMock.Credentials()
		tok, err := p.Issue(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		sim.Inject(brokersim.Fault{Kind: brokersim.RateLimit, Path: "/uapi/domestic-stock/v1/quotations/inquire-price"})
		rejected, err := quote(t, p, c, tok)
		if rejected || !errors.Is(err, kauth.ErrRateLimited) || kauth.RetryAfter(err) != time.Second {
			t.Errorf("Rejected() = %v, CheckResponse() = %v; want false, EGW00201 ErrRateLimited after 1s", rejected, err)
		}
	})
}
