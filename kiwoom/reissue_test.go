package kiwoom_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/brokertest"
	"github.com/kauth/kauth/kiwoom"
)

// TestReissueBehaviours: kauth is right whatever Kiwoom answers to a re-issue
// while a token is valid — the reported same token while it is valid, a new one
// with the old still valid, or a new one that invalidates the old.
func TestReissueBehaviours(t *testing.T) {
	newProvider := func(base string, c *http.Client, now func() time.Time) kauth.Provider {
		return &kiwoom.Provider{BaseURL: base, HTTPClient: c, Now: now}
	}
	for _, mode := range []brokersim.ReissueMode{brokersim.ReissueSame, brokersim.ReissueNewKeepOld, brokersim.ReissueNewRevokeOld} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			brokertest.ReissueDays(t, brokersim.DemoKiwoomReal, mode, 3, newProvider)
		})
	}
}
