package proxy

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth/internal/fakeclock"
)

// TestPortAuthenticates: a facade port serves its account only to a
// request that carries the account's client key (padded or not) where the
// broker reads a secret, or the token the port handed out; it passes such
// a request on under the facade path, and refuses the rest itself.
func TestPortAuthenticates(t *testing.T) {
	e := newEnv(t, nil)
	var mu sync.Mutex
	var forwarded []string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		forwarded = append(forwarded, r.URL.Path)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})
	port := e.p.Port("kis-mock", e.host, next)
	tok, err := e.accts["kis-mock"].mgr.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ok := []struct {
		name string
		body string
		hdr  http.Header
		path string
		want string
	}{
		{"appsecret header", "", http.Header{"Appsecret": {"clientkey-kis-only"}}, "/uapi/x", "/broker/clientkey-kis-only/kis-mock/uapi/x"},
		{"padded", "", http.Header{"Appsecret": {"clientkey-kis-only==="}}, "/uapi/x", "/broker/clientkey-kis-only/kis-mock/uapi/x"},
		{"bearer agent key", "", http.Header{"Authorization": {"Bearer " + testAgentKey}}, "/uapi/x", "/broker/" + testAgentKey + "/kis-mock/uapi/x"},
		{"token handed out", "", http.Header{"Authorization": {"Bearer " + tok.AccessToken}}, "/uapi/x", "/broker/" + testAgentKey + "/kis-mock/uapi/x"},
		{"body appsecret", `{"appkey":"x","appsecret":"clientkey-kis-only"}`, nil, "/oauth2/tokenP", "/broker/clientkey-kis-only/kis-mock/oauth2/tokenP"},
	}
	for _, c := range ok {
		method := "GET"
		if c.body != "" {
			method = "POST"
		}
		forwarded = nil
		if r := do(port, method, c.path, c.body, c.hdr); r.status != http.StatusAccepted || len(forwarded) != 1 || forwarded[0] != c.want {
			t.Errorf("%s: = %d, forwarded %v; want %s", c.name, r.status, forwarded, c.want)
		}
	}
	refused := []struct {
		name string
		body string
		hdr  http.Header
		path string
	}{
		{"nothing", "", nil, "/uapi/x"},
		{"wrong secret", "", http.Header{"Appsecret": {"guess"}}, "/uapi/x"},
		{"key of another account only", "", http.Header{"Appsecret": {"clientkey-other"}}, "/uapi/x"},
		{"body secret off the oauth paths", `{"appsecret":"clientkey-kis-only"}`, nil, "/uapi/x"},
	}
	for _, c := range refused {
		method := "GET"
		if c.body != "" {
			method = "POST"
		}
		forwarded = nil
		r := do(port, method, c.path, c.body, c.hdr)
		if r.status != http.StatusUnauthorized || len(forwarded) != 0 || r.field(t, "msg_cd") != "unauthenticated" {
			t.Errorf("%s: = %d %s, forwarded %v; want 401 in KIS's shape", c.name, r.status, r.body, forwarded)
		}
	}
	// An upgrade carries no credential: it goes on marked for the
	// gateway's check of its first frame.
	forwarded = nil
	if r := do(port, "GET", "/tryitout", "", http.Header{"Upgrade": {"websocket"}}); r.status != http.StatusAccepted || e.host.upgrades.Load() != 1 {
		t.Errorf("upgrade = %d, %d marked; want it forwarded and marked", r.status, e.host.upgrades.Load())
	}
	if !strings.Contains(e.logs.String(), "agent: facade port refused a request without the account's credential") {
		t.Error("no log line for a refused port request")
	}
	if r := do(e.p.Port("gone", e.host, next), "GET", "/uapi/x", "", nil); r.status != http.StatusNotFound {
		t.Errorf("port of an account no longer served = %d; want 404", r.status)
	}
}

// TestPortRefusalLogThinned: requests refused on a port for want of the
// account's credential, in a loop, write the first warning and then at
// most one a minute, which counts the refusals held back since the first
// of them; the refusals themselves are all answered 401.
func TestPortRefusalLogThinned(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	e := newEnv(t, func(e *env) { e.now = clk.Now })
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	kisPort, kiwoomPort := e.p.Port("kis-mock", e.host, next), e.p.Port("kiwoom-mock", e.host, next)
	const event = "agent: facade port refused a request without the account's credential"
	refuse := func(port http.Handler) {
		t.Helper()
		if r := do(port, "GET", "/uapi/x", "", http.Header{"Appsecret": {"guess-secret"}}); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong secret = %d; want 401", r.status)
		}
	}
	for range 30 {
		refuse(kisPort)
	}
	refuse(kiwoomPort)
	if n := strings.Count(e.logs.String(), event); n != 2 {
		t.Fatalf("%d warnings for 30 refusals on one port and 1 on another; want 2:\n%s", n, e.logs)
	}
	clk.Advance(59 * time.Second)
	refuse(kisPort)
	clk.Advance(time.Second)
	refuse(kisPort)
	logs := e.logs.String()
	if n := strings.Count(logs, event); n != 3 {
		t.Fatalf("%d warnings a minute later; want 3:\n%s", n, logs)
	}
	last := logs[strings.LastIndex(logs, event):]
	if !strings.Contains(last, "account=kis-mock suppressed.count=30 suppressed.since=2026-01-05T09:00:00.000Z") {
		t.Errorf("the warning a minute later = %q; want kis-mock's with suppressed=30 since the first held back", last)
	}
	if strings.Contains(logs, "guess-secret") {
		t.Error("the logs hold the secret sent")
	}
}
