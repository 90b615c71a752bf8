package agent_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/agent/internal/config"
	"github.com/kauth/kauth/brokersim"
)

// webhookRecorder is a webhook that keeps the bodies it is sent.
type webhookRecorder struct {
	mu     sync.Mutex
	bodies []string
}

func (w *webhookRecorder) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	w.bodies = append(w.bodies, string(b))
	w.mu.Unlock()
}

func (w *webhookRecorder) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.bodies...)
}

// has reports whether a JSON alert of kind for account was sent, with
// reason if that is not empty.
func (w *webhookRecorder) has(kind, account, reason string) bool {
	for _, b := range w.all() {
		var a struct{ Kind, Account, Reason string }
		if json.Unmarshal([]byte(b), &a) == nil && a.Kind == kind && a.Account == account && (reason == "" || a.Reason == reason) {
			return true
		}
	}
	return false
}

// TestAlertsToWebhooks: the agent tells a JSON webhook of each account's
// first token and of a token issued after the last one expired, a
// Slack-shaped webhook filtered to rejected credentials of those only, and
// no body carries an app key, a secret or a token.
func TestAlertsToWebhooks(t *testing.T) {
	all, slack := new(webhookRecorder), new(webhookRecorder)
	allSrv, slackSrv := httptest.NewServer(all), httptest.NewServer(slack)
	t.Cleanup(allSrv.Close)
	t.Cleanup(slackSrv.Close)
	const badKey, badSecret = "made-up-app-key-0000", "made-up-wrong-secret"
	clock := newFakeClock(time.Now())
	h := newHarness(t, setup{
		sim: func(s *brokersim.Server) { s.Clock = clock.Now },
		opts: func(o *agent.Options) {
			o.Clock = clock
			env := o.Getenv
			o.Getenv = func(k string) string {
				switch k {
				case "SLACK_URL":
					return slackSrv.URL
				case "BAD_KEY":
					return badKey
				case "BAD_SECRET":
					return badSecret
				}
				return env(k)
			}
		},
		cfg: func(c *agent.Config) {
			c.Accounts = append(c.Accounts, agent.Account{Name: "kis-bad", Broker: "kis", Env: "mock",
				AppKey: agent.Secret{Env: "BAD_KEY"}, AppSecret: agent.Secret{Env: "BAD_SECRET"},
				BaseURL: c.Accounts[0].BaseURL})
			c.Alerts = []config.Webhook{
				{Name: "all", URL: allSrv.URL},
				{Name: "chat", Format: "slack", URLSecret: agent.Secret{Env: "SLACK_URL"}, Events: []string{"credentials_rejected"}},
			}
		},
	})
	for _, name := range []string{"kis-mock", "kiwoom-mock", "kis-real"} {
		eventually(t, name+"'s first token alert", func() bool { return all.has("issued", name, "first_token") })
	}
	eventually(t, "the rejected credentials alert", func() bool { return all.has("credentials_rejected", "kis-bad", "") })
	eventually(t, "the chat alert", func() bool { return len(slack.all()) > 0 })

	issued := func() int { return h.sim.Issued(kauth.Kiwoom, kauth.Mock, kiwoomMock.AppKey) }
	eventually(t, "the keepers sleep", func() bool { return issued() == 1 && clock.Sleepers() >= 3 })
	clock.Advance(25 * time.Hour) // the tokens expired: the keepers issue anew
	eventually(t, "the expiry alert", func() bool { return all.has("issued", "kiwoom-mock", "expiry") })

	for _, b := range slack.all() {
		var m map[string]string
		if err := json.Unmarshal([]byte(b), &m); err != nil || len(m) != 1 || !strings.Contains(m["text"], "credentials_rejected on account kis-bad") {
			t.Errorf("slack body %s", b)
		}
	}
	// Tokens: every one the simulator issued to these apps.
	secrets := append([]string{badKey, badSecret}, h.secrets...)
	for _, app := range brokersim.DemoApps() {
		if tok, _, ok := h.sim.CurrentToken(app.Broker, app.Env, app.AppKey); ok {
			secrets = append(secrets, tok)
		}
	}
	for _, b := range append(all.all(), slack.all()...) {
		for _, s := range secrets {
			if strings.Contains(b, s) {
				t.Fatalf("an alert carries the secret with fingerprint %s: %s", kauth.Fingerprint(s), kauth.Fingerprint(b))
			}
		}
	}
	eventually(t, "the delivered metric", func() bool {
		return metricValue(h.metrics(), `kauth_alerts_sent_total{outcome="delivered",webhook="all"}`) >= 5
	})
}

// metricValue reads one series from a /metrics text; -1 if it is absent.
func metricValue(text, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}
