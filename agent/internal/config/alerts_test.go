package config_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth/agent/internal/alerts"
	"github.com/kauth/kauth/agent/internal/config"
)

func TestAlertsConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bot.token", "made-up-bot-token\n", 0o600)
	path := writeFile(t, dir, "kauth.yaml", `
accounts:
  - name: a
    broker: kis
    appkey: {env: K}
    appsecret: {env: S}
alerts:
  - name: plain
    url: https://hooks.example.com/kauth
  - name: ops
    format: slack
    url_secret: {env: SLACK_URL}
    events: [issued, credentials_rejected, ws_unavailable, ws_restored]
  - name: phone
    format: telegram
    chat_id: "-1001"
    bot_token: {file: bot.token}
alert_options:
  queue_size: 8
  attempts: 3
  ws_unavailable_after: 90s
`, 0o644)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AlertOptions.QueueSize != 8 || cfg.AlertOptions.Attempts != 3 || cfg.AlertOptions.WSUnavailableAfter != 90*time.Second {
		t.Fatalf("alert_options %+v", cfg.AlertOptions)
	}
	if got := cfg.Alerts[2].BotToken.File; got != filepath.Join(dir, "bot.token") {
		t.Fatalf("bot_token file %q: want it relative to the config", got)
	}
	env := map[string]string{"SLACK_URL": "https://hooks.slack.example/services/made-up"}
	ws, err := config.ResolveAlerts(cfg, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 3 || ws[0].Format != alerts.JSON || ws[1].URL != env["SLACK_URL"] ||
		len(ws[1].Events) != 4 || ws[2].BotToken != "made-up-bot-token" || ws[2].ChatID != "-1001" {
		t.Fatalf("webhooks %+v", ws)
	}

	// a missing secret names the variable, never a value
	_, err = config.ResolveAlerts(cfg, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "SLACK_URL") {
		t.Fatalf("missing url_secret: %v", err)
	}
}

func TestAlertsConfigRefused(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"  - name: x\n    url: http://hooks.example.com/\n", "plain http"},
		{"  - name: x\n    url: ftp://hooks.example.com/\n", "scheme"},
		{"  - name: x\n    url: https://hooks.example.com/\n    events: [everything]\n", "unknown event"},
		{"  - name: x\n    format: teams\n    url: https://hooks.example.com/\n", "format"},
		{"  - name: x\n    format: telegram\n    bot_token: {env: T}\n", "chat_id"},
		{"  - name: x\n    url: https://a.example/\n    url_secret: {env: U}\n", "only one"},
	} {
		cfg, err := config.Parse([]byte("alerts:\n" + c.yaml))
		if err != nil {
			t.Fatalf("%q: %v", c.yaml, err)
		}
		_, err = config.ResolveAlerts(cfg, func(string) string { return "made-up-value" })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.yaml, err, c.want)
		}
	}
	neg, err := config.Parse([]byte("alert_options:\n  ws_unavailable_after: -1s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.ResolveAlerts(neg, nil); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("a negative ws_unavailable_after: %v; want refused", err)
	}
	// http to loopback, or allowed, is fine
	cfg, _ := config.Parse([]byte("alerts:\n  - name: x\n    url: http://127.0.0.1:9/\n  - name: y\n    url: http://hooks.lan/\n    allow_insecure: true\n"))
	if _, err := config.ResolveAlerts(cfg, nil); err != nil {
		t.Fatal(err)
	}
	// a bot token written into the config is refused like an app key
	_, err = config.Parse([]byte("alerts:\n  - name: x\n    format: telegram\n    chat_id: '1'\n    bot_token: 123:made-up\n"))
	if err == nil || strings.Contains(err.Error(), "made-up") {
		t.Fatalf("plain bot_token: %v", err)
	}
}
