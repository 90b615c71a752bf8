// Command agentmem measures the kauth agent serving many accounts, as a
// real process: start-up, resident memory, the cost of sitting idle, and
// how long it takes to exit on SIGTERM. It builds ./cmd/kauth, registers
// -accounts made-up apps (half KIS, half Kiwoom) at a simulator it serves
// on 127.0.0.1, writes a config naming them (credentials referenced through
// environment variables), starts `kauth serve --config` on a unix socket
// with each store of -stores, and
//
//   - times the start until every account holds a token, and reads the CPU
//     time the agent used meanwhile: GET /healthz every 20 ms until it
//     counts every token usable, then GET /readyz once to check that it
//     says ready and GET /v1/accounts once to check that each account's
//     token is valid (polled every 20 ms at 5,000 accounts, /v1/accounts,
//     which reads each account's issuance history from the store, took a
//     fifth of the agent's CPU during the start, and /readyz, which lists
//     every account, a tenth);
//   - reads VmRSS and VmHWM from /proc/<pid>/status;
//   - leaves it idle for -idle and reads the CPU time it used
//     (/proc/<pid>/stat utime+stime) and the context switches of all its
//     threads (/proc/<pid>/task/*/status): each is a wakeup;
//   - counts the sockets it holds open (/proc/<pid>/fd): one Redis
//     subscription per store, not per account, shows here;
//   - with -list N, times N GETs of /v1/accounts, one after another
//     (each reads every account's issuance history from the store), and
//     reports the median, the slowest, and the agent's CPU time per GET;
//   - sends SIGTERM and times the exit.
//
// For comparison it does the same with one account. The Redis store uses
// -redis (db 14 by default, apart from the tests' db 15), with app keys of
// this run only.
//
//	go run ./bench/cmd/agentmem [-accounts 1000[,5000,...]] [-idle 60s] [-stores file,redis] [-list 0]
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"

	"github.com/kauth/kauth/bench/internal/proc"
)

func main() {
	accounts := flag.String("accounts", "1000", "accounts the agent serves, comma-separated for a curve (1000,5000,10000); each store also runs with 1")
	idle := flag.Duration("idle", 60*time.Second, "how long the agent is left idle before its CPU time is read")
	stores := flag.String("stores", "file,redis", "stores to measure, comma-separated: file, redis")
	redisURL := flag.String("redis", "redis://127.0.0.1:6379/14", "the Redis server for the redis store")
	list := flag.Int("list", 0, "after the idle window, time this many GETs of /v1/accounts")
	flag.Parse()
	var counts []int
	for _, f := range strings.Split(*accounts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "agentmem: -accounts %q: want positive counts, comma-separated\n", *accounts)
			os.Exit(2)
		}
		counts = append(counts, n)
	}
	if err := run(counts, *idle, strings.Split(*stores, ","), *redisURL, *list); err != nil {
		fmt.Fprintln(os.Stderr, "agentmem:", err)
		os.Exit(1)
	}
}

// result is what one run of the agent measured.
type result struct {
	rss, hwm int64 // kB, once every account holds a token
	start    time.Duration
	startCPU float64 // CPU seconds the agent used until every account held a token
	cpu      float64 // share of one core while idle
	switches float64 // context switches per second while idle
	exit     time.Duration
	sockets  int // open sockets while idle: listeners, Redis, keep-alives
	threads  int // OS threads once idle
	// persisted: start until every token is in the store (file: n entry
	// files renamed into place); 0 where not measured.
	persisted time.Duration
	// list: the GETs of /v1/accounts timed (-list), in the order made;
	// listCPU the agent's CPU seconds per GET.
	list    []time.Duration
	listCPU float64
}

