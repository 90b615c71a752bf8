package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/agentsim"
	"github.com/kauth/kauth/internal/testlog"
)

func TestReload(t *testing.T) {
	h := newHarness(t, setup{})
	kisTok := h.token("kis-mock")
	realTok := h.token("kis-real")
	h.token("kiwoom-mock")
	before := h.sim.Stats().Issued

	// kis-mock: same app, new rate limit; kis-real: unchanged;
	// kiwoom-mock: removed; kiwoom-real: added.
	cfg := h.cfg
	cfg.Accounts = []agent.Account{h.cfg.Accounts[0], h.cfg.Accounts[2], {
		Name: "kiwoom-real", Broker: "kiwoom", Env: "real",
		AppKey:    agent.Secret{Value: brokersim.DemoKiwoomReal.AppKey},
		AppSecret: agent.Secret{Value: brokersim.DemoKiwoomReal.Secret},
		BaseURL:   brokersim.BaseURL(h.simURL, kauth.Kiwoom, kauth.Real),
	}}
	cfg.Accounts[0].RateLimit = 5
	h.secrets = append(h.secrets, brokersim.DemoKiwoomReal.AppKey, brokersim.DemoKiwoomReal.Secret)
	if err := h.agent.Reload(cfg); err != nil {
		t.Fatalf("Reload: %v", err)
	}

	if got := h.token("kis-mock"); got.AccessToken != kisTok.AccessToken {
		t.Error("Reload replaced the kis-mock token")
	}
	if got := h.token("kis-real"); got.AccessToken != realTok.AccessToken {
		t.Error("Reload replaced the kis-real token")
	}
	if r := h.viaUnix("GET", "/v1/accounts/kiwoom-mock/token", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("removed account = %d %s; want 404", r.status, r.body)
	}
	kiwoomOK(t, h.kiwoomInfo("kiwoom-real", nil))
	if got := h.sim.Stats().Issued - before; got != 1 {
		t.Errorf("Reload cost %d issuances; want 1, for the added account", got)
	}
	var in agent.AccountInfo
	h.viaUnix("GET", "/v1/accounts/kis-mock", nil, nil).json(t, &in)
	if in.RateLimit != 5 {
		t.Errorf("kis-mock rate_limit after Reload = %v; want 5", in.RateLimit)
	}
	if m := h.metrics(); strings.Contains(m, `account="kiwoom-mock"`) {
		t.Errorf("metrics still report the removed account:\n%s", grep(m, "kauth_"))
	}

	// A bad config changes nothing.
	bad := cfg
	bad.Accounts = append(append([]agent.Account{}, cfg.Accounts...), cfg.Accounts[0])
	if err := h.agent.Reload(bad); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("Reload with a duplicate account: err = %v", err)
	}
	var list struct{ Accounts []agent.AccountInfo }
	h.viaUnix("GET", "/v1/accounts", nil, nil).json(t, &list)
	if len(list.Accounts) != 3 {
		t.Errorf("after a failed Reload: %d accounts; want the 3 of the last good config", len(list.Accounts))
	}
	// Reloading the same config is free.
	before = h.sim.Stats().Issued
	if err := h.agent.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	h.token("kis-mock")
	h.token("kiwoom-real")
	if got := h.sim.Stats().Issued - before; got != 0 {
		t.Errorf("an identical Reload cost %d issuances; want 0", got)
	}
}

