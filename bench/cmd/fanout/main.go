// Command fanout measures the agent's WebSocket gateway: one upstream KIS
// feed fanned out to 1, 10 and 100 local clients, against a direct
// connection to the simulator in the same run.
//
// It builds ./cmd/kauth and starts `kauth serve` as a real process on a
// unix socket, with one KIS mock account at a simulator served by this
// process on 127.0.0.1. A second app key holds a direct session to the
// simulator. Both subscribe to the same -codes codes of H0STCNT0; the
// simulator's frames are driven by this process (brokersim Tick) at
// -rate frames per second in total, so every frame has a known send time
// and a per-code sequence number (its cumulative volume field). Each client
// measures the delay from the tick to its receipt and checks that no
// sequence number is missing. The agent's CPU comes from /proc/<pid>/stat,
// its memory from /proc/<pid>/status.
//
//	go run ./bench/cmd/fanout [-rate 2000] [-codes 10] [-seconds 5] [-clients 1,10,100]
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kis"

	"github.com/kauth/kauth/bench/internal/proc"
)

func main() {
	rate := flag.Int("rate", 2000, "frames per second of the upstream feed (all codes together)")
	codes := flag.Int("codes", 10, "codes subscribed (H0STCNT0)")
	seconds := flag.Float64("seconds", 5, "length of each run")
	clients := flag.String("clients", "1,10,100", "local client counts to measure")
	flag.Parse()
	var counts []int
	for _, s := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "fanout: bad -clients")
			os.Exit(2)
		}
		counts = append(counts, n)
	}
	if err := run(*rate, *codes, time.Duration(*seconds*float64(time.Second)), counts); err != nil {
		fmt.Fprintln(os.Stderr, "fanout:", err)
		os.Exit(1)
	}
}

// Made up, like the simulator's demo apps; they work only there.
var (
	agentApp  = brokersim.App{Broker: kauth.KIS, Env: kauth.Mock, AppKey: "PSBENCHFANOUTAGENT000000000000000000", Secret: "BENCH-FANOUT-AGENT-NOT-A-REAL-SECRET-" + strings.Repeat("x", 40)}
	directApp = brokersim.App{Broker: kauth.KIS, Env: kauth.Mock, AppKey: "PSBENCHFANOUTDIRECT00000000000000000", Secret: "BENCH-FANOUT-DIRECT-NOT-A-REAL-SECRET-" + strings.Repeat("x", 40)}
)

