package reliability_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/reliability"
	"github.com/kauth/kauth/internal/testlog"
)

// Made-up credentials, registered at the simulator only. Distinctive, so
// that any trace of them in an output or a file is found.
var leakApps = []brokersim.App{
	{Broker: kauth.KIS, Env: kauth.Mock, AppKey: "PSLEAKCHECKFAKEKISAPPKEY00000000000", Secret: "LEAKCHECK-FAKE-KIS-SECRET-" + strings.Repeat("s", 60)},
	{Broker: kauth.Kiwoom, Env: kauth.Mock, AppKey: "LEAKCHECKFAKEKIWOOMAPPKEY000000000000000000", Secret: "LEAKCHECK-FAKE-KIWOOM-SECRET-0000000000000"},
}

// buildKauth builds ./cmd/kauth into a temporary directory.
func buildKauth(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kauth")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/kauth/kauth/cmd/kauth").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/kauth: %v\n%s", err, out)
	}
	return bin
}

// leakScan collects everything the programs printed and the secrets and
// tokens that must appear in none of it.
type leakScan struct {
	outputs map[string]string // name → text that must hold no secret and no token
	quiet   map[string]string // name → text that may hold a token (it prints one) but no secret
	secrets []string
	tokens  map[string]bool
}

func (s *leakScan) token(tok string) {
	if tok != "" {
		s.tokens[tok] = true
	}
}

