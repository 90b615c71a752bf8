package kis_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/brokertest"
	"github.com/kauth/kauth/kis"
)

// TestReissueBehaviours: kauth is right whatever KIS answers to a re-issue
// while a token is valid — the documented same token within 6 h, a new one
// with the old still valid, or a new one that invalidates the old.
func TestReissueBehaviours(t *testing.T) {
	newProvider := func(base string, c *http.Client, now func() time.Time) kauth.Provider {
		return &kis.Provider{BaseURL: base, HTTPClient: c, Now: now}
	}
	for _, mode := range []brokersim.ReissueMode{brokersim.ReissueSame, brokersim.ReissueNewKeepOld, brokersim.ReissueNewRevokeOld} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			brokertest.ReissueDays(t, brokersim.DemoKISReal, mode, 3, newProvider)
		})
	}
}
