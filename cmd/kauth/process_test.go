package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/toss"
)

// kauthBin is the kauth binary that the process tests run, built once by
// TestMain, or the one -kauth names.
var kauthBin string

// prebuilt is a kauth binary built beforehand, for a test binary run where
// there is no Go toolchain to build one: under Wine (.ci/wine/run).
var prebuilt = flag.String("kauth", "", "run this kauth `binary` in the process tests instead of building one")

func TestMain(m *testing.M) {
	if mode := os.Getenv("KAUTH_TEST_CHILD"); mode != "" {
		// The test binary run as kauth run's command (runcmd_test.go).
		os.Exit(childMain(mode))
	}
	flag.Parse()
	if *prebuilt != "" {
		p, err := filepath.Abs(*prebuilt)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		kauthBin = p
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "kauth-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kauthBin = filepath.Join(dir, "kauth")
	if runtime.GOOS == "windows" {
		kauthBin += ".exe"
	}
	if out, err := exec.Command("go", "build", "-o", kauthBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building kauth: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// kauthCommand returns a kauth process with env as its whole environment (plus
// a private HOME and TMPDIR), so that nothing of the developer's leaks in.
func kauthCommand(t *testing.T, env map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(kauthBin, args...)
	cmd.Env = []string{"HOME=" + home, "TMPDIR=" + home, "PATH=/usr/bin:/bin"}
	if runtime.GOOS == "windows" {
		cmd.Env = append(cmd.Env, "USERPROFILE="+home, "TEMP="+home, "TMP="+home)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// runProcess runs kauth to completion.
func runProcess(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	cmd := kauthCommand(t, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running kauth %s: %v", strings.Join(args, " "), err)
	}
	return result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

// daemon is a long-running kauth process whose stdout is read line by
// line.
type daemon struct {
	cmd    *exec.Cmd
	lines  chan string
	mu     sync.Mutex
	out    strings.Builder // all of stdout so far
	stderr bytes.Buffer
	done   chan struct{}
}

func startDaemon(t *testing.T, env map[string]string, args ...string) *daemon {
	t.Helper()
	return startDaemonCmd(t, kauthCommand(t, env, args...))
}

// startDaemonCmd starts cmd, a kauthCommand, as a daemon.
func startDaemonCmd(t *testing.T, cmd *exec.Cmd) *daemon {
	t.Helper()
	d := &daemon{cmd: cmd, lines: make(chan string, 100), done: make(chan struct{})}
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stderr = &lockedWriter{mu: &d.mu, w: &d.stderr}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			d.mu.Lock()
			d.out.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			select {
			case d.lines <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			d.cmd.Wait()
		}
	})
	return d
}

// waitLine returns the first line of stdout matching re, or fails.
func (d *daemon) waitLine(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l := <-d.lines:
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-d.done:
			t.Fatalf("kauth exited before printing %v:\n%s", re, d.output())
		case <-timeout:
			t.Fatalf("kauth did not print %v:\n%s", re, d.output())
		}
	}
}

// stop sends sig and waits for the exit code.
func (d *daemon) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-d.done
	err := d.cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return d.cmd.ProcessState.ExitCode()
}

func (d *daemon) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return "stdout:\n" + d.out.String() + "stderr:\n" + d.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestProcessTokenTwice(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	r1 := runProcess(t, env, "", "token", "--broker", "kis", "--env", "mock")
	r1.wantCode(t, 0)
	r2 := runProcess(t, env, "", "token", "--broker", "kis", "--env", "mock")
	r2.wantCode(t, 0)
	if r1.stdout != r2.stdout || len(r1.stdout) < 20 {
		t.Errorf("tokens = %q, %q; want one token twice", r1.stdout, r2.stdout)
	}
	if n := sim.Issued(kauth.KIS, kauth.Mock, fakeKISKey); n != 1 {
		t.Errorf("issued %d tokens; want 1", n)
	}
	if n := sim.Stats().Requests; n != 1 {
		t.Errorf("the broker saw %d requests; want 1", n)
	}
	dir := env["KAUTH_CACHE_DIR"]
	filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		fi, _ := de.Info()
		want := fs.FileMode(0o600)
		if de.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s is mode %v; want %v", path, fi.Mode().Perm(), want)
		}
		return nil
	})
}

