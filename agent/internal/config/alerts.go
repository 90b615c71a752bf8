package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/kauth/kauth/agent/internal/alerts"
)

// Webhook is one destination of the agent's alerts (Config.Alerts).
//
//	alerts:
//	  - name: ops
//	    format: slack            # json (default), slack or telegram
//	    url_secret: {env: SLACK_WEBHOOK_URL}
//	    events: [issued, credentials_rejected]   # all if empty
//	  - name: phone
//	    format: telegram
//	    chat_id: "-1001234"
//	    bot_token: {env: TELEGRAM_BOT_TOKEN}
type Webhook struct {
	// Name identifies the webhook in logs and the webhook label of
	// kauth_alerts_sent_total and kauth_alerts_dropped_total.
	Name string `yaml:"name"`
	// Format is the body: json (the default; see README), slack
	// ({"text": …}) or telegram (the Bot API's sendMessage).
	Format string `yaml:"format"`
	// URL is where alerts are POSTed; for telegram the Bot API's base URL,
	// https://api.telegram.org if empty. It must be https, or http to a
	// loopback address, unless AllowInsecure is set.
	URL string `yaml:"url"`
	// URLSecret gives the URL as a credential instead, for webhook URLs
	// that are themselves secrets (a Slack incoming webhook's is). Set at
	// most one of URL and URLSecret.
	URLSecret Secret `yaml:"url_secret"`
	// Events are the alerts sent: issued, credentials_rejected,
	// rate_limited, token_returned_again, store_failed, ws_unavailable,
	// ws_restored. Empty means all.
	Events []string `yaml:"events"`
	// ChatID and BotToken are for telegram: the chat to write to and the
	// bot's token, given like the app keys as {env: …} or {file: …}.
	ChatID   string `yaml:"chat_id"`
	BotToken Secret `yaml:"bot_token"`
	// AllowInsecure permits a plain http URL to a host that is not
	// loopback.
	AllowInsecure bool `yaml:"allow_insecure"`
}

// AlertOptions are the delivery settings shared by the webhooks.
type AlertOptions struct {
	// QueueSize bounds each webhook's queue; past it alerts are dropped
	// (kauth_alerts_dropped_total). Zero means 64.
	QueueSize int `yaml:"queue_size"`
	// Attempts is how often an alert is tried before it is given up. Zero
	// means 5.
	Attempts int `yaml:"attempts"`
	// Backoff is the first retry's delay, doubled each retry (with jitter)
	// up to MaxBackoff. Zero means 1s and 1m.
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// WSUnavailableAfter is how long an upstream real-time session must
	// have been unavailable, while the market is open, before the
	// ws_unavailable alert. Zero means 1m. It applies to the sessions
	// opened after it is set.
	WSUnavailableAfter time.Duration `yaml:"ws_unavailable_after"`
}

func (s Secret) set() bool { return s.Env != "" || s.File != "" || s.Value != "" }

// ResolveAlerts validates cfg's webhooks and reads their secrets through
// getenv and the credential files. Errors name the webhook, never a
// secret.
func ResolveAlerts(cfg Config, getenv func(string) string) ([]alerts.Webhook, error) {
	var errs []error
	var out []alerts.Webhook
	if o := cfg.AlertOptions; o.QueueSize < 0 || o.Attempts < 0 || o.Backoff < 0 || o.MaxBackoff < 0 || o.WSUnavailableAfter < 0 {
		errs = append(errs, errors.New("agent: alert_options must not be negative"))
	}
	for i, c := range cfg.Alerts {
		w := alerts.Webhook{Name: c.Name, URL: c.URL, Format: alerts.Format(c.Format), ChatID: c.ChatID, AllowInsecure: c.AllowInsecure}
		if w.Format == "" {
			w.Format = alerts.JSON
		}
		name := c.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i+1)
		}
		if c.URLSecret.set() {
			if c.URL != "" {
				errs = append(errs, fmt.Errorf("agent: alerts %s: set only one of url and url_secret", name))
				continue
			}
			u, err := c.URLSecret.read(getenv)
			if err != nil {
				errs = append(errs, fmt.Errorf("agent: alerts %s: url_secret: %w", name, err))
				continue
			}
			w.URL = u
		}
		if c.BotToken.set() {
			t, err := c.BotToken.read(getenv)
			if err != nil {
				errs = append(errs, fmt.Errorf("agent: alerts %s: bot_token: %w", name, err))
				continue
			}
			w.BotToken = t
		}
		for _, e := range c.Events {
			w.Events = append(w.Events, alerts.Kind(e))
		}
		if err := w.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("agent: %w", err))
			continue
		}
		out = append(out, w)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, &Error{Err: err}
	}
	return out, nil
}
