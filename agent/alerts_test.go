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

// TestAlertsHangingWebhook: a webhook that never answers delays neither a
// token nor a proxied call; its queue stays bounded, the overflow is
// counted as dropped, and Close does not wait for it.
func TestAlertsHangingWebhook(t *testing.T) {
	var hits sync.WaitGroup
	hits.Add(1)
	var once sync.Once
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(hits.Done)
		select { // until the agent gives up on it, or the test ends
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	h := newHarness(t, setup{cfg: func(c *agent.Config) {
		c.Alerts = []config.Webhook{{Name: "slow", URL: hang.URL}}
		c.AlertOptions.QueueSize = 1
	}})
	hits.Wait() // the first alert hangs in flight
	// Three first tokens: one in flight, one queued, the rest dropped.
	eventually(t, "an alert dropped", func() bool {
		return metricValue(h.metrics(), `kauth_alerts_dropped_total{webhook="slow"}`) >= 1
	})
	for _, name := range []string{"kis-mock", "kiwoom-mock", "kis-real"} {
		start := time.Now()
		h.token(name)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("token of %s took %v behind a hanging webhook", name, d)
		}
	}
	start := time.Now()
	kisOK(t, h.kisPrice("kis-mock", nil))
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a proxied call took %v behind a hanging webhook", d)
	}
	if v := metricValue(h.metrics(), `kauth_alerts_sent_total{outcome="delivered",webhook="slow"}`); v != 0 {
		t.Fatalf("delivered %v to a webhook that never answers", v)
	}
	start = time.Now()
	h.close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v behind a hanging webhook", d)
	}
}
