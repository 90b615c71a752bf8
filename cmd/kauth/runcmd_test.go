package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// childMain is the test binary run by kauth run as its command, with
// KAUTH_TEST_CHILD saying what to do:
//
//	env     print the token's sha256, type and expiry, and exit 0
//	exit=N  exit with status N
//	signal  print "ready", wait for a signal, print its name, then die
//	        of it (the default action)
//	trap    print "ready", wait for a signal, print its name, exit 5
func childMain(mode string) int {
	switch {
	case mode == "env":
		sum := sha256.Sum256([]byte(os.Getenv("KAUTH_TOKEN")))
		fmt.Printf("sha=%s type=%s expires=%s\n", hex.EncodeToString(sum[:]), os.Getenv("KAUTH_TOKEN_TYPE"), os.Getenv("KAUTH_TOKEN_EXPIRES_AT"))
		return 0
	case strings.HasPrefix(mode, "exit="):
		var n int
		fmt.Sscan(strings.TrimPrefix(mode, "exit="), &n)
		return n
	case mode == "signal", mode == "trap":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		fmt.Println("ready")
		sig := <-sigs
		fmt.Println("got", sig.(syscall.Signal).String())
		if mode == "trap" {
			return 5
		}
		signal.Reset()
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			p.Signal(sig)
		}
		time.Sleep(10 * time.Second)
		return 99
	}
	fmt.Fprintln(os.Stderr, "unknown KAUTH_TEST_CHILD", mode)
	return 98
}

// testBinary is the path of the running test binary, run again as a
// command.
func testBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestProcessRunGivesTheCachedToken: kauth run hands its command the
// store's token (one issuance between it and kauth token), its type and
// expiry, and exits with the command's status.
func TestProcessRunGivesTheCachedToken(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	tok := runProcess(t, env, "", "token", "--broker", "kis", "--env", "mock", "--json")
	tok.wantCode(t, 0)
	var want tokenJSON
	if err := json.Unmarshal([]byte(tok.stdout), &want); err != nil {
		t.Fatal(err)
	}

	r := runProcess(t, with(env, "KAUTH_TEST_CHILD", "env", "KAUTH_TOKEN", "stale-outer-token"), "",
		"run", "--broker", "kis", "--env", "mock", "--", testBinary(t))
	r.wantCode(t, 0)
	wantLine := fmt.Sprintf("sha=%s type=Bearer expires=%s\n", sha(want.AccessToken), want.ExpiresAt)
	if r.stdout != wantLine {
		t.Errorf("the command saw %q; want %q", r.stdout, wantLine)
	}
	exp, err := time.Parse(time.RFC3339, want.ExpiresAt)
	if err != nil || !strings.HasSuffix(want.ExpiresAt, "+09:00") || time.Until(exp) < 30*time.Minute {
		t.Errorf("KAUTH_TOKEN_EXPIRES_AT = %q; want RFC 3339 in +09:00 at least 30 minutes ahead", want.ExpiresAt)
	}
	if n := sim.Issued(kauth.KIS, kauth.Mock, fakeKISKey); n != 1 {
		t.Errorf("issued %d; want 1 between kauth token and kauth run", n)
	}

	for _, code := range []int{0, 1, 3, 42} {
		r := runProcess(t, with(env, "KAUTH_TEST_CHILD", fmt.Sprintf("exit=%d", code)), "",
			"run", "--broker", "kis", "--env", "mock", "--", testBinary(t))
		if r.code != code || r.stderr != "" {
			t.Errorf("command exiting %d: kauth run exited %d, stderr %q; want %d and nothing", code, r.code, r.stderr, code)
		}
	}
}

// TestProcessRunPassesSignals: SIGINT, SIGTERM and SIGHUP sent to kauth
// run reach its command; kauth exits with the command's status, 128+N when
// the command dies of signal N.
func TestProcessRunPassesSignals(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		for _, mode := range []string{"signal", "trap"} {
			t.Run(sig.String()+"/"+mode, func(t *testing.T) {
				d := startDaemon(t, with(env, "KAUTH_TEST_CHILD", mode),
					"run", "--broker", "kis", "--env", "mock", "--", testBinary(t))
				d.waitLine(t, regexp.MustCompile(`^ready$`))
				code := d.stop(t, sig)
				want := 128 + int(sig)
				if mode == "trap" {
					want = 5
				}
				if code != want {
					t.Errorf("kauth run exited %d; want %d\n%s", code, want, d.output())
				}
				if got := "got " + sig.String(); !strings.Contains(d.output(), got) {
					t.Errorf("the command did not get %v:\n%s", sig, d.output())
				}
			})
		}
	}
}

