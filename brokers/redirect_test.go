package brokers_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/internal/brokertest"
)

const (
	redirectKey    = "PSredirectAppKeyAAAAAAAAAAAAAAAAAAAA"
	redirectSecret = "redirectAppSecretBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
	redirectToken  = "redirectHeldTokenCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"
)

// countingTransport counts the requests of a caller's own client.
type countingTransport struct{ n atomic.Int64 }

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// TestIssueRevokeRefuseRedirects checks that no broker's issue or revoke
// follows a redirect: the app key, the secret and the token never reach
// the host the Location names, a token that host hands out is never
// taken, and the error names the broker, env, status and that host. A
// caller's own client is used as given, never changed.
func TestIssueRevokeRefuseRedirects(t *testing.T) {
	for _, s := range brokers.All() {
		for _, status := range brokertest.RedirectStatuses {
			for _, own := range []bool{false, true} {
				name := fmt.Sprintf("%s/%d/default-client", s.Name, status)
				if own {
					name = fmt.Sprintf("%s/%d/own-client", s.Name, status)
				}
				t.Run(name, func(t *testing.T) {
					catcher := brokertest.NewCatcher(t)
					srv, hits := brokertest.NewRedirector(t, status, catcher)
					var client *http.Client
					ct := new(countingTransport)
					followed := 0
					if own {
						// A caller's client that follows every redirect.
						client = &http.Client{Transport: ct, CheckRedirect: func(*http.Request, []*http.Request) error {
							followed++
							return nil
						}}
					}
					p := s.New(srv.URL, client, time.Now)
					env := kauth.Mock
					if s.MockURL == "" {
						env = kauth.Real // a broker with no paper trading
					}
					c := kauth.Credentials{Broker: s.Name, Env: env, AppKey: redirectKey, AppSecret: redirectSecret}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()

					tok, issueErr := p.Issue(ctx, c)
					revokeErr := p.Revoke(ctx, c, redirectToken)
					catcher.Check(t, redirectKey, redirectSecret, redirectToken)
					if tok.AccessToken != "" {
						t.Errorf("Issue took the token %q from %s", tok.AccessToken, catcher.Host)
					}
					brokertest.CheckRedirectError(t, issueErr, s.Name, env, "issue", status, catcher.Host, redirectKey, redirectSecret)
					calls := 2
					if s.RevokePath == "" {
						// No revoke endpoint: Revoke sends nothing.
						calls = 1
						if revokeErr == nil {
							t.Error("Revoke with no revoke endpoint succeeded")
						}
					} else {
						brokertest.CheckRedirectError(t, revokeErr, s.Name, env, "revoke", status, catcher.Host, redirectKey, redirectSecret, redirectToken)
					}
					if got := hits(); got != calls {
						t.Errorf("the broker got %d requests; want %d", got, calls)
					}
					if own {
						if ct.n.Load() != int64(calls) {
							t.Errorf("the caller's transport made %d requests; want %d", ct.n.Load(), calls)
						}
						if client.CheckRedirect == nil {
							t.Fatal("the caller's CheckRedirect was removed")
						}
						before := followed
						client.CheckRedirect(nil, nil)
						if followed != before+1 {
							t.Error("the caller's CheckRedirect was replaced")
						}
					}
				})
			}
		}
	}
}
