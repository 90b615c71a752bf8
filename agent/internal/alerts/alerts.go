// Package alerts sends the agent's notable token events to webhooks: a new
// issuance and why it happened, credentials rejected, a rate-limited
// issuance, a token returned again, a store failure, and an upstream
// real-time session unavailable for long and back.
//
// Each webhook has its own bounded queue and sender, so a slow or dead
// webhook never delays a token or a proxied call: when its queue is full an
// alert is dropped and counted. A body carries account names and
// fingerprints, never an app key, app secret or token.
package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kauth/kauth/internal/promtext"
)

// Kind names an alert.
type Kind string

// The alerts kauth sends.
const (
	Issued              Kind = "issued"               // the broker minted a new token (Reason says why)
	CredentialsRejected Kind = "credentials_rejected" // the broker refused the app key or secret
	RateLimited         Kind = "rate_limited"         // an issuance was refused or delayed by the broker's rate limit
	TokenReturnedAgain  Kind = "token_returned_again" // the broker answered an issuance with the token already held
	StoreFailed         Kind = "store_failed"         // the shared store could not be written
	WSUnavailable       Kind = "ws_unavailable"       // the upstream real-time session stayed unavailable past the threshold
	WSRestored          Kind = "ws_restored"          // the upstream real-time session opened again after WSUnavailable
)

// Kinds are all the alert kinds, the values a webhook's event filter takes.
var Kinds = []Kind{Issued, CredentialsRejected, RateLimited, TokenReturnedAgain, StoreFailed, WSUnavailable, WSRestored}

