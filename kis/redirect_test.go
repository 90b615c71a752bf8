package kis

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/brokertest"
)

// TestApprovalHashKeyRefuseRedirects checks that the approval key and
// hashkey calls, which carry the app key and secret, follow no redirect:
// nothing reaches the host the Location names, nothing it answers is
// taken, and the error names the status and that host.
func TestApprovalHashKeyRefuseRedirects(t *testing.T) {
	for _, status := range brokertest.RedirectStatuses {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			catcher := brokertest.NewCatcher(t)
			srv, hits := brokertest.NewRedirector(t, status, catcher)
			p := &Provider{BaseURL: srv.URL}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			key, approvalErr := p.ApprovalKey(ctx, mockCreds)
			hash, hashErr := p.HashKey(ctx, mockCreds, []byte(`{"CANO":"12345678","ORD_QTY":"1"}`))
			catcher.Check(t, fakeAppKey, fakeAppSecret)
			if key != "" || hash != "" {
				t.Errorf("took approval key %q and hash %q from %s", key, hash, catcher.Host)
			}
			brokertest.CheckRedirectError(t, approvalErr, kauth.KIS, kauth.Mock, OpApproval, status, catcher.Host, fakeAppKey, fakeAppSecret)
			brokertest.CheckRedirectError(t, hashErr, kauth.KIS, kauth.Mock, OpHashKey, status, catcher.Host, fakeAppKey, fakeAppSecret)
			if got := hits(); got != 2 {
				t.Errorf("the broker got %d requests; want 2", got)
			}
		})
	}
}
