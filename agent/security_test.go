package agent_test

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kauth/kauth/agent"
)

func TestTCPNeedsTheKey(t *testing.T) {
	h := newHarness(t, setup{})
	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"no key", "", 401},
		{"wrong key", "Bearer " + strings.Repeat("A", 43), 401},
		{"not bearer", "Basic " + h.key, 401},
		{"key", "Bearer " + h.key, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{"Authorization": {tc.auth}}
			if tc.auth == "" {
				hdr = http.Header{"Authorization": nil}
			}
			for _, path := range []string{"/v1/accounts/kis-mock/token", "/v1/accounts", "/metrics", "/proxy/kis-mock/uapi/domestic-stock/v1/quotations/inquire-price"} {
				r := h.viaTCP("GET", path, nil, hdr)
				if tc.status == 401 {
					if r.status != 401 || r.errorCode(t) != "unauthenticated" || r.header.Get("WWW-Authenticate") == "" {
						t.Errorf("GET %s = %d %s; want 401 unauthenticated with WWW-Authenticate", path, r.status, r.body)
					}
					if strings.Contains(string(r.body), h.key) {
						t.Errorf("GET %s: the answer reveals the key", path)
					}
				} else if path != "/proxy/kis-mock/uapi/domestic-stock/v1/quotations/inquire-price" && r.status != 200 {
					t.Errorf("GET %s = %d %s; want 200", path, r.status, r.body)
				}
			}
		})
	}
	// Health checks need no key.
	if r := h.viaTCP("GET", "/healthz", nil, http.Header{"Authorization": nil}); r.status != 200 {
		t.Errorf("GET /healthz without key = %d %s", r.status, r.body)
	}
	// The socket needs no key.
	if r := h.viaUnix("GET", "/v1/accounts", nil, nil); r.status != 200 {
		t.Errorf("GET /v1/accounts via the socket = %d %s", r.status, r.body)
	}
}

func TestBrowserAndRebindingRefused(t *testing.T) {
	h := newHarness(t, setup{})
	_, port, _ := net.SplitHostPort(h.ep.TCP)
	for _, tc := range []struct {
		name   string
		hdr    http.Header
		host   string
		status int
		code   string
	}{
		{"origin", http.Header{"Origin": {"https://evil.example"}}, "", 403, "forbidden_origin"},
		{"null origin", http.Header{"Origin": {"null"}}, "", 403, "forbidden_origin"},
		{"cross-site fetch", http.Header{"Sec-Fetch-Site": {"cross-site"}}, "", 403, "forbidden_origin"},
		{"rebound host", nil, "evil.example", 403, "forbidden_host"},
		{"rebound host with port", nil, "evil.example:8700", 403, "forbidden_host"},
		{"localhost", nil, "localhost:" + port, 200, ""},
		{"127.0.0.1", nil, "127.0.0.1", 200, ""},
		{"[::1]", nil, "[::1]:" + port, 200, ""},
		{"[::1] without port", nil, "[::1]", 200, ""},
		// Exactly loopback names and the agent's own port.
		{"localhost, another port", nil, "localhost:1", 403, "forbidden_host"},
		{"localhost:evil", nil, "localhost:evil", 403, "forbidden_host"},
		{"[localhost]", nil, "[localhost]", 403, "forbidden_host"},
		{"[localhost] with port", nil, "[localhost]:" + port, 403, "forbidden_host"},
		{"localhost.", nil, "localhost.", 403, "forbidden_host"},
		{"127.1", nil, "127.1:" + port, 403, "forbidden_host"},
		{"localhost.evil.example", nil, "localhost.evil.example", 403, "forbidden_host"},
		{"port with sign", nil, "localhost:+" + port, 403, "forbidden_host"},
		{"port with zeros", nil, "localhost:0" + port, 403, "forbidden_host"},
		{"typed in the address bar", http.Header{"Sec-Fetch-Site": {"none"}}, "", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+h.ep.TCP+"/v1/accounts/kis-mock/token", nil)
			for k, v := range tc.hdr {
				req.Header[k] = v
			}
			req.Header.Set("Authorization", "Bearer "+h.key)
			if tc.host != "" {
				req.Host = tc.host
			}
			resp, err := h.tcp.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r := response{resp.StatusCode, resp.Header, body}
			if r.status != tc.status {
				t.Fatalf("= %d %s; want %d", r.status, body, tc.status)
			}
			if tc.code != "" {
				if got := r.errorCode(t); got != tc.code {
					t.Errorf("code = %q; want %q", got, tc.code)
				}
			} else {
				h.sawToken(jsonField(t, body, "access_token"))
			}
		})
	}
	// Origin is refused on the socket too.
	if r := h.viaUnix("GET", "/v1/accounts", nil, http.Header{"Origin": {"http://localhost"}}); r.status != 403 {
		t.Errorf("Origin via the socket = %d; want 403", r.status)
	}
	// The socket accepts any Host: browsers cannot reach it, and clients
	// such as requests-unixsocket send the socket path as the Host.
	req, _ := http.NewRequest("GET", "http://localhost/v1/accounts", nil)
	req.Host = "%2Ftmp%2Fagent.sock"
	resp, err := h.unix.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("odd Host via the socket = %s; want 200", resp.Status)
	}
}