// TestProcessRunErrorsBeforeTheCommand: what keeps the command from
// starting is one line on stderr, exit 2 for usage and configuration, 1
// for a token kauth could not get, 127 for a command that is not there
// (by name or by path, as shells say), 126 for a file that cannot be
// executed; and the command is not run.
func TestProcessRunErrorsBeforeTheCommand(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	marker := filepath.Join(t.TempDir(), "ran")
	touch := []string{"--", "/bin/sh", "-c", "touch " + marker}
	dir := t.TempDir()
	if err := os.WriteFile(marker+".txt", []byte("not a program\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"no command", env, []string{"run", "--broker", "kis", "--env", "mock"}, 2, "no command given"},
		{"no broker", env, append([]string{"run", "--env", "mock"}, touch...), 2, "--broker is required"},
		{"unknown flag", env, append([]string{"run", "--nope"}, touch...), 2, "flag provided but not defined"},
		{"missing secret", with(env, "KIS_APPSECRET", ""), append([]string{"run", "--broker", "kis", "--env", "mock"}, touch...), 2, "KIS_APPSECRET is not set"},
		{"account and broker", env, append([]string{"run", "--account", "a", "--broker", "kis"}, touch...), 2, "drop --broker"},
		{"bad credentials", with(env, "KIS_APPSECRET", "FAKE-WRONG-SECRET"), append([]string{"run", "--broker", "kis", "--env", "mock"}, touch...), 1, "EGW00105"},
		{"no agent", env, append([]string{"run", "--account", "paper", "--addr", "unix:" + dir + "/none.sock"}, touch...), 1, "no agent answers"},
		{"not found", env, []string{"run", "--broker", "kis", "--env", "mock", "--", "kauth-no-such-command"}, 127, "command not found"},
		{"path not there", env, []string{"run", "--broker", "kis", "--env", "mock", "--", dir + "/no-such-command"}, 127, "no such file or directory"},
		{"not executable", env, []string{"run", "--broker", "kis", "--env", "mock", "--", marker + ".txt"}, 126, "permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runProcess(t, tc.env, "", tc.args...)
			r.wantCode(t, tc.code)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr = %q; want it to say %q", r.stderr, tc.want)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the command ran")
			}
			if strings.Contains(r.stderr, fakeKISSecret) {
				t.Error("stderr shows the secret")
			}
		})
	}
}

// TestProcessRunTakesTheAgentsToken: with --account, kauth run takes the
// token the running agent holds for the account; an account the agent does
// not have is a configuration error.
func TestProcessRunTakesTheAgentsToken(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	config := filepath.Join(dir, "kauth.yaml")
	os.WriteFile(config, []byte(`listen:
  socket: `+sock+`
accounts:
  - name: paper
    broker: kiwoom
    env: mock
    appkey: {env: KIWOOM_APPKEY}
    appsecret: {env: KIWOOM_SECRETKEY}
`), 0o600)
	startServe(t, env, "--config", config)
	unix := agentConn{network: "unix", address: sock}.client()
	var fromAgent tokenJSON
	getJSON(t, unix, "http://localhost/v1/accounts/paper/token", "", &fromAgent)

	// Nothing of the broker's credentials in the command's environment:
	// the agent holds them.
	r := runProcess(t, map[string]string{"KAUTH_TEST_CHILD": "env"}, "",
		"run", "--account", "paper", "--config", config, "--", testBinary(t))
	r.wantCode(t, 0)
	want := fmt.Sprintf("sha=%s type=%s expires=%s\n", sha(fromAgent.AccessToken), fromAgent.TokenType, fromAgent.ExpiresAt)
	if r.stdout != want {
		t.Errorf("the command saw %q; want %q", r.stdout, want)
	}
	if n := sim.Issued(kauth.Kiwoom, kauth.Mock, fakeKiwoomKey); n != 1 {
		t.Errorf("issued %d; want 1", n)
	}

	r = runProcess(t, nil, "", "run", "--account", "live", "--addr", "unix:"+sock, "--", "/bin/true")
	r.wantCode(t, 2)
	if !strings.Contains(r.stderr, `no account "live"`) {
		t.Errorf("stderr = %q; want it to name the unknown account", r.stderr)
	}
}

// TestProcessRunReachesTheAgentOverTCP: with --addr HOST:PORT, kauth run
// asks the agent over TCP with the agent key from its key file.
func TestProcessRunReachesTheAgentOverTCP(t *testing.T) {
	runtime := t.TempDir()
	os.Chmod(runtime, 0o700)
	env := map[string]string{"XDG_RUNTIME_DIR": runtime, "KAUTH_CACHE_DIR": t.TempDir() + "/cache"}
	d := startDaemon(t, env, "serve", "--sim", "--addr", "127.0.0.1:0")
	tcp := d.waitLine(t, regexp.MustCompile(`^\s+tcp\s+http://(\S+) \(send Authorization: Bearer <the key in (\S+)>\)`))
	d.waitLine(t, regexp.MustCompile(`^\s+accounts\s+.*kis-mock`))
	addr, keyFile := tcp[1], tcp[2]
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var fromAgent tokenJSON
	getJSON(t, http.DefaultClient, "http://"+addr+"/v1/accounts/kis-mock/token", strings.TrimSpace(string(b)), &fromAgent)

	r := runProcess(t, with(env, "KAUTH_TEST_CHILD", "env"), "", "run", "--account", "kis-mock", "--addr", addr, "--", testBinary(t))
	r.wantCode(t, 0)
	if want := "sha=" + sha(fromAgent.AccessToken) + " "; !strings.HasPrefix(r.stdout, want) {
		t.Errorf("the command saw %q; want the agent's token", r.stdout)
	}

	// Without the agent key there is nothing to ask with.
	r = runProcess(t, map[string]string{"KAUTH_CACHE_DIR": t.TempDir()}, "", "run", "--account", "kis-mock", "--addr", addr, "--", "/bin/true")
	r.wantCode(t, 2)
	if !strings.Contains(r.stderr, "reading the agent key") {
		t.Errorf("stderr = %q; want it to say the agent key could not be read", r.stderr)
	}
}