func run(rate, ncodes int, d time.Duration, counts []int) error {
	dir, err := os.MkdirTemp("", "kauth-fanout-")
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
	sim.WS.TickInterval = -1 // this process drives the frames
	sim.WS.PingInterval = -1
	sim.WS.Buffer = 1 << 16
	sim.Register(agentApp.Broker, agentApp.Env, agentApp.AppKey, agentApp.Secret)
	sim.Register(directApp.Broker, directApp.Env, directApp.AppKey, directApp.Secret)
	srv := httptest.NewServer(sim)
	defer srv.Close()
	base := brokersim.BaseURL(srv.URL, kauth.KIS, kauth.Mock)

	runtime := filepath.Join(dir, "run")
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "KAUTH_CACHE_DIR="+filepath.Join(dir, "cache"), "XDG_RUNTIME_DIR="+runtime,
		"KAUTH_STORE=file", "KIS_APPKEY="+agentApp.AppKey, "KIS_APPSECRET="+agentApp.Secret, "KIS_ENV=mock",
		"KIS_BASE_URL="+base, "KIWOOM_APPKEY=", "KIWOOM_SECRETKEY=")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return err
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
	sock := filepath.Join(runtime, "kauth", "agent.sock")
	httpc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := httpc.Get("http://localhost/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("agent not up after 30 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	codes := make([]string, ncodes)
	for i := range codes {
		codes[i] = fmt.Sprintf("%06d", 100000+i)
	}
	ctx := context.Background()
	approval, err := (&kis.Provider{BaseURL: base}).ApprovalKey(ctx, directApp.Credentials())
	if err != nil {
		return err
	}
	direct, err := dial(ctx, "ws"+strings.TrimPrefix(base, "http"), nil)
	if err != nil {
		return err
	}
	defer direct.CloseNow()
	if err := subscribeAll(ctx, direct, approval, codes); err != nil {
		return fmt.Errorf("direct: %w", err)
	}

	fmt.Printf("One upstream KIS feed (H0STCNT0, %d codes, %d frames/s in total, %v per run) from brokersim on 127.0.0.1;\n", ncodes, rate, d)
	fmt.Printf("`kauth serve` is a real process, clients on its unix socket; the direct client is a second app key's own session.\n")
	fmt.Printf("Latency: from the simulator's tick to the client's receipt.\n\n")
	fmt.Printf("| clients | dropped as slow | frames/client kept | lost (kept clients) | direct p50 | direct p99 | via agent p50 | via agent p99 | added p50 | added p99 | agent CPU | agent RSS | RSS per client |\n")
	fmt.Printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	// A keeper client holds the agent's subscriptions between runs, so that
	// the upstream session's sequence numbers keep step with the ticks.
	keeper, err := dial(ctx, "ws://localhost/ws/kis-mock", httpc)
	if err != nil {
		return err
	}
	defer keeper.CloseNow()
	if err := subscribeAll(ctx, keeper, "placeholder", codes); err != nil {
		return fmt.Errorf("via agent: %w", err)
	}
	var ticks tickLog
	var cur atomic.Pointer[clientStats]
	go readFrames(keeper, &ticks, func() *clientStats { return nil })
	go readFrames(direct, &ticks, cur.Load)
	// Warm up for a second (the agent's buffers and heap grow to the feed),
	// then take the memory baseline.
	interval := time.Second * time.Duration(ncodes) / time.Duration(rate)
	for start := time.Now(); time.Since(start) < time.Second; time.Sleep(interval) {
		ticks.add(time.Now())
		sim.Tick()
	}
	time.Sleep(300 * time.Millisecond)
	rss0, _, _ := proc.Mem(cmd.Process.Pid)
	var wg sync.WaitGroup
	for _, n := range counts {
		var clients []*websocket.Conn
		for range n {
			c, err := dial(ctx, "ws://localhost/ws/kis-mock", httpc)
			if err != nil {
				return err
			}
			if err := subscribeAll(ctx, c, "placeholder", codes); err != nil {
				return fmt.Errorf("via agent: %w", err)
			}
			clients = append(clients, c)
		}
		ticks.reset()
		directStats := newStats()
		cur.Store(directStats)
		stats := make([]*clientStats, n)
		for i, c := range clients {
			stats[i] = newStats()
			wg.Add(1)
			go func() {
				defer wg.Done()
				readFrames(c, &ticks, func() *clientStats { return stats[i] })
			}()
		}
		cpu0, _ := proc.CPU(cmd.Process.Pid)
		start := time.Now()
		tk := time.NewTicker(interval)
		sent := 0
		for time.Since(start) < d {
			<-tk.C
			ticks.add(time.Now())
			sim.Tick()
			sent++
		}
		tk.Stop()
		wall := time.Since(start)
		cpu1, _ := proc.CPU(cmd.Process.Pid)
		// Let the last frames arrive, then stop the readers.
		time.Sleep(500 * time.Millisecond)
		rss, _, _ := proc.Mem(cmd.Process.Pid)
		cur.Store(nil)
		for _, c := range clients {
			c.CloseNow()
		}
		wg.Wait()

		var all []time.Duration
		lost, got, dropped := 0, 0, 0
		for _, s := range stats {
			s.mu.Lock()
			gone := s.dropped
			if !gone {
				all = append(all, s.lat...)
				got += s.frames
			}
			s.mu.Unlock()
			if gone {
				dropped++
				continue
			}
			lost += s.lost(codes, sent)
		}
		kept := max(n-dropped, 1)
		directStats.mu.Lock()
		dp50, dp99 := pct(directStats.lat, 50), pct(directStats.lat, 99)
		directStats.mu.Unlock()
		ap50, ap99 := pct(all, 50), pct(all, 99)
		perClient := float64(rss-rss0) / float64(n)
		fmt.Printf("| %d | %d | %d | %d | %v | %v | %v | %v | %v | %v | %.0f%% of a core | %.1f MiB | %.0f KiB |\n",
			n, dropped, got/kept, lost, round(dp50), round(dp99), round(ap50), round(ap99), round(ap50-dp50), round(ap99-dp99),
			100*(cpu1-cpu0)/wall.Seconds(), float64(rss)/1024, perClient)
		time.Sleep(300 * time.Millisecond) // the agent frees the clients
	}
	st := sim.WSStats(kauth.KIS, kauth.Mock, agentApp.AppKey)
	fmt.Printf("\nThe simulator saw the agent open %d session(s) and subscribe %d time(s) for %d codes.\n", st.Opened, st.Subscribes, ncodes)
	return nil
}

