package agent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth/agent"
)

// A rotated client key (its file deleted or replaced, then a reload) cuts
// off the WebSockets it opened: they are closed with a policy violation,
// and the old key opens no new one. A reload that changes no key leaves
// them open.
func TestRotatedKeyClosesItsWebSockets(t *testing.T) {
	dir := shortTempDir(t)
	botFile := filepath.Join(dir, "bot.key")
	s := wsSetup(nil)
	s.cfg = func(c *agent.Config) {
		c.ClientKeys = []agent.ClientKey{{Name: "bot", File: botFile, Accounts: []string{"kis-mock"}}}
	}
	h := newHarness(t, s)
	b, err := os.ReadFile(botFile)
	if err != nil {
		t.Fatal(err)
	}
	bot := strings.TrimSpace(string(b))
	h.secrets = append(h.secrets, h.key, bot)
	w, _, err := h.dialAs(h.wsFacadeURL(bot, "kis-mock", "/tryitout"), pyWebsocketsHeader())
	if err != nil {
		t.Fatalf("client key on its account: %v", err)
	}
	w.kisSubscribe("1", "H0STCNT0", "005930")
	w.wantControl("OPSP0000", "005930")
	// The unix socket needs no key: its clients stay whatever happens to
	// the keys.
	local := h.ws("unix", "kis-mock")
	local.kisSubscribe("1", "H0STCNT0", "000660")
	local.wantControl("OPSP0000", "000660")

	if err := h.agent.Reload(h.cfg); err != nil {
		t.Fatal(err)
	}
	w.kisSubscribe("1", "H0STCNT0", "035720")
	w.wantControl("OPSP0000", "035720")

	os.Remove(botFile)
	if err := h.agent.Reload(h.cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := w.c.Read(ctx)
		if err == nil {
			continue // frames already on their way
		}
		if st := websocket.CloseStatus(err); st != websocket.StatusPolicyViolation {
			t.Fatalf("after the rotation the client read %v; want a close with %d", err, websocket.StatusPolicyViolation)
		}
		break
	}
	if _, resp, err := h.dialAs(h.wsFacadeURL(bot, "kis-mock", "/tryitout"), pyWebsocketsHeader()); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Errorf("the rotated key dialled again: %v; want HTTP 401", err)
	}
	local.kisSubscribe("1", "H0STCNT0", "005380")
	local.wantControl("OPSP0000", "005380")
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("timed out")
	}
}
