package proxy

import (
	"net/http"
	"strings"
	"sync"
	"testing"
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
