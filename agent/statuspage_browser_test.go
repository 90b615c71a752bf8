package agent_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/internal/testredis"
)

// chromium returns the path of a headless-capable Chromium, or skips the
// test; under CI=true a missing browser fails it instead (.ci/run
// installs Debian's chromium).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH: the status page's browser tests need it under CI (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH: the status page's browser tests are skipped (apt-get install chromium to run them)")
	return ""
}

// dumpDOM loads url in a fresh headless Chromium profile and returns the
// DOM once the page's scripts have had budget of virtual time.
func dumpDOM(t *testing.T, browser, url string, budget time.Duration, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), fmt.Sprintf("--virtual-time-budget=%d", budget.Milliseconds())}, extra...)
	args = append(args, "--dump-dom", url)
	cmd := exec.CommandContext(ctx, browser, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, stderr.String())
	}
	return string(out)
}

// statusLogin asks the agent for a one-time status page URL through its
// socket, for the accounts named in query ("" for all).
func (h *harness) statusLogin(query string) agent.StatusLoginResponse {
	h.t.Helper()
	r := h.viaUnix("POST", "/v1/status/login"+query, nil, nil)
	if r.status != http.StatusOK {
		h.t.Fatalf("POST /v1/status/login%s = %d %s", query, r.status, r.body)
	}
	var lr agent.StatusLoginResponse
	r.json(h.t, &lr)
	return lr
}

// TestStatusPageInChromium opens the status page in a real headless
// Chromium through its one-time link and checks that the page's script
// ran under the page's Content-Security-Policy and drew a row per account
// from data.json.
func TestStatusPageInChromium(t *testing.T) {
	browser := chromium(t)
	h := newHarness(t, setup{})
	for _, name := range []string{"kis-mock", "kiwoom-mock", "kis-real"} {
		h.token(name)
	}
	lr := h.statusLogin("")
	dom := dumpDOM(t, browser, lr.URL, 3*time.Second)
	for _, name := range []string{"kis-mock", "kiwoom-mock", "kis-real"} {
		// The rows are drawn by the script from data.json: the static
		// page has none.
		if !strings.Contains(dom, `data-account="`+name+`"`) {
			t.Errorf("the rendered page has no row for %s:\n%s", name, clip(dom, 3000))
		}
	}
	for _, want := range []string{"left", "Today's issuances", "in use", "updated "} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %q:\n%s", want, clip(dom, 3000))
		}
	}
	h.checkNoSecrets(dom)
	if !strings.Contains(h.logs.String(), "agent: status page opened") {
		t.Error("no log line for the status page login")
	}
}

