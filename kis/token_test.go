package kis

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/brokertest"
	"github.com/kauth/kauth/internal/wire"
)

// seedToken is the answer of /oauth2/tokenP as the KIS guide prints it,
// with a fake token.
const seedToken = `{
    "access_token": "` + fakeToken + `",
    "access_token_token_expired": "2023-12-22 08:16:59",
    "token_type": "Bearer",
    "expires_in": 86400
}`

// TestApprovalHashKeyInvalidCredentials checks the KIS-only calls the way
// the conformance suite checks Issue and Revoke: bad credentials are
// refused before anything is sent.
func TestApprovalHashKeyInvalidCredentials(t *testing.T) {
	tests := []struct {
		name string
		c    kauth.Credentials
		kind error
	}{
		{"no app key", kauth.Credentials{Broker: kauth.KIS, Env: kauth.Real, AppSecret: fakeAppSecret}, kauth.ErrCredentials},
		{"no app secret", kauth.Credentials{Broker: kauth.KIS, Env: kauth.Real, AppKey: fakeAppKey}, kauth.ErrCredentials},
		{"no env", kauth.Credentials{Broker: kauth.KIS, AppKey: fakeAppKey, AppSecret: fakeAppSecret}, kauth.ErrBadRequest},
		{"kiwoom credentials", kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Real, AppKey: fakeAppKey, AppSecret: fakeAppSecret}, kauth.ErrBadRequest},
	}
	srv := brokertest.NewServer(t, nil) // any request fails the test
	p := &Provider{BaseURL: srv.URL}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			_, err := p.ApprovalKey(ctx, tt.c)
			broker.NoSecrets(t, err)
			if !errors.Is(err, tt.kind) {
				t.Errorf("ApprovalKey() = %v; want %v", err, tt.kind)
			}
			if _, err := p.HashKey(ctx, tt.c, []byte(`{}`)); !errors.Is(err, tt.kind) {
				t.Errorf("HashKey() = %v; want %v", err, tt.kind)
			}
		})
	}
}

func TestDefaultClientHasTimeout(t *testing.T) {
	if c := wire.Client(New().HTTPClient); c == http.DefaultClient || c.Timeout <= 0 {
		t.Errorf("default client timeout = %v; want a positive timeout", c.Timeout)
	}
}

// TestSameTokenWindow: KIS hands back the same token within 6 h of an
// issuance, and a Manager plans its turnovers past that.
func TestSameTokenWindow(t *testing.T) {
	if got := kauth.SameTokenWindow(New()); got != 6*time.Hour {
		t.Errorf("SameTokenWindow = %v; want 6h", got)
	}
}