func run(accounts []int, idle time.Duration, stores []string, redisURL string, list int) error {
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

	run := make([]byte, 4)
	rand.Read(run)
	runID := fmt.Sprintf("%X", run)

	fmt.Printf("kauth serve, real process, accounts at brokersim on 127.0.0.1; idle %v; RSS from /proc/<pid>/status\n\n", idle)
	head, rule := "", ""
	if list > 0 {
		head, rule = fmt.Sprintf(" GET /v1/accounts, median of %d | slowest | agent CPU per GET |", list), "---:|---:|---:|"
	}
	fmt.Printf("| store | accounts | start → all tokens | CPU of the start | VmRSS | VmHWM | idle CPU | idle wakeups/s | open sockets | OS threads | start → all persisted | SIGTERM → exit |%s\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|%s\n", head, rule)
	for _, st := range stores {
		for _, n := range append([]int{1}, accounts...) {
			r, err := measure(bin, filepath.Join(dir, fmt.Sprint(st, n)), sim, srv.URL, n, st, redisURL, runID, idle, list)
			if err != nil {
				return fmt.Errorf("%s store, %d accounts: %w", st, n, err)
			}
			persisted := "–"
			if r.persisted > 0 {
				persisted = r.persisted.Round(time.Millisecond).String()
			}
			lists := ""
			if len(r.list) > 0 {
				sorted := slices.Sorted(slices.Values(r.list))
				lists = fmt.Sprintf(" %v | %v | %.0f ms |", round(sorted[len(sorted)/2]), round(sorted[len(sorted)-1]), 1000*r.listCPU)
			}
			fmt.Printf("| %s | %d | %v | %.2f s | %.1f MiB | %.1f MiB | %.2f %% | %.1f | %d | %d | %s | %v |%s\n", st, n,
				r.start.Round(time.Millisecond), r.startCPU, mib(r.rss), mib(r.hwm), 100*r.cpu, r.switches, r.sockets, r.threads, persisted, r.exit.Round(time.Millisecond), lists)
		}
	}
	return nil
}

