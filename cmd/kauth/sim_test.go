package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/brokersim"
)

// startSim runs kauth sim in-process with args and returns its root URL,
// the root ports it printed ("kis mock" → URL) and a stop function that
// returns the exit code.
func startSim(t *testing.T, args ...string) (root string, ports map[string]string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		c := Main(ctx, append([]string{"sim", "-q"}, args...), strings.NewReader(""), pw, io.Discard, func(string) string { return "" })
		pw.Close()
		code <- c
	}()
	rootRE := regexp.MustCompile(`simulator at (http://\S+)`)
	portRE := regexp.MustCompile(`^\s+([a-z]+)\s+(real|mock)\s+(http://\S+)$`)
	ports = map[string]string{}
	sc := bufio.NewScanner(pr)
	inPorts := false
	for sc.Scan() {
		line := sc.Text()
		switch m := portRE.FindStringSubmatch(line); {
		case rootRE.MatchString(line):
			root = rootRE.FindStringSubmatch(line)[1]
		case strings.HasPrefix(line, "root ports"):
			inPorts = true
		case inPorts && m != nil:
			ports[m[1]+" "+m[2]] = m[3]
		case inPorts && line == "":
			inPorts = false
		}
		if root != "" && !inPorts && len(ports) > 0 {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if root == "" {
		cancel()
		t.Fatalf("kauth sim printed no root URL (exit %d)", <-code)
	}
	return root, ports, func() int {
		cancel()
		select {
		case c := <-code:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("kauth sim did not stop")
			return -1
		}
	}
}

// urljoin is what pykis does with its domain and an absolute path.
func urljoin(t *testing.T, domain, path string) string {
	t.Helper()
	d, err := url.Parse(domain)
	if err != nil {
		t.Fatal(err)
	}
	p, err := url.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	return d.ResolveReference(p).String()
}

func postJSON(t *testing.T, url string, header map[string]string, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	for k, v := range header {
		req.Header[k] = []string{v}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST %s: %s: %v", url, resp.Status, err)
	}
	return out
}

func TestSimRootPorts(t *testing.T) {
	root, ports, stop := startSim(t, "--kis-mock", "127.0.0.1:0", "--kiwoom-real", "127.0.0.1:0", "--kis-reissue", "new-revoke-old")
	if len(ports) != 2 || ports["kis mock"] == "" || ports["kiwoom real"] == "" {
		t.Fatalf("root ports printed = %v; want kis mock and kiwoom real", ports)
	}
	kisApp, kiwoomApp := brokersim.DemoKISMock, brokersim.DemoKiwoomReal

	// pykis: urljoin(domain, "/oauth2/tokenP") on the root port.
	tok := postJSON(t, urljoin(t, ports["kis mock"], "/oauth2/tokenP"), nil,
		`{"grant_type":"client_credentials","appkey":"`+kisApp.AppKey+`","appsecret":"`+kisApp.Secret+`"}`)
	access, _ := tok["access_token"].(string)
	if access == "" {
		t.Fatalf("tokenP at the KIS mock root port = %v", tok)
	}
	req, _ := http.NewRequest("GET", urljoin(t, ports["kis mock"], "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930"), nil)
	for k, v := range map[string]string{"authorization": "Bearer " + access, "appkey": kisApp.AppKey, "appsecret": kisApp.Secret, "tr_id": "FHKST01010100", "custtype": "P"} {
		req.Header[k] = []string{v}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"rt_cd":"0"`) {
		t.Errorf("inquire-price at the root port = %s", body)
	}

	kw := postJSON(t, urljoin(t, ports["kiwoom real"], "/oauth2/token"), map[string]string{"api-id": "au10001"},
		`{"grant_type":"client_credentials","appkey":"`+kiwoomApp.AppKey+`","secretkey":"`+kiwoomApp.Secret+`"}`)
	if kw["token"] == nil {
		t.Errorf("au10001 at the Kiwoom real root port = %v", kw)
	}

	// One simulator behind every port: the main address counts both, and
	// the --kis-reissue flag took.
	var st brokersim.Stats
	getJSON(t, http.DefaultClient, root+"/_sim/stats", "", &st)
	if st.Issued != 2 {
		t.Errorf("stats on the main address say %d issued; want 2", st.Issued)
	}
	var modes map[string]string
	getJSON(t, http.DefaultClient, ports["kis mock"]+"/_sim/reissue", "", &modes)
	if modes["kis"] != "new-revoke-old" || modes["kiwoom"] != "same" {
		t.Errorf("/_sim/reissue = %v; want kis new-revoke-old, kiwoom same", modes)
	}
	if code := stop(); code != 0 {
		t.Errorf("kauth sim exited %d; want 0", code)
	}
}

func TestSimFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"sim", "--kis-reissue", "sometimes"},
		{"sim", "--kiwoom-reissue", ""},
		{"sim", "--kis-real", "not-an-address"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			run(t, nil, "", args...).wantCode(t, 2)
		})
	}
}

// TestSimRootPortsEveryBroker: kauth sim serves every registered broker at
// a root port of its own, and kauth token works against it.
func TestSimRootPortsEveryBroker(t *testing.T) {
	var args []string
	for _, b := range brokers.Names() {
		args = append(args, "--"+string(b)+"-real", "127.0.0.1:0")
	}
	_, ports, _ := startSim(t, args...)
	for _, b := range brokers.Names() {
		port := ports[string(b)+" real"]
		if port == "" {
			t.Fatalf("no root port printed for %s real: %v", b, ports)
		}
		spec := brokers.MustGet(b)
		app := brokersim.Demo(b, kauth.Real)
		env := map[string]string{spec.KeyVar: app.AppKey, spec.SecretVar: app.Secret, spec.BaseURLVar: port,
			"KAUTH_CACHE_DIR": t.TempDir() + "/cache"}
		r := run(t, env, "", "token", "--broker", string(b), "--env", "real")
		r.wantCode(t, 0)
		if len(strings.TrimSpace(r.stdout)) < 20 {
			t.Errorf("%s: token = %q", b, r.stdout)
		}
	}
}