// TestProcessConcurrentColdStore is the multi-process guarantee: many
// processes started at once on an empty store make one issuance between
// them (KIS would alert the account holder for each, and refuse all but
// one a minute).
func TestProcessConcurrentColdStore(t *testing.T) {
	for _, b := range brokers.Names() {
		t.Run(string(b), func(t *testing.T) { testProcessConcurrentColdStore(t, b) })
	}
}

func testProcessConcurrentColdStore(t *testing.T, b kauth.Broker) {
	n := 16
	if b != kauth.KIS && b != toss.Broker {
		// The same lock; fewer processes keep the suite quick. KIS
		// alerts the account holder for each issuance, and each Toss
		// issuance kills the token before it: they get all 16.
		n = 6
	}
	e := envOf(b)
	key, _ := fakeApp(b)
	sim := newTestSim(t)
	env := sim.env(t, e)
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	errs := make([]*bytes.Buffer, n)
	for i := range cmds {
		cmds[i] = kauthCommand(t, env, "token", "--broker", string(b), "--env", string(e))
		outs[i], errs[i] = new(bytes.Buffer), new(bytes.Buffer)
		cmds[i].Stdout, cmds[i].Stderr = outs[i], errs[i]
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("process %d: %v: %s", i, err, errs[i])
		}
	}
	tok, _, _ := sim.CurrentToken(b, e, key)
	for i := range outs {
		if outs[i].String() != tok+"\n" {
			t.Errorf("process %d printed %q; want the one token", i, outs[i])
		}
	}
	st := sim.Stats()
	if n := st.App(b, e, key).Issued; n != 1 {
		t.Errorf("%d processes issued %d tokens; want 1", len(cmds), n)
	}
	if st.Requests != 1 {
		t.Errorf("%d processes made %d requests to the broker; want 1", len(cmds), st.Requests)
	}
}

