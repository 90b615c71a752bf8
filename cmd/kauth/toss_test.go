package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/toss"
)

// startTossAgents starts n agents serving the Toss client of env (the
// environment-only mode: account toss-real), each with its own runtime
// directory.
func startTossAgents(t *testing.T, n int, env map[string]string) []agentProc {
	t.Helper()
	var out []agentProc
	for range n {
		runtime := t.TempDir()
		os.Chmod(runtime, 0o700)
		d := startDaemon(t, with(env, "XDG_RUNTIME_DIR", runtime), "serve", "--addr", "127.0.0.1:0")
		tcp := d.waitLine(t, regexp.MustCompile(`^\s+tcp\s+(http://\S+) \(send Authorization: Bearer <the key in (\S+)>\)`))
		d.waitLine(t, regexp.MustCompile(`^\s+accounts\s+.*toss-real`))
		key, err := os.ReadFile(tcp[2])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, agentProc{d, tcp[1], strings.TrimSpace(string(key))})
	}
	return out
}

// tossPrice calls GET /api/v1/prices through an agent's proxy.
func tossPrice(t *testing.T, a agentProc) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", a.url+"/proxy/toss-real"+toss.ProbePath, nil)
	req.Header.Set("Authorization", "Bearer "+a.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestTossOneClientManyHolders is why kauth matters most for Toss, where
// every issuance kills the token before it: 16 cold `kauth token`
// processes and two agents started at once on one client, sharing one
// Redis as processes on two hosts do, cost one issuance. Then another
// program issues behind kauth's back, which kills the shared token: the
// agents' next calls are healed with one new token between them, not one
// each, and `kauth token` then prints that token, never the killed one.
func TestTossOneClientManyHolders(t *testing.T) {
	u := testredis.URL(t)
	sim := newTestSim(t)
	client := freshApp(t, sim, toss.Broker, kauth.Real, "TOSS")
	env := map[string]string{
		"TOSS_CLIENT_ID":     client,
		"TOSS_CLIENT_SECRET": fakeKISSecret,
		"TOSS_BASE_URL":      sim.url(toss.Broker, kauth.Real),
		"KAUTH_STORE":        u,
		"KAUTH_KEY":          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"KAUTH_CACHE_DIR":    t.TempDir() + "/cache",
	}
	const n = 16
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	errs := make([]*bytes.Buffer, n)
	for i := range cmds {
		cmds[i] = kauthCommand(t, env, "token", "--broker", "toss", "--env", "real")
		outs[i], errs[i] = new(bytes.Buffer), new(bytes.Buffer)
		cmds[i].Stdout, cmds[i].Stderr = outs[i], errs[i]
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	agents := startTossAgents(t, 2, env)
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("process %d: %v: %s", i, err, errs[i])
		}
	}
	for i, a := range agents {
		if status, body := tossPrice(t, a); status != 200 {
			t.Fatalf("agent %d: prices = %d %s", i, status, body)
		}
	}
	first, _, _ := sim.CurrentToken(toss.Broker, kauth.Real, client)
	for i := range outs {
		if outs[i].String() != first+"\n" {
			t.Errorf("process %d printed %q; want the one token", i, outs[i])
		}
	}
	if got := sim.Issued(toss.Broker, kauth.Real, client); got != 1 {
		t.Fatalf("%d processes and 2 agents issued %d tokens; want 1", n, got)
	}

	// Another program issues with the same client: the shared token dies.
	resp, err := http.PostForm(sim.url(toss.Broker, kauth.Real)+toss.TokenPath, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {fakeKISSecret},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var wg sync.WaitGroup
	for i, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, body := tossPrice(t, a); status != 200 {
				t.Errorf("agent %d: the first call after the kill = %d %s; want it healed", i, status, body)
			}
		}()
	}
	wg.Wait()
	if got := sim.Issued(toss.Broker, kauth.Real, client); got != 3 {
		t.Errorf("issued %d tokens in all; want 3: the first, the one behind kauth's back, one re-issue for both agents", got)
	}
	healed, _, _ := sim.CurrentToken(toss.Broker, kauth.Real, client)
	r := runProcess(t, env, "", "token", "--broker", "toss", "--env", "real")
	r.wantCode(t, 0)
	if r.stdout != healed+"\n" {
		t.Errorf("kauth token after the heal printed %q; want the healed token", r.stdout)
	}
	// kauth status shows the shared token by its fingerprint.
	st := runProcess(t, env, "", "status", "--json")
	st.wantCode(t, 0)
	var status statusJSON
	if err := json.Unmarshal([]byte(st.stdout), &status); err != nil {
		t.Fatalf("status --json: %v: %s", err, st.stdout)
	}
	found := false
	for _, tok := range status.Tokens {
		if tok.Broker == toss.Broker && tok.App == kauth.Fingerprint(client) {
			found = tok.Token == kauth.Fingerprint(healed) && tok.State == "valid" && tok.Env == kauth.Real
		}
	}
	if !found || strings.Contains(st.stdout, healed) {
		t.Errorf("status --json does not show the healed Toss token valid, by fingerprint only:\n%s", st.stdout)
	}
	for _, a := range agents {
		a.stop(t, os.Interrupt)
	}
	if st := sim.Stats().App(toss.Broker, kauth.Real, client); st.TokenRejected > 2 {
		t.Errorf("%d calls were rejected; want at most one per agent", st.TokenRejected)
	}
}