func TestBodyTooLarge(t *testing.T) {
	h := newHarness(t, setup{cfg: func(c *agent.Config) { c.MaxBodyBytes = 1024 }})
	big := strings.Repeat("x", 2048)
	for _, tc := range []struct {
		name string
		body io.Reader
	}{
		{"with length", strings.NewReader(`{"stk_cd":"` + big + `"}`)},
		// No Content-Length: the limit must hold while reading.
		{"chunked", io.MultiReader(strings.NewReader(`{"stk_cd":"`), strings.NewReader(big), strings.NewReader(`"}`))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/proxy/kiwoom-mock/api/dostk/stkinfo", "/v1/accounts/kis-mock/invalidate"} {
				r := h.viaUnix("POST", path, tc.body, http.Header{"Api-Id": {"ka10001"}})
				if r.status != http.StatusRequestEntityTooLarge || r.errorCode(t) != "body_too_large" {
					t.Errorf("POST %s with %d bytes = %d %s; want 413 body_too_large", path, len(big), r.status, r.body)
				}
				tc.body = strings.NewReader(`{"token":"` + big + `"}`)
			}
		})
	}
	// Under the limit is fine.
	kiwoomOK(t, h.kiwoomInfo("kiwoom-mock", nil))
	if n := h.sim.Stats().Calls; n != 1 {
		t.Errorf("the simulator saw %d calls; want only the small one", n)
	}
}

func TestNonLoopbackRefused(t *testing.T) {
	h := newHarness(t, setup{noServe: true})
	base := agent.Config{Accounts: []agent.Account{{
		Name: "kis-mock", Broker: "kis", Env: "mock",
		AppKey: agent.Secret{Env: "KIS_MOCK_KEY"}, AppSecret: agent.Secret{Env: "KIS_MOCK_SECRET"},
		BaseURL: h.simURL + "/kis/mock",
	}}}
	for _, addr := range []string{"0.0.0.0:0", ":8700", "[::]:0", "192.0.2.1:8700", "example.com:80"} {
		cfg := base
		cfg.Listen.TCP = addr
		_, err := agent.New(cfg, agent.Options{Getenv: h.getenv, Logger: discard()})
		if err == nil || !strings.Contains(err.Error(), "allow_non_loopback") {
			t.Errorf("New with tcp %q: err = %v; want a refusal that names allow_non_loopback", addr, err)
		}
	}
	// Serve refuses a listener on all interfaces too.
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skipf("cannot listen on 0.0.0.0: %v", err)
	}
	if err := h.agent.Serve(context.Background(), ln); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("Serve on 0.0.0.0: err = %v; want a refusal", err)
	}
	// Allowed explicitly, it builds.
	cfg := base
	cfg.Listen = agent.Listen{TCP: "0.0.0.0:0", AllowNonLoopback: true}
	a, err := agent.New(cfg, agent.Options{Getenv: h.getenv, Logger: discard()})
	if err != nil {
		t.Fatalf("New with allow_non_loopback: %v", err)
	}
	a.Close()
}

func TestFileModes(t *testing.T) {
	h := newHarness(t, setup{})
	for _, tc := range []struct {
		path string
		mode os.FileMode
	}{
		{h.ep.Socket, 0o600},
		{h.ep.KeyFile, 0o600},
		{filepath.Dir(h.ep.Socket), 0o700},
		{filepath.Dir(h.ep.KeyFile), 0o700},
	} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != tc.mode {
			t.Errorf("%s mode = %04o; want %04o", tc.path, got, tc.mode)
		}
	}
	if fi, _ := os.Lstat(h.ep.Socket); fi.Mode().Type() != os.ModeSocket {
		t.Errorf("%s is not a socket", h.ep.Socket)
	}
	raw, err := base64.RawURLEncoding.DecodeString(h.key)
	if err != nil || len(raw) != 32 {
		t.Errorf("key %d bytes, err %v; want 32 random bytes, base64url", len(raw), err)
	}
}

func TestKeySurvivesRestart(t *testing.T) {
	dir := shortTempDir(t)
	keyFile := filepath.Join(dir, "agent.key")
	run := func() string {
		h := newHarness(t, setup{cfg: func(c *agent.Config) { c.Listen.KeyFile = keyFile }})
		defer h.close()
		return h.key
	}
	first := run()
	if second := run(); second != first {
		t.Error("the key changed across restarts; running bots would lose access")
	}
}

func TestSocketInUse(t *testing.T) {
	h := newHarness(t, setup{})
	cfg := agent.Config{
		Listen: agent.Listen{Socket: h.ep.Socket},
		Accounts: []agent.Account{{Name: "kis-mock", Broker: "kis", Env: "mock",
			AppKey: agent.Secret{Env: "KIS_MOCK_KEY"}, AppSecret: agent.Secret{Env: "KIS_MOCK_SECRET"},
			BaseURL: h.simURL + "/kis/mock"}},
	}
	a, err := agent.New(cfg, agent.Options{Getenv: h.getenv, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.ListenAndServe(context.Background()); err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Errorf("second agent on the same socket: err = %v; want a clear refusal", err)
	}
	// The first agent still serves.
	if r := h.viaUnix("GET", "/healthz", nil, nil); r.status != 200 {
		t.Errorf("first agent after the refusal: %d", r.status)
	}
}