// TestNoSecretsAnywhere runs the CLI and the agent as real processes with
// made-up credentials, on one shared file store, through a day's work:
// tokens issued and shared, a token revoked behind the agent's back and
// healed by its proxy, a revoke from the CLI, the simulator command, and
// the agent's API, proxy and metrics, logging at debug level. Then it
// searches every output, log and file they left for the credentials, the
// agent key and every whole token: none may appear, except a token in the
// answer of a command whose job is to print it. Along the way it checks
// the modes of the files, directories and socket, and that the agent
// refuses TCP calls without its key, from a web page, or for a foreign
// Host.
func TestNoSecretsAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the kauth binary")
	}
	bin := buildKauth(t)
	rig := reliability.NewRig(func(s *brokersim.Server) {
		s.KISMockCallsPerSecond, s.KiwoomCallsPerSecond = -1, -1
		s.Logf = func(string, ...any) {} // exercise the simulator's log path too
	})
	defer rig.Close()
	for _, a := range leakApps {
		rig.Sim.Register(a.Broker, a.Env, a.AppKey, a.Secret)
	}
	kisApp, kiwoomApp := leakApps[0], leakApps[1]

	root := t.TempDir()
	dirs := map[string]string{}
	for _, d := range []string{"home", "run", "cache", "state", "xdgcache"} {
		dirs[d] = filepath.Join(root, d)
		if err := os.MkdirAll(dirs[d], 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cacheDir := filepath.Join(dirs["cache"], "kauth")
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dirs["home"],
		"XDG_RUNTIME_DIR=" + dirs["run"],
		"XDG_CACHE_HOME=" + dirs["xdgcache"],
		"KAUTH_CACHE_DIR=" + cacheDir,
		"KIS_APPKEY=" + kisApp.AppKey,
		"KIS_APPSECRET=" + kisApp.Secret,
		"KIWOOM_APPKEY=" + kiwoomApp.AppKey,
		"KIWOOM_SECRETKEY=" + kiwoomApp.Secret,
		"KIS_BASE_URL=" + brokersim.BaseURL(rig.URL(), kauth.KIS, kauth.Mock),
		"KIWOOM_BASE_URL=" + brokersim.BaseURL(rig.URL(), kauth.Kiwoom, kauth.Mock),
	}
	scan := &leakScan{outputs: map[string]string{}, quiet: map[string]string{}, tokens: map[string]bool{}}
	for _, a := range leakApps {
		scan.secrets = append(scan.secrets, a.AppKey, a.Secret)
	}
	seenTokens := func() {
		for _, a := range leakApps {
			if tok, _, ok := rig.Sim.CurrentToken(a.Broker, a.Env, a.AppKey); ok {
				scan.token(tok)
			}
		}
	}

	cli := func(printsToken bool, stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Dir = env, root
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("kauth %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		name := "kauth " + strings.Join(args, " ")
		scan.outputs[name+" (stderr)"] = stderr.String()
		if printsToken {
			scan.quiet[name+" (stdout)"] = stdout.String()
		} else {
			scan.outputs[name+" (stdout)"] = stdout.String()
		}
		seenTokens()
		return stdout.String()
	}

	// The CLI first: it issues, and the agent will adopt its tokens.
	scan.token(strings.TrimSpace(cli(true, "", "token", "--broker", "kis", "--env", "mock")))
	var tj struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(cli(true, "", "token", "--broker", "kiwoom", "--env", "mock", "--json", "-v")), &tj); err != nil {
		t.Fatalf("kauth token --json: %v", err)
	}
	scan.token(tj.AccessToken)
	cli(false, "", "status", "--json", "-v")
	cli(false, `{"CANO":"00000000","ACNT_PRDT_CD":"01","PDNO":"005930","ORD_QTY":"1","ORD_UNPR":"71000"}`, "hashkey", "--env", "mock")
	cli(false, "", "approval", "--env", "mock")

	// The agent, on the same store, with a socket and loopback TCP.
	sock := filepath.Join(dirs["state"], "agent", "agent.sock")
	agentKeyFile := filepath.Join(dirs["state"], "agent.key")
	cfg := fmt.Sprintf(`listen:
  socket: %s
  key_file: %s
accounts:
  - name: kis-mock
    broker: kis
    env: mock
    appkey: {env: KIS_APPKEY}
    appsecret: {env: KIS_APPSECRET}
  - name: kiwoom-mock
    broker: kiwoom
    env: mock
    appkey: {env: KIWOOM_APPKEY}
    appsecret: {env: KIWOOM_SECRETKEY}
`, sock, agentKeyFile)
	cfgPath := filepath.Join(root, "kauth.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := exec.Command(bin, "serve", "--config", cfgPath, "--addr", "127.0.0.1:0", "--debug")
	serve.Env, serve.Dir = env, root
	var serveErr testlog.Buffer
	serve.Stderr = &serveErr
	serveOut, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if serve.ProcessState == nil {
			serve.Process.Kill()
			serve.Wait()
		}
	}()
	var printed strings.Builder
	tcp := ""
	sc := bufio.NewScanner(serveOut)
	for tcp == "" && sc.Scan() {
		line := sc.Text()
		printed.WriteString(line + "\n")
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "tcp" {
			tcp = strings.TrimPrefix(f[1], "http://")
		}
	}
	if tcp == "" {
		t.Fatalf("kauth serve printed no tcp address:\n%s\n%s", printed.String(), serveErr.String())
	}
	restOut := make(chan string, 1)
	go func() {
		var b strings.Builder
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		restOut <- b.String()
	}()
	agentKey, err := os.ReadFile(agentKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(agentKey))
	if len(key) < 32 {
		t.Fatalf("agent key is %d characters; want at least 32", len(key))
	}

	overSocket := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	defer overSocket.CloseIdleConnections()
	overTCP := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer overTCP.CloseIdleConnections()
	call := func(c *http.Client, name, method, url string, body string, header ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			if header[i] == "Host" {
				req.Host = header[i+1]
				continue
			}
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		seenTokens()
		return resp.StatusCode, string(b)
	}
	sockURL := "http://localhost"
	tcpURL := "http://" + tcp
	bearer := "Bearer " + key

	// The socket and the files of a running agent are private.
	checkMode(t, sock, 0o600)
	checkMode(t, filepath.Dir(sock), 0o700)
	checkMode(t, agentKeyFile, 0o600)

	// The agent's API over the socket, and the proxy.
	for _, name := range []string{"kis-mock", "kiwoom-mock"} {
		code, body := call(overSocket, "token", "GET", sockURL+"/v1/accounts/"+name+"/token", "")
		if code != 200 {
			t.Fatalf("GET %s token over the socket = %d %s", name, code, body)
		}
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		json.Unmarshal([]byte(body), &tr)
		scan.token(tr.AccessToken)
		scan.quiet["agent token endpoint "+name] = body
		if name == "kiwoom-mock" {
			// The broker drops the token behind the agent's back; the
			// proxy heals it with one new issuance. (Kiwoom: KIS would
			// make the agent sit out its once-a-minute issuance limit.)
			rig.Sim.InvalidateToken(tr.AccessToken)
		}
	}
	const price = "/proxy/kis-mock/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930"
	for i := range 3 {
		code, body := call(overSocket, "proxy", "GET", sockURL+price, "", "tr_id", "FHKST01010100", "custtype", "P",
			// A bot's own credentials are stripped, never forwarded or echoed.
			"appsecret", kisApp.Secret, "authorization", "Bearer "+kisApp.Secret)
		if code != 200 {
			t.Errorf("proxy call %d = %d %s", i, code, body)
		}
		scan.outputs[fmt.Sprintf("proxy answer %d", i)] = body
	}
	for i := range 3 {
		code, body := call(overSocket, "kiwoom proxy", "POST", sockURL+"/proxy/kiwoom-mock/api/dostk/stkinfo", `{"stk_cd":"005930"}`,
			"api-id", "ka10001", "Content-Type", "application/json;charset=UTF-8", "secretkey", kiwoomApp.Secret)
		if code != 200 || !strings.Contains(body, `"return_code":0`) {
			t.Errorf("kiwoom proxy call %d = %d %s", i, code, body)
		}
		scan.outputs[fmt.Sprintf("kiwoom proxy answer %d", i)] = body
	}
	if n := rig.Sim.Issued(kauth.Kiwoom, kauth.Mock, kiwoomApp.AppKey); n != 2 {
		t.Errorf("kiwoom issuances after one revocation behind the agent's back = %d; want 2", n)
	}
	for _, p := range []string{"/v1/accounts", "/v1/accounts/kiwoom-mock", "/metrics", "/healthz"} {
		code, body := call(overSocket, p, "GET", sockURL+p, "")
		if code != 200 {
			t.Errorf("GET %s over the socket = %d", p, code)
		}
		scan.outputs["agent "+p] = body
	}

	// Over TCP: the key is required, web pages and foreign Hosts are refused.
	for _, tc := range []struct {
		name   string
		path   string
		header []string
		want   int
	}{
		{"no key", "/v1/accounts", nil, 401},
		{"wrong key", "/v1/accounts/kis-mock/token", []string{"Authorization", "Bearer " + strings.Repeat("A", len(key))}, 401},
		{"key as a query", "/v1/accounts/kis-mock/token?key=" + key, nil, 401},
		{"basic auth", "/v1/accounts/kis-mock/token", []string{"Authorization", "Basic " + key}, 401},
		{"foreign Origin", "/v1/accounts/kis-mock/token", []string{"Authorization", bearer, "Origin", "https://evil.example"}, 403},
		{"null Origin", "/v1/accounts/kis-mock/token", []string{"Authorization", bearer, "Origin", "null"}, 403},
		{"cross-site fetch", "/v1/accounts/kis-mock/token", []string{"Authorization", bearer, "Sec-Fetch-Site", "cross-site"}, 403},
		{"rebound Host", "/v1/accounts/kis-mock/token", []string{"Authorization", bearer, "Host", "evil.example:80"}, 403},
		{"rebound Host, no key", "/v1/accounts", []string{"Host", "attacker.test"}, 403},
		{"oauth2 through the proxy", "/proxy/kis-mock/oauth2/tokenP", []string{"Authorization", bearer}, 403},
		{"health without key", "/healthz", nil, 200},
		{"key", "/v1/accounts/kis-mock/token", []string{"Authorization", bearer}, 200},
	} {
		code, body := call(overTCP, tc.name, "GET", tcpURL+tc.path, "", tc.header...)
		if code != tc.want {
			t.Errorf("TCP %s: %s = %d %s; want %d", tc.name, tc.path, code, body, tc.want)
		}
		if tc.want == 200 && strings.Contains(tc.path, "/token") {
			scan.quiet["TCP "+tc.name] = body
		} else {
			scan.outputs["TCP "+tc.name] = body
		}
	}

	// The CLI beside the running agent, on the shared store.
	cli(false, "", "revoke", "--broker", "kiwoom", "--env", "mock", "-v")
	cli(true, "", "token", "--broker", "kiwoom", "--env", "mock")
	cli(false, "", "status")
	if code, body := call(overSocket, "kiwoom token after revoke", "GET", sockURL+"/v1/accounts/kiwoom-mock/token", ""); code != 200 {
		t.Errorf("GET kiwoom token after the CLI revoked it = %d %s", code, body)
	} else {
		scan.quiet["agent kiwoom token after revoke"] = body
	}

	// kauth sim registers the credentials in the environment; it must not
	// print them (its own demo credentials are public).
	simOut := runUntil(t, bin, env, root, "kis", "sim", "--addr", "127.0.0.1:0")
	scan.outputs["kauth sim"] = simOut

	// Stop the agent the way a service manager does.
	serve.Process.Signal(syscall.SIGTERM)
	waitErr := make(chan error, 1)
	go func() { waitErr <- serve.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Errorf("kauth serve after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		serve.Process.Kill()
		<-waitErr
		t.Errorf("kauth serve did not stop within 20 s of SIGTERM")
	}
	scan.outputs["kauth serve (stdout)"] = printed.String() + <-restOut
	scan.outputs["kauth serve (stderr)"] = serveErr.String()
	if !strings.Contains(serveErr.String(), "level=DEBUG") {
		t.Errorf("kauth serve --debug logged nothing at debug level; the scan would miss its debug logs")
	}
	seenTokens()
	if len(scan.tokens) < 4 {
		t.Fatalf("only %d distinct tokens seen; the test is not testing", len(scan.tokens))
	}

	// Private files and directories everywhere kauth wrote.
	checkMode(t, cacheDir, 0o700)
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root || filepath.Dir(path) == filepath.Dir(bin) {
			return nil
		}
		if !strings.HasPrefix(path, cacheDir) && !strings.HasPrefix(path, dirs["state"]) {
			return nil
		}
		if d.IsDir() {
			checkMode(t, path, 0o700)
		} else {
			checkMode(t, path, 0o600)
		}
		return nil
	})

	// Every file under the temporary root (the cache, the key files, the
	// agent's state) but the config, which names variables only.
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == bin {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		name := "file " + strings.TrimPrefix(path, root)
		if path == agentKeyFile {
			scan.outputs[name] = strings.ReplaceAll(string(data), key, "") // holds the key, and nothing else
			return nil
		}
		scan.outputs[name] = string(data)
		return nil
	})

	needles := append(append([]string{}, scan.secrets...), key)
	for tok := range scan.tokens {
		needles = append(needles, tok)
	}
	for name, text := range scan.outputs {
		for _, s := range needles {
			if strings.Contains(text, s) {
				t.Errorf("%s holds %s", name, describe(s, scan, key))
			}
		}
	}
	for name, text := range scan.quiet {
		for _, s := range append(append([]string{}, scan.secrets...), key) {
			if strings.Contains(text, s) {
				t.Errorf("%s holds %s", name, describe(s, scan, key))
			}
		}
	}
	t.Logf("searched %d outputs and files and %d token answers for %d credentials, the agent key and %d tokens",
		len(scan.outputs), len(scan.quiet), len(scan.secrets), len(scan.tokens))
}

// describe names a needle without printing it.
func describe(s string, scan *leakScan, key string) string {
	switch {
	case s == key:
		return "the agent key"
	case scan.tokens[s]:
		return "a whole token (" + kauth.Fingerprint(s) + ")"
	}
	return "a credential (" + kauth.Fingerprint(s) + ")"
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Errorf("stat %s: %v", path, err)
		return
	}
	if got := fi.Mode().Perm(); got&^want != 0 {
		t.Errorf("%s is mode %04o; want %04o or stricter", path, got, want)
	}
}

// runUntil runs a long-running command until it printed a line holding
// marker (or 10 s passed), then interrupts it, and returns all it printed.
func runUntil(t *testing.T, bin string, env []string, dir, marker string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Dir = env, dir
	var out testlog.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), marker) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	if !strings.Contains(out.String(), marker) {
		t.Errorf("kauth %s printed no %q:\n%s", strings.Join(args, " "), marker, out.String())
	}
	return out.String()
}
