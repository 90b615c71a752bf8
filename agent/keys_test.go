package agent_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
)

// TestBadKeyFileRefused: an agent key file with a
// loose mode, garbage or a symlink is refused with the command that fixes
// it, and left as it is; bots holding the key are not silently locked out.
func TestBadKeyFileRefused(t *testing.T) {
	dir := shortTempDir(t)
	good := strings.Repeat("A", 43)
	target := writeFile(t, dir, "target.key", good, 0o600)
	for _, tc := range []struct {
		name    string
		prepare func(path string)
		want    string
	}{
		{"loose mode", func(p string) { writeFile(t, filepath.Dir(p), filepath.Base(p), good, 0o644) }, "chmod 600 "},
		{"group readable", func(p string) { writeFile(t, filepath.Dir(p), filepath.Base(p), good, 0o640) }, "chmod 600 "},
		{"garbage", func(p string) { writeFile(t, filepath.Dir(p), filepath.Base(p), "not a key", 0o600) }, "rm "},
		{"short key", func(p string) { writeFile(t, filepath.Dir(p), filepath.Base(p), "AAAA", 0o600) }, "rm "},
		{"symlink", func(p string) { os.Symlink(target, p) }, "symlink"},
		{"directory", func(p string) { os.Mkdir(p, 0o700) }, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			os.Mkdir(sub, 0o700)
			path := filepath.Join(sub, "agent.key")
			tc.prepare(path)
			before, _ := os.Lstat(path)
			a, err := agent.New(agent.Config{
				Listen:   agent.Listen{Socket: agent.SocketOff, TCP: "127.0.0.1:0", KeyFile: path},
				Accounts: []agent.Account{{Name: "a", Broker: "kis", Env: "mock", AppKey: agent.Secret{Value: "k"}, AppSecret: agent.Secret{Value: "s"}}},
			}, agent.Options{Logger: discard(), HTTPClient: deadClient(), Getenv: func(string) string { return "" }})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			err = a.ListenAndServe(context.Background())
			var ce *agent.ConfigError
			if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("ListenAndServe = %v; want a ConfigError naming %s and %q", err, path, tc.want)
			}
			if strings.Contains(err.Error(), good) {
				t.Error("the error shows the key")
			}
			after, _ := os.Lstat(path)
			if !os.SameFile(before, after) || before.Mode() != after.Mode() {
				t.Error("the key file was replaced")
			}
		})
	}
}

