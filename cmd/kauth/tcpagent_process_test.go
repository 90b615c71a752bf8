package main

import (
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/winetest"
)

// TestProcessAgentOverTCP runs kauth serve as it runs on windows: loopback
// TCP with the agent key and no unix socket (the default there; socket:
// off elsewhere), with the file store. The other commands reach it through
// the config's listen.tcp, without --addr: health, token --account,
// status --agent, and
// reload, which is how windows reloads (no SIGHUP): an account added is
// served, a bad config is refused and the running one stays. Then it is
// stopped as windows stops a console program (Ctrl-Break to its process
// group; SIGTERM on Unix) with a request in flight, which finishes before
// kauth exits 0.
func TestProcessAgentOverTCP(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	config := filepath.Join(dir, "kauth.yaml")
	env["KAUTH_CONFIG"] = config
	listen := "listen:\n  tcp: " + addr + "\n  key_file: " + filepath.Join(dir, "agent.key") + "\n"
	if runtime.GOOS != "windows" {
		listen += "  socket: off\n"
	}
	paper := "  - name: paper\n    broker: kis\n    env: mock\n    appkey: {env: KIS_APPKEY}\n    appsecret: {env: KIS_APPSECRET}\n"
	second := "  - name: second\n    broker: kiwoom\n    env: mock\n    appkey: {env: KIWOOM_APPKEY}\n    appsecret: {env: KIWOOM_SECRETKEY}\n"
	writeConfig := func(body string) {
		t.Helper()
		if err := os.WriteFile(config, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(listen + "accounts:\n" + paper)

	cmd := kauthCommand(t, env, "serve")
	ownConsoleGroup(cmd)
	d := startDaemonCmd(t, cmd)
	d.waitLine(t, regexp.MustCompile(`^\s+tcp\s+http://`+regexp.QuoteMeta(addr)+` `))
	d.waitLine(t, regexp.MustCompile(`^\s+accounts\s+paper$`))
	if out := d.output(); regexp.MustCompile(`(?m)^\s+socket\s`).MatchString(out) {
		t.Errorf("kauth serve serves a socket:\n%s", out)
	}

	r := runProcess(t, env, "", "health")
	r.wantCode(t, 0)
	if !strings.HasPrefix(r.stdout, "ok: 1 accounts") || !strings.Contains(r.stdout, addr) {
		t.Errorf("kauth health printed %q; want ok, 1 account and %s", r.stdout, addr)
	}
	tokenOf := func(account string, b kauth.Broker) {
		t.Helper()
		r := runProcess(t, env, "", "token", "--account", account)
		r.wantCode(t, 0)
		key, _ := fakeApp(b)
		if tok, _, _ := sim.CurrentToken(b, kauth.Mock, key); tok == "" || r.stdout != tok+"\n" {
			t.Errorf("kauth token --account %s printed something else than %s's token", account, b)
		}
	}
	tokenOf("paper", kauth.KIS)
	r = runProcess(t, env, "", "status", "--agent")
	r.wantCode(t, 0)
	if !strings.Contains(r.stdout, "paper") {
		t.Errorf("kauth status --agent does not list the account paper:\n%s", r.stdout)
	}

	// Reload: an account added is served.
	writeConfig(listen + "accounts:\n" + paper + second)
	r = runProcess(t, env, "", "reload")
	r.wantCode(t, 0)
	if !strings.Contains(r.stdout, "2 accounts") {
		t.Errorf("kauth reload printed %q; want 2 accounts", r.stdout)
	}
	tokenOf("second", kauth.Kiwoom)
	// A bad config is refused in one line, exit 2, and the one in force
	// stays.
	writeConfig(listen + "accounts:\n" + paper + second + second)
	r = runProcess(t, env, "", "reload")
	r.wantCode(t, 2)
	if !strings.Contains(r.stderr, "keeps the one in force") {
		t.Errorf("kauth reload of a bad config: stderr = %q", r.stderr)
	}
	tokenOf("second", kauth.Kiwoom)
	r = runProcess(t, env, "", "health")
	r.wantCode(t, 0)
	if !strings.HasPrefix(r.stdout, "ok: 2 accounts") {
		t.Errorf("after the refused reload kauth health printed %q; want ok and the 2 accounts in force", r.stdout)
	}

	// The stop, with a slow broker answer in flight.
	t.Run("stop", func(t *testing.T) {
		key, err := os.ReadFile(filepath.Join(dir, "agent.key"))
		if err != nil {
			t.Fatal(err)
		}
		sim.Inject(brokersim.Fault{Path: "/uapi/domestic-stock/v1/quotations/inquire-price", Kind: brokersim.Latency, Delay: time.Second})
		before := sim.Stats().Requests
		type answer struct {
			status int
			err    error
		}
		inFlight := make(chan answer, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/proxy/paper/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(key)))
			req.Header.Set("tr_id", "FHKST01010100")
			req.Header.Set("custtype", "P")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				inFlight <- answer{0, err}
				return
			}
			resp.Body.Close()
			inFlight <- answer{resp.StatusCode, nil}
		}()
		for deadline := time.Now().Add(10 * time.Second); sim.Stats().Requests == before; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the proxied request did not reach the broker:\n%s", d.output())
			}
		}
		if err := consoleStop(t, d); err != nil {
			// Wine 8.0 answers every GenerateConsoleCtrlEvent with
			// an error, on a terminal's console too.
			winetest.Skip(t, "console control events (GenerateConsoleCtrlEvent: "+err.Error()+")")
			t.Fatalf("stopping kauth serve: %v", err)
		}
		if a := <-inFlight; a.err != nil || a.status != http.StatusOK {
			t.Errorf("the request in flight at the stop: %d %v; want 200", a.status, a.err)
		}
		select {
		case <-d.done:
		case <-time.After(15 * time.Second):
			t.Fatalf("kauth serve did not stop:\n%s", d.output())
		}
		err = d.cmd.Wait()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		if code := d.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("kauth serve exited %d; want 0\n%s", code, d.output())
		}
		if out := d.output(); !strings.Contains(out, "agent: closed") {
			t.Errorf("kauth serve did not log its close:\n%s", out)
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Error("the agent's port still accepts after the stop")
		}
	})
}