func TestProcessDemo(t *testing.T) {
	start := time.Now()
	r := runProcess(t, nil, "", "demo")
	r.wantCode(t, 0)
	for _, want := range []string{"KIS (한국투자증권)", "Kiwoom (키움증권)", "0 new issuances", "temp dir removed"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	if m := regexp.MustCompile(`in (\S*kauth-demo-\S+)`).FindStringSubmatch(r.stdout); m == nil {
		t.Errorf("demo does not say where its store is:\n%s", r.stdout)
	} else if _, err := os.Stat(m[1]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("demo left %s behind (%v)", m[1], err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("demo took %v; want a few seconds at most", d)
	}
}

var simRootRE = regexp.MustCompile(`simulator at (http://127\.0\.0\.1:\d+)`)

func TestProcessSim(t *testing.T) {
	env := map[string]string{
		"KIS_APPKEY": fakeKISKey, "KIS_APPSECRET": fakeKISSecret,
		"KIWOOM_APPKEY": fakeKiwoomKey, "KIWOOM_SECRETKEY": fakeKiwoomSecret,
	}
	d := startDaemon(t, env, "sim")
	root := d.waitLine(t, simRootRE)[1]
	d.waitLine(t, regexp.MustCompile(`^apps`))

	var st brokersim.Stats
	getJSON(t, http.DefaultClient, root+"/_sim/stats", "", &st)
	if st.Issued != 0 {
		t.Errorf("a fresh simulator's stats say %d issued", st.Issued)
	}

	// The credentials in the environment work at both envs.
	cache := t.TempDir() + "/cache"
	for _, e := range []string{"real", "mock"} {
		cli := map[string]string{
			"KIS_APPKEY": fakeKISKey, "KIS_APPSECRET": fakeKISSecret,
			"KIS_BASE_URL": root + "/kis/" + e, "KAUTH_CACHE_DIR": cache,
		}
		runProcess(t, cli, "", "token", "--broker", "kis", "--env", e).wantCode(t, 0)
	}
	getJSON(t, http.DefaultClient, root+"/_sim/stats", "", &st)
	if st.Issued != 2 {
		t.Errorf("stats say %d issued; want 2 (real and mock)", st.Issued)
	}
	resp, err := http.Post(root+"/_sim/clock?advance=25h", "", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("POST /_sim/clock: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("kauth sim exited %d after SIGTERM; want 0\n%s", code, d.output())
	}
	out := d.output()
	for _, want := range []string{root + "/kis/real", root + "/kis/mock", root + "/kiwoom/real", root + "/kiwoom/mock",
		brokersim.DemoKISMock.AppKey, kauth.Fingerprint(fakeKISKey)} {
		if !strings.Contains(out, want) {
			t.Errorf("kauth sim output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{fakeKISKey, fakeKISSecret, fakeKiwoomKey, fakeKiwoomSecret} {
		if strings.Contains(out, secret) {
			t.Errorf("kauth sim printed a credential from the environment")
		}
	}
}

func getJSON(t *testing.T, c *http.Client, url, bearer string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, body)
	}
}

func TestProcessServe(t *testing.T) {
	runtime := t.TempDir()
	os.Chmod(runtime, 0o700)
	cache := t.TempDir() + "/cache"
	env := map[string]string{"XDG_RUNTIME_DIR": runtime, "KAUTH_CACHE_DIR": cache}
	d := startDaemon(t, env, "serve", "--sim", "--addr", "127.0.0.1:0")
	sock := d.waitLine(t, regexp.MustCompile(`^\s+socket\s+(\S+)`))[1]
	tcp := d.waitLine(t, regexp.MustCompile(`^\s+tcp\s+(http://\S+) \(send Authorization: Bearer <the key in (\S+)>\)`))
	d.waitLine(t, regexp.MustCompile(`^\s+accounts\s+.*kis-mock`))

	// Over the unix socket, no key is needed.
	unix := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	var tok tokenJSON
	getJSON(t, unix, "http://localhost/v1/accounts/kis-mock/token", "", &tok)
	if tok.AccessToken == "" || tok.Broker != kauth.KIS || tok.Env != kauth.Mock || !strings.HasSuffix(tok.ExpiresAt, "+09:00") {
		t.Errorf("token over the socket = %+v", tok)
	}

	// Over TCP, with the agent key.
	key, err := os.ReadFile(tcp[2])
	if err != nil {
		t.Fatal(err)
	}
	var tok2 tokenJSON
	getJSON(t, http.DefaultClient, tcp[1]+"/v1/accounts/kiwoom-mock/token", strings.TrimSpace(string(key)), &tok2)
	if tok2.AccessToken == "" || tok2.Broker != kauth.Kiwoom {
		t.Errorf("token over TCP = %+v", tok2)
	}

	// SIGHUP reloads and keeps serving.
	d.cmd.Process.Signal(syscall.SIGHUP)
	var again tokenJSON
	getJSON(t, unix, "http://localhost/v1/accounts/kis-mock/token", "", &again)
	if again.AccessToken != tok.AccessToken {
		t.Errorf("the token changed across SIGHUP")
	}

	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("kauth serve exited %d after SIGTERM; want 0\n%s", code, d.output())
	}
	if out := d.output(); strings.Contains(out, tok.AccessToken) || strings.Contains(out, tok2.AccessToken) {
		t.Errorf("kauth serve printed a whole token:\n%s", out)
	}
	if _, err := os.Stat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the socket %s is left behind (%v)", sock, err)
	}
}

// TestProcessNoLeaks runs every command, on its success and error paths,
// with known fake secrets, and searches everything they printed and every
// file they left in the cache for the secrets and the whole tokens.
func TestProcessNoLeaks(t *testing.T) {
	const wrongSecret = "FAKE-TEST-WRONG-SECRET-0000000000000000000000000000"
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	secrets := []string{fakeKISKey, fakeKISSecret, fakeKiwoomKey, fakeKiwoomSecret, wrongSecret}

	type run struct {
		env        map[string]string
		stdin      string
		args       []string
		printsTok  bool // stdout is the token itself
		wantStatus int
	}
	order := `{"CANO":"00000000","ACNT_PRDT_CD":"01","PDNO":"005930","ORD_DVSN":"00","ORD_QTY":"1","ORD_UNPR":"71000"}`
	runs := []run{
		{env, "", []string{"token", "--broker", "kis", "--env", "mock"}, true, 0},
		{env, "", []string{"token", "--broker", "kiwoom", "--env", "mock", "--json", "-v"}, true, 0},
		{env, "", []string{"token", "--broker", "kis", "--env", "mock", "-v"}, true, 0},
		{env, "", []string{"status"}, false, 0},
		{env, "", []string{"status", "--json", "-v"}, false, 0},
		{env, "", []string{"approval", "--env", "mock"}, false, 0},
		{env, order, []string{"hashkey", "--env", "mock"}, false, 0},
		{env, "", []string{"revoke", "--broker", "kiwoom", "--env", "mock", "-v"}, false, 0},
		{env, "", []string{"token", "--broker", "kiwoom", "--env", "mock"}, true, 0},
		{env, "", []string{"revoke", "--broker", "kis", "--env", "mock"}, false, 0},
		{env, "", []string{"status"}, false, 0},
		// A cached token is served without asking the broker, so the
		// rejected secrets go to an app that has none cached (real).
		{with(env, "KIS_APPSECRET", wrongSecret), "", []string{"token", "--broker", "kis", "--env", "real", "-v"}, false, exitCredentials},
		{with(env, "KIWOOM_SECRETKEY", wrongSecret), "", []string{"token", "--broker", "kiwoom", "--env", "real", "-v"}, false, exitCredentials},
		{with(env, "KIS_APPSECRET", wrongSecret), "", []string{"approval", "--env", "real"}, false, exitCredentials},
		{with(env, "KIS_APPSECRET", wrongSecret), order, []string{"hashkey", "--env", "mock"}, false, exitCredentials},
		{with(env, "KIS_BASE_URL", "http://127.0.0.1:1", "KAUTH_CACHE_DIR", t.TempDir()+"/other"), "", []string{"token", "--broker", "kis", "--env", "real", "--timeout", "1s", "-v"}, false, exitUnavailable},
		{with(env, "KIS_APPKEY", ""), "", []string{"token", "--broker", "kis", "--env", "mock"}, false, exitUsage},
		{env, "", []string{"token", "--broker", "kis", "--env", "mock", "--appsecret", fakeKISSecret}, false, exitUsage},
		{with(env, "KAUTH_STORE", "redis://:"+fakeKISSecret+"@127.0.0.1:1/0"), "", []string{"status"}, false, exitUsage},
	}
	var tokens []string
	var printed strings.Builder
	for _, r := range runs {
		res := runProcess(t, r.env, r.stdin, r.args...)
		if res.code != r.wantStatus {
			t.Errorf("kauth %s: exit %d; want %d\n%s", strings.Join(r.args, " "), res.code, r.wantStatus, res.stderr)
		}
		if r.printsTok && res.code == 0 {
			tok := strings.TrimSpace(res.stdout)
			var j tokenJSON
			if json.Unmarshal([]byte(res.stdout), &j) == nil {
				tok = j.AccessToken
			}
			tokens = append(tokens, tok)
			for _, s := range secrets {
				if strings.Contains(res.stdout, s) {
					t.Errorf("kauth %s: stdout shows a secret", strings.Join(r.args, " "))
				}
			}
		} else {
			printed.WriteString(res.stdout)
		}
		printed.WriteString(res.stderr)
	}
	// Every token the broker ever minted for the fake apps, whoever holds
	// it now.
	for _, b := range []kauth.Broker{kauth.KIS, kauth.Kiwoom} {
		for _, e := range []kauth.Env{kauth.Real, kauth.Mock} {
			for _, k := range []string{fakeKISKey, fakeKiwoomKey} {
				if tok, _, ok := sim.CurrentToken(b, e, k); ok {
					tokens = append(tokens, tok)
				}
			}
		}
	}
	if len(tokens) < 4 {
		t.Fatalf("only %d tokens seen; the test is not testing", len(tokens))
	}

	out := printed.String()
	for _, s := range append(secrets, tokens...) {
		if strings.Contains(out, s) {
			t.Errorf("a secret or whole token (fingerprint %s) was printed:\n%s", kauth.Fingerprint(s), out)
		}
	}
	filepath.WalkDir(env["KAUTH_CACHE_DIR"], func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Error(err)
			return nil
		}
		for _, s := range append(secrets, tokens...) {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds a secret or whole token (fingerprint %s)", path, kauth.Fingerprint(s))
			}
		}
		return nil
	})
}