// TestClientKeysScopedToAccounts: a client key opens only its accounts —
// their token, proxy, invalidate reports and info — and the agent key still
// opens all. Keys rotate on Reload (SIGHUP) by deleting or replacing their
// files.
func TestClientKeysScopedToAccounts(t *testing.T) {
	dir := shortTempDir(t)
	botFile := filepath.Join(dir, "keys", "bot.key") // created by the agent
	h := newHarness(t, setup{cfg: func(c *agent.Config) {
		c.ClientKeys = []agent.ClientKey{{Name: "bot", File: botFile, Accounts: []string{"kis-mock"}}}
	}})
	fi, err := os.Stat(botFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("client key file: %v %v; want it created 0600", fi, err)
	}
	readKey := func(p string) string { b, _ := os.ReadFile(p); return strings.TrimSpace(string(b)) }
	bot := readKey(botFile)
	as := func(key string) http.Header { return http.Header{"Authorization": {"Bearer " + key}} }
	type call struct {
		method, path, body string
		hdr                http.Header
	}
	kisCalls := []call{
		{"GET", "/v1/accounts/kis-mock/token", "", nil},
		{"GET", "/v1/accounts/kis-mock", "", nil},
		{"POST", "/v1/accounts/kis-mock/invalidate", `{"token":"old"}`, nil},
		{"GET", "/proxy/kis-mock/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", "", http.Header{"tr_id": {"FHKST01010100"}}},
	}
	other := []call{
		{"GET", "/v1/accounts/kiwoom-mock/token", "", nil},
		{"GET", "/v1/accounts/kiwoom-mock", "", nil},
		{"POST", "/v1/accounts/kiwoom-mock/invalidate", `{"token":"x"}`, nil},
		{"POST", "/proxy/kiwoom-mock/api/dostk/stkinfo", `{"stk_cd":"005930"}`, http.Header{"api-id": {"ka10001"}}},
		{"GET", "/v1/accounts/kis-real/token", "", nil},
		{"GET", "/v1/accounts/no-such-account/token", "", nil}, // 403, not 404: no probing of names
		{"GET", "/metrics", "", nil},
	}
	do := func(c call, key string) response {
		hdr := as(key)
		for k, v := range c.hdr {
			hdr[k] = v
		}
		var body *strings.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		if body == nil {
			return h.viaTCP(c.method, c.path, nil, hdr)
		}
		return h.viaTCP(c.method, c.path, body, hdr)
	}
	check := func(key string, wantKIS, wantOther int) {
		t.Helper()
		for _, c := range kisCalls {
			if r := do(c, key); r.status != wantKIS {
				t.Errorf("%s %s = %d %s; want %d", c.method, c.path, r.status, r.body, wantKIS)
			}
		}
		for _, c := range other {
			r := do(c, key)
			if r.status != wantOther {
				t.Errorf("%s %s = %d %s; want %d", c.method, c.path, r.status, r.body, wantOther)
			} else if wantOther == 403 && r.errorCode(t) != "forbidden_account" {
				t.Errorf("%s %s: code %s; want forbidden_account", c.method, c.path, r.errorCode(t))
			}
		}
	}
	check(bot, 200, 403)
	var list struct{ Accounts []agent.AccountInfo }
	h.viaTCP("GET", "/v1/accounts", nil, as(bot)).json(t, &list)
	if len(list.Accounts) != 1 || list.Accounts[0].Name != "kis-mock" {
		t.Errorf("GET /v1/accounts with the bot key lists %+v; want kis-mock only", list.Accounts)
	}
	// The agent key opens everything.
	if r := h.viaTCP("GET", "/v1/accounts/kiwoom-mock/token", nil, nil); r.status != 200 {
		t.Errorf("agent key: kiwoom-mock token = %d %s", r.status, r.body)
	}
	// The socket is unchanged: no key, every account.
	if r := h.viaUnix("GET", "/v1/accounts/kiwoom-mock/token", nil, nil); r.status != 200 {
		t.Errorf("socket: kiwoom-mock token = %d %s", r.status, r.body)
	}

	// Rotation by replacing the file, picked up on Reload.
	replaced := strings.Repeat("B", 43)
	writeFile(t, filepath.Dir(botFile), "bot.key", replaced, 0o600)
	if r := h.viaTCP("GET", "/v1/accounts/kis-mock/token", nil, as(replaced)); r.status != 401 {
		t.Errorf("replaced key before Reload = %d; want 401", r.status)
	}
	if err := h.agent.Reload(h.cfg); err != nil {
		t.Fatal(err)
	}
	check(replaced, 200, 403)
	check(bot, 401, 401)
	// Rotation by deleting the file: a new key is made.
	os.Remove(botFile)
	if err := h.agent.Reload(h.cfg); err != nil {
		t.Fatal(err)
	}
	fresh := readKey(botFile)
	if fresh == "" || fresh == replaced {
		t.Fatal("no new key after deleting the file")
	}
	check(fresh, 200, 403)
	check(replaced, 401, 401)
	// A key file gone bad: the reload fails and the keys in force stay.
	os.Chmod(botFile, 0o644)
	if err := h.agent.Reload(h.cfg); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("Reload with a loose client key file = %v; want a refusal with chmod 600", err)
	}
	check(fresh, 200, 403)
	os.Chmod(botFile, 0o600)

	// The agent key rotates the same way.
	old := h.key
	os.Remove(h.ep.KeyFile)
	if err := h.agent.Reload(h.cfg); err != nil {
		t.Fatal(err)
	}
	newKey := readKey(h.ep.KeyFile)
	if newKey == old {
		t.Fatal("the agent key did not rotate")
	}
	if r := h.viaTCP("GET", "/v1/accounts", nil, as(old)); r.status != 401 {
		t.Errorf("old agent key after rotation = %d; want 401", r.status)
	}
	if r := h.viaTCP("GET", "/v1/accounts/kiwoom-mock/token", nil, as(newKey)); r.status != 200 {
		t.Errorf("new agent key = %d %s; want 200", r.status, r.body)
	}
}