func round(d time.Duration) time.Duration {
	if d < 10*time.Microsecond {
		return d.Round(100 * time.Nanosecond)
	}
	return d.Round(time.Microsecond)
}

func dial(ctx context.Context, url string, c *http.Client) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPClient: c})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	return conn, nil
}

func subscribeAll(ctx context.Context, c *websocket.Conn, key string, codes []string) error {
	for _, code := range codes {
		msg, _ := json.Marshal(map[string]any{
			"header": map[string]string{"approval_key": key, "custtype": "P", "tr_type": "1", "content-type": "utf-8"},
			"body":   map[string]any{"input": map[string]string{"tr_id": "H0STCNT0", "tr_key": code}},
		})
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			return err
		}
		_, ans, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if !strings.Contains(string(ans), "OPSP0000") {
			return fmt.Errorf("subscribe %s: %s", code, ans)
		}
	}
	return nil
}

// tickLog keeps the send time of every tick; tick i (from 1) carries
// sequence number i for every code.
type tickLog struct {
	mu    sync.Mutex
	times []time.Time
	base  atomic.Int64 // sequence number of times[0]
}

func (l *tickLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.base.Add(int64(len(l.times)))
	l.times = l.times[:0]
}

func (l *tickLog) add(t time.Time) {
	l.mu.Lock()
	l.times = append(l.times, t)
	l.mu.Unlock()
}

func (l *tickLog) at(seq int) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := seq - 1 - int(l.base.Load())
	if i < 0 || i >= len(l.times) {
		return time.Time{}, false
	}
	return l.times[i], true
}

type clientStats struct {
	mu     sync.Mutex
	lat    []time.Duration
	frames int
	seen   map[string]int // code → count of frames of this run
	// dropped: the agent closed the client as too slow (1008).
	dropped bool
}

// parseFrame reads the code and the cumulative volume (field 13, the
// simulator's sequence number) of "0|H0STCNT0|001|code^…".
func parseFrame(b []byte) (code string, seq int, ok bool) {
	bars := 0
	i := 0
	for ; i < len(b) && bars < 3; i++ {
		if b[i] == '|' {
			bars++
		}
	}
	field, start := 0, i
	for j := i; j <= len(b); j++ {
		if j < len(b) && b[j] != '^' {
			continue
		}
		switch field {
		case 0:
			code = string(b[start:j])
		case 13:
			n, err := strconv.Atoi(string(b[start:j]))
			return code, n, err == nil
		}
		field++
		start = j + 1
	}
	return "", 0, false
}

func newStats() *clientStats { return &clientStats{seen: map[string]int{}} }

// lost counts the frames of the run that did not arrive.
func (s *clientStats) lost(codes []string, sent int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range codes {
		n += sent - s.seen[c]
	}
	return n
}

// readFrames reads data frames until the connection ends, timing each
// against its tick into the stats that cur returns (none: discard).
func readFrames(c *websocket.Conn, ticks *tickLog, cur func() *clientStats) {
	for {
		_, b, err := c.Read(context.Background())
		if err != nil {
			if s := cur(); s != nil && websocket.CloseStatus(err) == websocket.StatusPolicyViolation {
				s.mu.Lock()
				s.dropped = true
				s.mu.Unlock()
			}
			return
		}
		now := time.Now()
		s := cur()
		if s == nil || len(b) == 0 || b[0] != '0' {
			continue
		}
		code, seq, ok := parseFrame(b)
		if !ok {
			continue
		}
		t0, ok := ticks.at(seq)
		if !ok {
			continue // a frame of the previous run
		}
		s.mu.Lock()
		s.lat = append(s.lat, now.Sub(t0))
		s.frames++
		s.seen[code]++
		s.mu.Unlock()
	}
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[(len(d)-1)*p/100]
}
