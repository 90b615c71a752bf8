package kauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/brokertest"
	"github.com/kauth/kauth/kis"
)

// TestTransportRefusesRedirects checks that an authenticated call follows
// no redirect, so that the token, app key and secret that Transport adds
// never reach the host a Location names: Manager.Client hands the 3xx back
// as the answer, and a caller's own client that follows redirects gets a
// *kauth.RedirectError instead of a second authenticated request.
func TestTransportRefusesRedirects(t *testing.T) {
	sim := brokersim.New()
	ts := newSimServer(t, sim)
	app := brokersim.DemoKISMock
	m, err := kauth.NewManager(kauth.Config{
		Credentials: app.Credentials(),
		Provider:    &kis.Provider{BaseURL: brokersim.BaseURL(ts.URL, kauth.KIS, kauth.Mock)},
		Store:       kauth.NewMemoryStore(),
		Clock:       vclock{sim},
		Logger:      discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{app.AppKey, app.Secret, tok.AccessToken}
	const path = "/uapi/domestic-stock/v1/quotations/inquire-price?FID_INPUT_ISCD=005930"

	for _, status := range brokertest.RedirectStatuses {
		t.Run(fmt.Sprintf("Client/%d", status), func(t *testing.T) {
			catcher := brokertest.NewCatcher(t)
			srv, _ := brokertest.NewRedirector(t, status, catcher)
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
			resp, err := m.Client().Do(req)
			catcher.Check(t, secrets...)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			resp.Body.Close()
			want := catcher.URL + "/uapi/domestic-stock/v1/quotations/inquire-price?echo=location-query"
			if resp.StatusCode != status || resp.Header.Get("Location") != want {
				t.Errorf("answer %d, Location %q; want %d, %q", resp.StatusCode, resp.Header.Get("Location"), status, want)
			}
		})
		t.Run(fmt.Sprintf("own-client/%d", status), func(t *testing.T) {
			catcher := brokertest.NewCatcher(t)
			srv, _ := brokertest.NewRedirector(t, status, catcher)
			client := &http.Client{Transport: &kauth.Transport{Manager: m}} // follows redirects
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
			resp, err := client.Do(req)
			catcher.Check(t, secrets...)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("Do answered %d; want a refused redirect", resp.StatusCode)
			}
			var ke *kauth.Error
			if !errors.As(err, &ke) {
				t.Fatalf("Do: %v; want a *kauth.Error", err)
			}
			brokertest.CheckRedirectError(t, ke, kauth.KIS, kauth.Mock, "call", status, catcher.Host, secrets...)
		})
	}
}