func TestGracefulShutdown(t *testing.T) {
	h := newHarness(t, setup{})
	h.token("kis-mock")
	// A slow broker answer is in flight when the agent is told to stop.
	h.sim.Inject(brokersim.Fault{Path: "/uapi/domestic-stock/v1/quotations/inquire-price", Kind: brokersim.Latency, Delay: 400 * time.Millisecond})
	before := h.sim.Stats().Requests
	done := make(chan response, 1)
	go func() { done <- h.kisPrice("kis-mock", nil) }()
	eventually(t, "the request reached the broker", func() bool { return h.sim.Stats().Requests > before })

	h.cancel()
	select {
	case err := <-h.served:
		t.Fatalf("ListenAndServe returned (%v) before the request in flight finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	kisOK(t, <-done)
	if err := <-h.served; err != nil {
		t.Fatalf("ListenAndServe: %v", err)
	}
	h.cancel = nil // served is drained

	// Stopped accepting: the socket is gone, TCP refuses.
	if _, err := os.Stat(h.ep.Socket); !os.IsNotExist(err) {
		t.Errorf("socket still there after shutdown: %v", err)
	}
	if c, err := net.DialTimeout("tcp", h.ep.TCP, time.Second); err == nil {
		c.Close()
		t.Error("TCP still accepts after shutdown")
	}
	if err := h.agent.Close(); err != nil {
		t.Fatal(err)
	}
	h.closed = true
	if n := h.sim.Stats().Revoked; n != 0 {
		t.Errorf("revoked %d tokens on shutdown; revoke_on_shutdown is off by default", n)
	}
	if err := h.agent.Reload(h.cfg); err == nil {
		t.Error("Reload after Close succeeded")
	}
}

func TestShutdownDeadline(t *testing.T) {
	h := newHarness(t, setup{cfg: func(c *agent.Config) { c.ShutdownTimeout = 200 * time.Millisecond }})
	h.token("kis-mock")
	// A broker that never answers must not hold the shutdown past its
	// deadline.
	h.sim.Inject(brokersim.Fault{Path: "/uapi/domestic-stock/v1/quotations/inquire-price", Kind: brokersim.Hang, Delay: 10 * time.Second})
	before := h.sim.Stats().Requests
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://localhost/proxy/kis-mock/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
		req.Header.Set("tr_id", "FHKST01010100")
		resp, err := h.unix.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	eventually(t, "the request reached the broker", func() bool { return h.sim.Stats().Requests > before })
	start := time.Now()
	h.close()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("shutdown took %v; the deadline is 200ms", took)
	}
	<-done
}

func TestCloseStopsServing(t *testing.T) {
	h := newHarness(t, setup{})
	h.token("kis-mock")
	if err := h.agent.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-h.served:
		if err != nil {
			t.Errorf("ListenAndServe after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListenAndServe still serves after Close")
	}
	h.cancel, h.closed = nil, true
	if err := h.agent.ListenAndServe(context.Background()); err == nil {
		t.Error("ListenAndServe after Close succeeded")
	}
	if err := h.agent.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestRevokeOnShutdown(t *testing.T) {
	h := newHarness(t, setup{cfg: func(c *agent.Config) { c.RevokeOnShutdown = true }})
	toks := map[string]string{}
	for _, name := range []string{"kis-mock", "kiwoom-mock", "kis-real"} {
		toks[name] = h.token(name).AccessToken
	}
	h.close()
	if n := h.sim.Stats().Revoked; n != 3 {
		t.Errorf("revoked %d tokens on shutdown; want 3", n)
	}
	if _, _, ok := h.sim.CurrentToken(kauth.KIS, kauth.Mock, kisMock.AppKey); ok {
		t.Error("the simulator still holds the kis-mock token")
	}
}

func TestServeOnOwnListeners(t *testing.T) {
	// Serve works on listeners the caller made, such as a socket handed
	// over by systemd.
	h := newHarness(t, setup{noServe: true, cfg: func(c *agent.Config) {
		c.Listen.KeyFile = filepath.Join(os.TempDir(), "unused")
	}})
	h.cfg.Listen.KeyFile = ""
	dir := shortTempDir(t)
	cfg := h.cfg
	cfg.Listen.KeyFile = filepath.Join(dir, "agent.key")
	if err := h.agent.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	uln, err := net.Listen("unix", filepath.Join(dir, "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 2)
	go func() { errc <- h.agent.Serve(ctx, uln) }()
	go func() { errc <- h.agent.Serve(ctx, tln) }()

	c := unixClient(uln.Addr().String())
	defer c.CloseIdleConnections()
	var r response
	eventually(t, "the socket serves", func() bool {
		resp, err := c.Get("http://localhost/v1/accounts/kis-mock/token")
		if err != nil {
			return false
		}
		resp.Body.Close()
		r.status = resp.StatusCode
		return true
	})
	if r.status != 200 {
		t.Errorf("token via own socket = %d", r.status)
	}
	var key []byte
	eventually(t, "Serve on TCP wrote the key file", func() bool {
		key, err = os.ReadFile(cfg.Listen.KeyFile)
		return err == nil
	})
	req, _ := http.NewRequest("GET", "http://"+tln.Addr().String()+"/v1/accounts", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(key)))
	tc := &http.Client{Transport: &http.Transport{}}
	defer tc.CloseIdleConnections()
	resp, err := tc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /v1/accounts via own TCP listener = %s", resp.Status)
	}
	cancel()
	for range 2 {
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
}

func TestDaemonSim(t *testing.T) {
	dir := shortTempDir(t)
	logs := new(testlog.Buffer)
	env := map[string]string{"XDG_RUNTIME_DIR": filepath.Join(dir, "run"), "KAUTH_CACHE_DIR": filepath.Join(dir, "cache")}
	d := &agent.Daemon{Sim: agentsim.Start, Addr: "127.0.0.1:0", Options: agent.Options{
		Getenv: func(k string) string { return env[k] },
		Logger: logs.Logger(),
	}}
	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()
	select {
	case <-d.Ready():
	case err := <-ran:
		t.Fatalf("Run: %v", err)
	}
	ep := d.Endpoints()
	if want := filepath.Join(dir, "run", "kauth", "agent.sock"); ep.Socket != want {
		t.Errorf("socket %q; want %q", ep.Socket, want)
	}
	if want := filepath.Join(dir, "cache", "agent.key"); ep.KeyFile != want {
		t.Errorf("key file %q; want %q", ep.KeyFile, want)
	}
	if !strings.HasPrefix(d.SimURL(), "http://127.0.0.1:") {
		t.Errorf("SimURL = %q", d.SimURL())
	}
	h := &harness{t: t, unix: unixClient(ep.Socket), tokens: map[string]bool{}}
	defer h.unix.CloseIdleConnections()
	var list struct{ Accounts []agent.AccountInfo }
	h.viaUnix("GET", "/v1/accounts", nil, nil).json(t, &list)
	var names []string
	for _, a := range list.Accounts {
		names = append(names, a.Name)
	}
	var want []string
	for _, a := range brokersim.DemoApps() {
		want = append(want, string(a.Broker)+"-"+string(a.Env))
	}
	slices.Sort(want)
	if got := strings.Join(names, ","); got != strings.Join(want, ",") {
		t.Errorf("accounts %s; want the demo apps %v", got, want)
	}
	kisOK(t, h.kisPrice("kis-mock", nil))
	kiwoomOK(t, h.kiwoomInfo("kiwoom-real", nil))
	tok := h.token("kis-real")
	if err := d.Reload(); err != nil {
		t.Errorf("Reload with Sim: %v", err)
	}

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
	out := logs.String()
	for _, app := range brokersim.DemoApps() {
		if strings.Contains(out, app.AppKey) || strings.Contains(out, app.Secret) {
			t.Errorf("logs reveal the %s credentials", app)
		}
	}
	if strings.Contains(out, tok.AccessToken) {
		t.Error("logs reveal a token")
	}
}

func TestDaemonConfigFileReload(t *testing.T) {
	// The daemon shares the harness agent's store, as two agents on one
	// host share the file store: the token the harness's keeper got is
	// reused, not issued again (which KIS would refuse within the minute).
	store := kauth.NewMemoryStore()
	h := newHarness(t, setup{noServe: true, opts: func(o *agent.Options) { o.Store = store }})
	dir := shortTempDir(t)
	writeFile(t, dir, "kiwoom.secret", kiwoomMock.Secret, 0o600)
	write := func(withKiwoom bool) string {
		doc := fmt.Sprintf(`
listen:
  socket: %s/agent.sock
accounts:
  - name: kis-mock
    broker: kis
    env: mock
    appkey: {env: KIS_MOCK_KEY}
    appsecret: {env: KIS_MOCK_SECRET}
    base_url: %s/kis/mock
`, dir, h.simURL)
		if withKiwoom {
			doc += fmt.Sprintf(`
  - name: kiwoom-mock
    broker: kiwoom
    env: mock
    appkey: {env: KIWOOM_MOCK_KEY}
    appsecret: {file: kiwoom.secret}
    base_url: %s/kiwoom/mock
`, h.simURL)
		}
		return writeFile(t, dir, "kauth.yaml", doc, 0o644)
	}
	h.env["KIWOOM_MOCK_KEY"] = kiwoomMock.AppKey
	path := write(false)
	d := &agent.Daemon{ConfigFile: path, Options: agent.Options{Getenv: h.getenv, Logger: h.agent0Logger(), Store: store}}
	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()
	select {
	case <-d.Ready():
	case err := <-ran:
		t.Fatalf("Run: %v", err)
	}
	h.unix = unixClient(d.Endpoints().Socket)
	defer h.unix.CloseIdleConnections()
	tok := h.token("kis-mock")

	write(true)
	if err := d.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	kiwoomOK(t, h.kiwoomInfo("kiwoom-mock", nil))
	if got := h.token("kis-mock"); got.AccessToken != tok.AccessToken {
		t.Error("Reload replaced the kis-mock token")
	}
	if n := h.sim.Issued(kauth.KIS, kauth.Mock, kisMock.AppKey); n != 1 {
		t.Errorf("issued %d kis-mock tokens; want 1", n)
	}

	// A broken file is refused, and the running config stays.
	writeFile(t, dir, "kauth.yaml", "accounts:\n  - name: x\n    brokr: kis\n", 0o644)
	if err := d.Reload(); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("Reload of a broken file: err = %v; want one naming line 3", err)
	}
	kiwoomOK(t, h.kiwoomInfo("kiwoom-mock", nil))

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// agent0Logger logs into the harness's buffer, so that its secret check
// covers the daemon too.
func (h *harness) agent0Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestReloadDrainsRequests: a Reload that removes an account does not close
// its Manager under a request still using it. Here the request's token was
// rejected by the broker and the proxy is getting a new one, slowly, when
// the account is removed: the request still succeeds, and the Manager is
// closed after it.
func TestReloadDrainsRequests(t *testing.T) {
	h := newHarness(t, setup{})
	old := h.token("kiwoom-mock")
	h.sim.InvalidateToken(old.AccessToken) // behind the agent's back
	h.sim.Inject(brokersim.Fault{Broker: kauth.Kiwoom, Path: "/oauth2/token", Kind: brokersim.Latency, Delay: 300 * time.Millisecond})
	rejected := h.sim.Stats().TokenRejected
	done := make(chan response, 1)
	go func() { done <- h.kiwoomInfo("kiwoom-mock", nil) }()
	eventually(t, "the broker rejected the request's token", func() bool { return h.sim.Stats().TokenRejected > rejected })

	cfg := h.cfg
	cfg.Accounts = []agent.Account{h.cfg.Accounts[0], h.cfg.Accounts[2]} // without kiwoom-mock
	if err := h.agent.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	kiwoomOK(t, <-done)
	if r := h.viaUnix("GET", "/v1/accounts/kiwoom-mock/token", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("removed account = %d %s; want 404", r.status, r.body)
	}
}

// TestAccountsOnOneAppKey: two accounts on one app key share their token
// through the agent's store. When one heals a token the broker rejected,
// the other serves the new token at once, not the dead one.
func TestAccountsOnOneAppKey(t *testing.T) {
	h := newHarness(t, setup{cfg: func(c *agent.Config) {
		twin := c.Accounts[1] // kiwoom-mock
		twin.Name = "kiwoom-mock-twin"
		c.Accounts = append(c.Accounts, twin)
	}})
	old := h.token("kiwoom-mock")
	if twin := h.token("kiwoom-mock-twin"); twin.AccessToken != old.AccessToken {
		t.Fatal("two accounts on one app key hold different tokens")
	}
	h.sim.InvalidateToken(old.AccessToken)        // behind the agent's back
	kiwoomOK(t, h.kiwoomInfo("kiwoom-mock", nil)) // rejected, healed, retried
	fresh := h.token("kiwoom-mock")
	if fresh.AccessToken == old.AccessToken {
		t.Fatal("kiwoom-mock still serves the rejected token")
	}
	eventually(t, "the twin account serves the new token", func() bool {
		return h.token("kiwoom-mock-twin").AccessToken == fresh.AccessToken
	})
}