// TestClientKeyConfigErrors: a client key naming an unknown account, or
// none, is refused with its field.
func TestClientKeyConfigErrors(t *testing.T) {
	dir := shortTempDir(t)
	acct := agent.Account{Name: "a", Broker: "kis", Env: "mock", AppKey: agent.Secret{Value: "k"}, AppSecret: agent.Secret{Value: "s"}}
	for _, tc := range []struct {
		name string
		ck   agent.ClientKey
		want string
	}{
		{"unknown account", agent.ClientKey{File: filepath.Join(dir, "x.key"), Accounts: []string{"nope"}}, `no account "nope"`},
		{"no accounts", agent.ClientKey{File: filepath.Join(dir, "y.key")}, "accounts is empty"},
		{"no file", agent.ClientKey{Accounts: []string{"a"}}, "file is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := agent.New(agent.Config{Accounts: []agent.Account{acct}, ClientKeys: []agent.ClientKey{tc.ck}},
				agent.Options{Logger: discard(), HTTPClient: deadClient(), Getenv: func(string) string { return "" }})
			if err == nil {
				a.Close()
				t.Fatal("New accepted it")
			}
			if !strings.Contains(err.Error(), "client_keys[0]") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q; want client_keys[0] and %q", err, tc.want)
			}
		})
	}
}

// TestDaemonRotatesClientKeyOnReload: through the daemon as kauth serve
// runs it, a client key file named relative to the config file is created,
// and replacing it takes effect at Reload, which SIGHUP calls.
func TestDaemonRotatesClientKeyOnReload(t *testing.T) {
	dir := shortTempDir(t)
	sim := brokersim.New()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	app := brokersim.DemoKISMock
	config := filepath.Join(dir, "kauth.yaml")
	writeFile(t, dir, "kauth.yaml", "listen:\n  socket: off\n  tcp: 127.0.0.1:0\n  key_file: "+filepath.Join(dir, "agent.key")+
		"\nclient_keys:\n  - name: bot\n    file: keys/bot.key\n    accounts: [kis-mock]\naccounts:\n  - name: kis-mock\n    broker: kis\n    env: mock\n"+
		"    appkey: {env: K}\n    appsecret: {env: S}\n    base_url: "+brokersim.BaseURL(srv.URL, kauth.KIS, kauth.Mock)+"\n", 0o600)
	env := map[string]string{"K": app.AppKey, "S": app.Secret}
	d := &agent.Daemon{ConfigFile: config, Options: agent.Options{Getenv: func(k string) string { return env[k] }, Logger: discard()}}
	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()
	select {
	case <-d.Ready():
	case err := <-ran:
		t.Fatalf("Run: %v", err)
	}
	defer func() {
		d.Close()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	ep := d.Endpoints()
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	status := func(key string) int {
		req, _ := http.NewRequest("GET", "http://"+ep.TCP+"/v1/accounts/kis-mock/token", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	keyFile := filepath.Join(dir, "keys", "bot.key")
	old, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatalf("the client key file was not created beside the config: %v", err)
	}
	if got := status(strings.TrimSpace(string(old))); got != 200 {
		t.Fatalf("bot key = %d; want 200", got)
	}
	next := strings.Repeat("C", 43)
	writeFile(t, filepath.Join(dir, "keys"), "bot.key", next, 0o600)
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := status(next); got != 200 {
		t.Errorf("new bot key after reload = %d; want 200", got)
	}
	if got := status(strings.TrimSpace(string(old))); got != 401 {
		t.Errorf("old bot key after reload = %d; want 401", got)
	}
}