// measure runs the agent with n accounts on the store kind.
func measure(bin, dir string, sim *brokersim.Server, simURL string, n int, kind, redisURL, runID string, idle time.Duration, list int) (r result, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return r, err
	}
	var cfg strings.Builder
	sock := filepath.Join(dir, "agent.sock")
	fmt.Fprintf(&cfg, "listen:\n  socket: %s\naccounts:\n", sock)
	env := os.Environ()
	switch kind {
	case "file":
		env = append(env, "KAUTH_CACHE_DIR="+filepath.Join(dir, "cache"), "KAUTH_STORE=file")
	case "redis":
		key := make([]byte, 32)
		rand.Read(key)
		env = append(env, "KAUTH_STORE="+redisURL, "KAUTH_KEY="+base64.StdEncoding.EncodeToString(key))
	default:
		return r, fmt.Errorf("unknown store %q (want file or redis)", kind)
	}
	for i := range n {
		b, e := kauth.KIS, kauth.Real
		if i%2 == 1 {
			b = kauth.Kiwoom
		}
		// Made up, like the simulator's demo apps; they work only there.
		// Distinct per run and store: KIS answers a second issuance within
		// a minute with EGW00133, and Redis keeps tokens across runs.
		key := fmt.Sprintf("BENCHFAKEAPPKEY%s%s%s%04d-%04d%s", strings.ToUpper(string(b)), strings.ToUpper(kind), runID, n, i, strings.Repeat("0", 8))
		secret := fmt.Sprintf("BENCHFAKESECRET-%04d-NOT-A-REAL-SECRET-%s", i, strings.Repeat("x", 40))
		sim.Register(b, e, key, secret)
		fmt.Fprintf(&cfg, "  - name: acct%04d\n    broker: %s\n    env: %s\n    base_url: %s\n    appkey: {env: BENCH_APPKEY_%d}\n    appsecret: {env: BENCH_SECRET_%d}\n",
			i, b, e, brokersim.BaseURL(simURL, b, e), i, i)
		env = append(env, fmt.Sprintf("BENCH_APPKEY_%d=%s", i, key), fmt.Sprintf("BENCH_SECRET_%d=%s", i, secret))
	}
	cfgPath := filepath.Join(dir, "kauth.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return r, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
			return
		default:
		}
		cmd.Process.Kill()
		<-exited
	}()

	// 60 s: GET /v1/accounts reads every account's history from the store
	// (one Redis round trip per account before it read them in batches:
	// over 5 s at 10,000 accounts on a loaded machine).
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if usable(client) == n {
			if !isReady(client) {
				return r, fmt.Errorf("/healthz counts %d usable tokens but /readyz does not say ready; agent said:\n%s", n, tail(stderr.String()))
			}
			ready, err := tokensHeld(client)
			if err == nil && ready == n {
				break
			}
			return r, fmt.Errorf("/readyz says ready but %d of %d accounts hold a valid token (%v); agent said:\n%s", ready, n, err, tail(stderr.String()))
		}
		if time.Now().After(deadline) {
			ready, err := tokensHeld(client)
			return r, fmt.Errorf("%d hold a token after 90 s (%v); agent said:\n%s", ready, err, tail(stderr.String()))
		}
		select {
		case <-exited:
			return r, fmt.Errorf("the agent exited; it said:\n%s", tail(stderr.String()))
		case <-time.After(20 * time.Millisecond):
		}
	}
	r.start = time.Since(start)
	r.startCPU, _ = proc.CPU(cmd.Process.Pid)
	if kind == "file" {
		for entries(filepath.Join(dir, "cache")) < n {
			if time.Now().After(deadline) {
				return r, fmt.Errorf("%d of %d tokens in the file store after 90 s", entries(filepath.Join(dir, "cache")), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		r.persisted = time.Since(start)
	}
	client.CloseIdleConnections()
	time.Sleep(500 * time.Millisecond) // let the start-up garbage be collected
	pid := cmd.Process.Pid
	if r.rss, r.hwm, err = proc.Mem(pid); err != nil {
		return r, err
	}

	cpu0, err := proc.CPU(pid)
	if err != nil {
		return r, err
	}
	sw0 := proc.Switches(pid)
	t0 := time.Now()
	time.Sleep(idle)
	cpu1, err := proc.CPU(pid)
	if err != nil {
		return r, err
	}
	sw1 := proc.Switches(pid)
	r.sockets = sockets(pid)
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	r.threads = len(tasks)
	took := time.Since(t0).Seconds()
	r.cpu = (cpu1 - cpu0) / took
	r.switches = float64(sw1-sw0) / took

	cpuList, err := proc.CPU(pid)
	if err != nil {
		return r, err
	}
	for range list {
		t := time.Now()
		held, err := tokensHeld(client)
		if err != nil || held != n {
			return r, fmt.Errorf("GET /v1/accounts: %d of %d accounts hold a valid token (%v)", held, n, err)
		}
		r.list = append(r.list, time.Since(t))
	}
	if list > 0 {
		cpu, err := proc.CPU(pid)
		if err != nil {
			return r, err
		}
		r.listCPU = (cpu - cpuList) / float64(list)
	}

	term := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return r, err
	}
	select {
	case <-exited:
		r.exit = time.Since(term)
	case <-time.After(60 * time.Second):
		return r, fmt.Errorf("still running 60 s after SIGTERM")
	}
	return r, nil
}

// entries counts the token entries (*.tok) in the file store's directory.
func entries(dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, "*.tok"))
	return len(m)
}

// sockets counts the sockets pid has open.
func sockets(pid int) int {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	n := 0
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

func tail(s string) string {
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// usable asks GET /healthz how many accounts hold a usable token (-1 on
// error). Its answer is a few bytes, where /readyz lists every account: at
// 10,000 accounts polling /readyz every 20 ms cost the agent as much CPU
// as a good part of its start, more the longer the start.
func usable(client *http.Client) int {
	resp, err := client.Get("http://localhost/healthz")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var h struct {
		Usable int `json:"tokens_usable"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return -1
	}
	return h.Usable
}

// isReady says whether GET /readyz answers 200: every account holds a
// usable token or has failed for a stated reason.
func isReady(client *http.Client) bool {
	resp, err := client.Get("http://localhost/readyz")
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
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

func mib(kb int64) float64 { return float64(kb) / 1024 }

// round rounds d to a tenth of a millisecond, or to a millisecond from a
// second up.
func round(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Microsecond)
}