// Alert is one event, as the generic JSON format sends it. It holds no
// secret: the app key and the token appear only as fingerprints.
type Alert struct {
	Kind    Kind      `json:"kind"`
	Time    time.Time `json:"time"`
	Account string    `json:"account"`
	App     string    `json:"app,omitempty"`   // the app key's fingerprint
	Token   string    `json:"token,omitempty"` // the token's fingerprint
	// Reason says why: for Issued "first_token", "expiry",
	// "rejected_token", "turnover" or "revoked"; for WSUnavailable and
	// WSRestored how long the session has been down, and why; for the
	// others the error's message.
	Reason    string     `json:"reason,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Text is the alert as one line of human text, for chat webhooks.
func (a Alert) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kauth: %s on account %s", a.Kind, a.Account)
	if a.App != "" {
		fmt.Fprintf(&b, " (app %s)", a.App)
	}
	if a.Reason != "" {
		fmt.Fprintf(&b, ": %s", a.Reason)
	}
	if a.Token != "" {
		fmt.Fprintf(&b, "; token %s", a.Token)
	}
	if a.ExpiresAt != nil {
		fmt.Fprintf(&b, " expires %s", a.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// Format is a webhook's body format.
type Format string

// The body formats.
const (
	JSON     Format = "json"     // the Alert as a JSON object
	Slack    Format = "slack"    // {"text": ...}, for Slack incoming webhooks and the like
	Telegram Format = "telegram" // the Bot API's sendMessage: {"chat_id": ..., "text": ...}
)

// TelegramAPI is the Bot API's base URL, the default of a Telegram
// webhook's URL. A bot's methods are at <base>/bot<token>/<method>
// (https://core.telegram.org/bots/api#making-requests).
const TelegramAPI = "https://api.telegram.org"

// Webhook is one destination.
type Webhook struct {
	Name   string
	URL    string // for Telegram, the Bot API base URL (TelegramAPI if empty)
	Format Format
	// Events are the kinds sent to this webhook; all if empty.
	Events []Kind
	// ChatID and BotToken are for Telegram. BotToken is a secret: it is
	// only ever put into the request URL, which is never logged.
	ChatID   string
	BotToken string
	// AllowInsecure allows a plain http URL to a host other than loopback.
	AllowInsecure bool
}

// Validate checks w's URL, format and filter.
func (w Webhook) Validate() error {
	if w.Name == "" {
		return errors.New("alerts: a webhook needs a name")
	}
	raw := w.URL
	switch w.Format {
	case JSON, Slack:
		if raw == "" {
			return fmt.Errorf("alerts: webhook %s: url is required", w.Name)
		}
	case Telegram:
		if raw == "" {
			raw = TelegramAPI
		}
		if w.ChatID == "" || w.BotToken == "" {
			return fmt.Errorf("alerts: webhook %s: telegram needs chat_id and bot_token", w.Name)
		}
	default:
		return fmt.Errorf("alerts: webhook %s: format %q is none of json, slack, telegram", w.Name, w.Format)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("alerts: webhook %s: url is not an absolute http(s) URL", w.Name)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !w.AllowInsecure && !loopback(u.Hostname()) {
			return fmt.Errorf("alerts: webhook %s: url is plain http to a host other than loopback; use https or allow_insecure", w.Name)
		}
	default:
		return fmt.Errorf("alerts: webhook %s: url scheme %q is not http or https", w.Name, u.Scheme)
	}
	for _, k := range w.Events {
		if !known(k) {
			return fmt.Errorf("alerts: webhook %s: unknown event %q", w.Name, k)
		}
	}
	return nil
}

func known(k Kind) bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// target is the URL a request goes to. For Telegram it holds the bot token.
func (w Webhook) target() string {
	if w.Format != Telegram {
		return w.URL
	}
	base := w.URL
	if base == "" {
		base = TelegramAPI
	}
	return strings.TrimRight(base, "/") + "/bot" + w.BotToken + "/sendMessage"
}

func (w Webhook) body(a Alert) ([]byte, error) {
	switch w.Format {
	case Slack:
		return json.Marshal(map[string]string{"text": a.Text()})
	case Telegram:
		return json.Marshal(map[string]string{"chat_id": w.ChatID, "text": a.Text()})
	}
	return json.Marshal(a)
}

func (w Webhook) wants(k Kind) bool {
	if len(w.Events) == 0 {
		return true
	}
	for _, x := range w.Events {
		if x == k {
			return true
		}
	}
	return false
}

// Metrics are the alert series, a promtext.Collector. Create them once
// with NewMetrics and register them; Dispatchers built across reloads
// share them.
type Metrics struct {
	sent    *promtext.CounterVec
	dropped *promtext.CounterVec
}

// NewMetrics makes kauth_alerts_sent_total{webhook,outcome} and
// kauth_alerts_dropped_total{webhook}.
func NewMetrics() *Metrics {
	return &Metrics{
		sent: promtext.NewCounterVec("kauth_alerts_sent_total",
			"Alerts sent to a webhook, by outcome: delivered, or failed (given up after the last attempt).",
			"webhook", "outcome"),
		dropped: promtext.NewCounterVec("kauth_alerts_dropped_total",
			"Alerts dropped because a webhook's queue was full.",
			"webhook"),
	}
}

// Collect implements promtext.Collector.
func (m *Metrics) Collect(b *promtext.Batch) {
	m.sent.Collect(b)
	m.dropped.Collect(b)
}

// Config configures a Dispatcher.
type Config struct {
	Webhooks []Webhook
	Client   *http.Client // if nil, the default transport, a 10s timeout and no redirects
	Metrics  *Metrics     // required
	Log      *slog.Logger // slog.Default() if nil
	// QueueSize bounds each webhook's queue (64 if zero).
	QueueSize int
	// Attempts is how many times an alert is tried before it is given up
	// (5 if zero).
	Attempts int
	// Backoff is the first retry's delay, doubled each retry with jitter
	// up to MaxBackoff (1s and 1m if zero). A 429's Retry-After is
	// honoured up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Sleep waits d or until ctx ends; a timer if nil.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Dispatcher sends alerts to its webhooks. Send never blocks.
type Dispatcher struct {
	cfg    Config
	hooks  []*hook
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type hook struct {
	Webhook
	queue chan Alert
}

// New validates the webhooks and starts one sender for each.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Metrics == nil {
		return nil, errors.New("alerts: Config.Metrics is required")
	}
	if cfg.Client == nil {
		// A webhook is answered where it was configured: a redirect is
		// its failure, not a hop that takes the alert (and a Telegram
		// bot token's URL) somewhere else.
		cfg.Client = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 64
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Minute
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	names := map[string]bool{}
	for _, w := range cfg.Webhooks {
		if err := w.Validate(); err != nil {
			return nil, err
		}
		if names[w.Name] {
			return nil, fmt.Errorf("alerts: webhook %s is named twice", w.Name)
		}
		names[w.Name] = true
	}
	d := &Dispatcher{cfg: cfg}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for _, w := range cfg.Webhooks {
		h := &hook{Webhook: w, queue: make(chan Alert, cfg.QueueSize)}
		cfg.Metrics.dropped.With(w.Name)
		for _, o := range []string{"delivered", "failed"} {
			cfg.Metrics.sent.With(w.Name, o)
		}
		d.hooks = append(d.hooks, h)
		d.wg.Add(1)
		go d.run(h)
	}
	return d, nil
}

// Send queues a for each webhook that wants its kind, dropping it where a
// queue is full. It never blocks. A nil Dispatcher sends nothing.
func (d *Dispatcher) Send(a Alert) {
	if d == nil {
		return
	}
	for _, h := range d.hooks {
		if !h.wants(a.Kind) {
			continue
		}
		select {
		case h.queue <- a:
		default:
			d.cfg.Metrics.dropped.With(h.Name).Inc()
		}
	}
}

// Close stops the senders, abandoning what is queued or being retried,
// and waits for them.
func (d *Dispatcher) Close() {
	if d == nil {
		return
	}
	d.cancel()
	d.wg.Wait()
}

func (d *Dispatcher) run(h *hook) {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case a := <-h.queue:
			d.deliver(h, a)
		}
	}
}

// deliver tries a up to Attempts times. A 2xx is delivered; a 4xx other
// than 408 and 429 is not retried.
func (d *Dispatcher) deliver(h *hook, a Alert) {
	body, err := h.body(a)
	if err != nil {
		d.cfg.Metrics.sent.With(h.Name, "failed").Inc()
		return
	}
	backoff := d.cfg.Backoff
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := d.post(h, body)
		if err == nil && status/100 == 2 {
			d.cfg.Metrics.sent.With(h.Name, "delivered").Inc()
			return
		}
		permanent := err == nil && status/100 == 4 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout
		if d.ctx.Err() != nil {
			return
		}
		if permanent || attempt >= d.cfg.Attempts {
			d.cfg.Metrics.sent.With(h.Name, "failed").Inc()
			why := "status " + strconv.Itoa(status)
			if err != nil {
				why = "unreachable"
			}
			d.cfg.Log.Warn("agent: alert not delivered", "webhook", h.Name, "kind", string(a.Kind), "attempts", attempt, "why", why)
			return
		}
		wait := backoff/2 + rand.N(backoff/2+1) // jitter in [backoff/2, backoff]
		if retryAfter > 0 {
			wait = retryAfter
		}
		wait = min(wait, d.cfg.MaxBackoff)
		backoff = min(2*backoff, d.cfg.MaxBackoff)
		if d.cfg.Sleep(d.ctx, wait) != nil {
			return
		}
	}
}

// post sends body once. Its errors are not returned, for the URL may hold a
// bot token: only whether it failed.
func (d *Dispatcher) post(h *hook, body []byte) (status int, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, h.target(), bytes.NewReader(body))
	if err != nil {
		return 0, 0, errors.New("bad request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kauth-alerts")
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return 0, 0, errors.New("unreachable")
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusTooManyRequests {
		retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return resp.StatusCode, retryAfter, nil
}

// parseRetryAfter reads delay-seconds or an HTTP date (RFC 9110 §10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