// TestStatusPageLinkFromFile opens the page the way kauth open does when
// it starts a browser: through a local file that moves on to the login
// link (so that the code is not on the browser's command line). The login
// arrives from another site, and the session cookie must still reach the
// page.
func TestStatusPageLinkFromFile(t *testing.T) {
	browser := chromium(t)
	h := newHarness(t, setup{})
	lr := h.statusLogin("?account=kis-mock")
	file := filepath.Join(t.TempDir(), "open.html")
	if err := os.WriteFile(file, agent.StatusOpenFile(lr.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	dom := dumpDOM(t, browser, "file://"+file, 8*time.Second)
	if !strings.Contains(dom, `data-account="kis-mock"`) {
		t.Fatalf("the page opened from the file has no row for kis-mock:\n%s", clip(dom, 3000))
	}
	if strings.Contains(dom, `data-account="kiwoom-mock"`) {
		t.Error("a session opened for kis-mock shows kiwoom-mock")
	}
}

// TestStatusPageUnreadableFromAnotherOrigin: a page on another origin of
// the same host (127.0.0.1, another port: the same site, so the
// SameSite=Strict cookie would go along) opens the login link in a popup,
// so that the browser holds a live session, then tries to read the status
// data and a token with credentials. It reads nothing.
func TestStatusPageUnreadableFromAnotherOrigin(t *testing.T) {
	browser := chromium(t)
	h := newHarness(t, setup{})
	tok := h.token("kis-mock")
	lr := h.statusLogin("")
	agentOrigin := "http://" + h.ep.TCP
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><body><pre id="out">running</pre><script>
const out = document.getElementById("out");
const log = (s) => { out.textContent += "\n" + s; };
window.open(%q, "login");
setTimeout(async () => {
  for (const path of ["/status/data.json", "/status/", "/v1/accounts", "/v1/accounts/kis-mock/token"]) {
    try {
      const r = await fetch(%q + path, {credentials: "include"});
      log("READ " + path + " " + r.status + " " + (await r.text()));
    } catch (e) {
      log("BLOCKED " + path);
    }
    try {
      const r = await fetch(%q + path, {credentials: "include", mode: "no-cors"});
      const body = await r.text();
      log((body ? "READ-NOCORS " + body : "OPAQUE") + " " + path + " " + r.type);
    } catch (e) {
      log("BLOCKED-NOCORS " + path);
    }
  }
  log("done");
}, 1500);
</script></body></html>`, lr.URL, agentOrigin, agentOrigin)
	}))
	defer evil.Close()
	if !strings.HasPrefix(evil.URL, "http://127.0.0.1:") {
		t.Fatalf("the other origin is %s; want 127.0.0.1 on another port", evil.URL)
	}
	dom := dumpDOM(t, browser, evil.URL, 5*time.Second, "--disable-popup-blocking")
	// What the script wrote, not its own source.
	_, out, _ := strings.Cut(dom, `<pre id="out">`)
	out, _, _ = strings.Cut(out, "</pre>")
	if !strings.HasSuffix(out, "done") {
		t.Fatalf("the other origin's script did not finish:\n%s", clip(dom, 3000))
	}
	if strings.Contains(out, "READ") || !strings.Contains(out, "BLOCKED /status/data.json") || !strings.Contains(out, "OPAQUE /status/data.json") {
		t.Errorf("a page on another origin read the agent:\n%s", out)
	}
	for _, s := range []string{"kiwoom-mock", tok.AccessToken, `"accounts"`} {
		if strings.Contains(out, s) {
			t.Errorf("the other origin's page holds %q:\n%s", s, clip(dom, 3000))
		}
	}
	// The popup did log the browser in: the session existed while the
	// page tried.
	if !strings.Contains(h.logs.String(), "agent: status page opened") {
		t.Error("the popup did not log the browser in, so the test proves less than it says")
	}
}

// checkNoSecrets fails the test if s holds a credential or a token the
// agent handed out.
func (h *harness) checkNoSecrets(s string) {
	h.t.Helper()
	for _, sec := range h.secrets {
		if strings.Contains(s, sec) {
			h.t.Errorf("the status page holds a credential")
		}
	}
	h.tokMu.Lock()
	defer h.tokMu.Unlock()
	for tok := range h.tokens {
		if strings.Contains(s, tok) {
			h.t.Errorf("the status page holds a token")
		}
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// TestStatusPageSharedBudgetInChromium: in a real headless Chromium, the
// call budget of an app key shared through Redis says it counts every
// agent's calls; with the shared budget out of reach, it shows no figure
// and says why.
func TestStatusPageSharedBudgetInChromium(t *testing.T) {
	browser := chromium(t)
	c := testredis.Client(t)
	h := newHarness(t, setup{opts: sharedOn(c, testredis.Prefix(t), 0)})
	dom := dumpDOM(t, browser, h.statusLogin("").URL, 3*time.Second)
	if !strings.Contains(dom, "shared: all agents' calls") || !strings.Contains(dom, "0 / ") {
		t.Errorf("the page of a shared budget does not say it counts every agent's calls:\n%s", clip(dom, 3000))
	}
	dead := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { dead.Close() })
	cut := newHarness(t, setup{opts: sharedOn(dead, "kauthtest", 50*time.Millisecond)})
	dom = dumpDOM(t, browser, cut.statusLogin("").URL, 3*time.Second)
	if !strings.Contains(dom, "? / ") || !strings.Contains(dom, "shared budget unreadable") || strings.Contains(dom, "all agents") {
		t.Errorf("the page of a shared budget out of reach shows a figure, or does not say why not:\n%s", clip(dom, 3000))
	}
	// A call paced on the agent's own share: the page says so.
	kisOK(t, cut.kisPrice("kis-mock", nil))
	dom = dumpDOM(t, browser, cut.statusLogin("").URL, 3*time.Second)
	if !strings.Contains(dom, "? / ") || !strings.Contains(dom, "shared budget unreachable, on this agent's share") {
		t.Errorf("the page of a shared budget on the agent's own share does not say so:\n%s", clip(dom, 3000))
	}
}
