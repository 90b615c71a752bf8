package agent_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kauth/kauth/agent"
)

// TestReloadAPI: POST /v1/reload reloads through Options.Reload on the
// unix socket and with the agent key; a client key may not; a refused
// config is a 400 bad_config with its reason; with no reload source it is
// 501.
func TestReloadAPI(t *testing.T) {
	var calls atomic.Int32
	fail := atomic.Bool{}
	dir := shortTempDir(t)
	botFile := filepath.Join(dir, "bot.key")
	h := newHarness(t, setup{
		cfg: func(c *agent.Config) {
			c.ClientKeys = []agent.ClientKey{{Name: "bot", File: botFile, Accounts: []string{"kis-mock"}}}
		},
		opts: func(o *agent.Options) {
			o.Reload = func() error {
				calls.Add(1)
				if fail.Load() {
					return errors.New("agent: config x.yaml: line 3: unknown field \"brokr\"")
				}
				return nil
			}
		},
	})
	if r := h.viaUnix("POST", "/v1/reload", nil, nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `"reloaded"`) {
		t.Errorf("via the socket: %d %s; want 200 reloaded", r.status, r.body)
	}
	if r := h.viaTCP("POST", "/v1/reload", nil, nil); r.status != http.StatusOK {
		t.Errorf("with the agent key: %d %s; want 200", r.status, r.body)
	}
	bot, _ := os.ReadFile(botFile)
	r := h.viaTCP("POST", "/v1/reload", nil, http.Header{"Authorization": {"Bearer " + strings.TrimSpace(string(bot))}})
	if r.status != http.StatusForbidden {
		t.Errorf("with a client key: %d %s; want 403", r.status, r.body)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("Reload ran %d times; want 2 (never for the client key)", n)
	}
	fail.Store(true)
	r = h.viaUnix("POST", "/v1/reload", nil, nil)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "bad_config") || !strings.Contains(string(r.body), "line 3") {
		t.Errorf("a refused config: %d %s; want 400 bad_config naming the line", r.status, r.body)
	}
	if r := h.viaUnix("GET", "/v1/reload", nil, nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/reload = %d; want 405", r.status)
	}

	plain := newHarness(t, setup{})
	if r := plain.viaUnix("POST", "/v1/reload", nil, nil); r.status != http.StatusNotImplemented {
		t.Errorf("with no reload source: %d %s; want 501", r.status, r.body)
	}
}
