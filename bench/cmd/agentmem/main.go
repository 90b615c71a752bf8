// Command agentmem measures the resident memory of the kauth agent serving
// many accounts. It builds ./cmd/kauth, registers -accounts made-up apps
// (half KIS, half Kiwoom) at a simulator it serves on 127.0.0.1, writes a
// config naming them (credentials referenced through environment
// variables), starts `kauth serve --config` as a real process on a unix
// socket, waits until every account holds a token, and reads VmRSS and
// VmHWM from /proc/<pid>/status. For comparison it does the same with one
// account.
//
//	go run ./bench/cmd/agentmem [-accounts 100]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

func main() {
	accounts := flag.Int("accounts", 100, "accounts the agent serves")
	flag.Parse()
	if err := run(*accounts); err != nil {
		fmt.Fprintln(os.Stderr, "agentmem:", err)
		os.Exit(1)
	}
}

func run(accounts int) error {
	dir, err := os.MkdirTemp("", "kauth-agentmem-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "kauth")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kauth")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building ./cmd/kauth (run from the repository root): %w", err)
	}

	sim := brokersim.New()
	srv := httptest.NewServer(sim)
	defer srv.Close()

	fmt.Printf("kauth serve, real process, file store, accounts at brokersim on 127.0.0.1; RSS from /proc/<pid>/status\n\n")
	fmt.Printf("| accounts | VmRSS | VmHWM | start to all tokens |\n|---:|---:|---:|---:|\n")
	for _, n := range []int{1, accounts} {
		rss, hwm, took, err := measure(bin, filepath.Join(dir, fmt.Sprint(n)), sim, srv.URL, n)
		if err != nil {
			return err
		}
		fmt.Printf("| %d | %.1f MiB | %.1f MiB | %v |\n", n, mib(rss), mib(hwm), took.Round(time.Millisecond))
	}
	return nil
}

// measure runs the agent with n accounts and returns its VmRSS and VmHWM in
// kB once every account holds a token.
func measure(bin, dir string, sim *brokersim.Server, simURL string, n int) (rss, hwm int64, took time.Duration, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, 0, 0, err
	}
	var cfg strings.Builder
	sock := filepath.Join(dir, "agent.sock")
	fmt.Fprintf(&cfg, "listen:\n  socket: %s\naccounts:\n", sock)
	env := append(os.Environ(), "KAUTH_CACHE_DIR="+filepath.Join(dir, "cache"), "KAUTH_STORE=file")
	for i := range n {
		b, e := kauth.KIS, kauth.Real
		if i%2 == 1 {
			b = kauth.Kiwoom
		}
		// Made up, like the simulator's demo apps; they work only there.
		// Distinct per run: KIS answers a second issuance within a minute
		// with EGW00133.
		key := fmt.Sprintf("BENCHFAKEAPPKEY%s%04d-%04d%s", strings.ToUpper(string(b)), n, i, strings.Repeat("0", 12))
		secret := fmt.Sprintf("BENCHFAKESECRET-%04d-NOT-A-REAL-SECRET-%s", i, strings.Repeat("x", 40))
		sim.Register(b, e, key, secret)
		fmt.Fprintf(&cfg, "  - name: acct%04d\n    broker: %s\n    env: %s\n    base_url: %s\n    appkey: {env: BENCH_APPKEY_%d}\n    appsecret: {env: BENCH_SECRET_%d}\n",
			i, b, e, brokersim.BaseURL(simURL, b, e), i, i)
		env = append(env, fmt.Sprintf("BENCH_APPKEY_%d=%s", i, key), fmt.Sprintf("BENCH_SECRET_%d=%s", i, secret))
	}
	cfgPath := filepath.Join(dir, "kauth.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return 0, 0, 0, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ready, err := tokensHeld(client)
		if err == nil && ready == n {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, 0, fmt.Errorf("%d accounts: %d hold a token after 60 s (%v)", n, ready, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took = time.Since(start)
	time.Sleep(500 * time.Millisecond) // let the start-up garbage be collected
	rss, hwm, err = procMem(cmd.Process.Pid)
	return rss, hwm, took, err
}

// tokensHeld asks the agent how many accounts hold a valid token.
func tokensHeld(client *http.Client) (int, error) {
	resp, err := client.Get("http://localhost/v1/accounts")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var list struct {
		Accounts []struct {
			TokenState string `json:"token_state"`
		} `json:"accounts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return 0, err
	}
	n := 0
	for _, a := range list.Accounts {
		if a.TokenState == "valid" {
			n++
		}
	}
	return n, nil
}

// procMem reads VmRSS and VmHWM (kB) of pid.
func procMem(pid int) (rss, hwm int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		var v int64
		if _, err := fmt.Sscanf(l, "VmRSS: %d kB", &v); err == nil {
			rss = v
		}
		if _, err := fmt.Sscanf(l, "VmHWM: %d kB", &v); err == nil {
			hwm = v
		}
	}
	return rss, hwm, nil
}

func mib(kb int64) float64 { return float64(kb) / 1024 }
