// Command multihost measures one call budget shared by several agents:
// n `kauth serve` processes (as on n hosts) share one KIS app key through
// one Redis, and four bots per agent call inquire-price through their
// agent's proxy as fast as answers come. It reports the calls a second
// that reach the simulator (in process, with KIS's own per-second limits),
// the EGW00201 answers (must be 0), the share each agent got, and what one
// Wait costs on the Redis budget against the local limiter, measured in the
// same run.
//
//	go run ./bench/cmd/multihost [-agents 2,4] [-env mock] [-for 10s] [-redis redis://127.0.0.1:6379/15]
//
// Loopback only. It builds kauth into a temporary directory first.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/bench/internal/benchenv"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/budget"
)

func main() {
	agentsFlag := flag.String("agents", "2,4", "comma-separated numbers of agents to run, one round each")
	envFlag := flag.String("env", "mock", "KIS env whose limits apply: mock (2 calls/s) or real (20/s)")
	dur := flag.Duration("for", 10*time.Second, "how long each round drives the bots")
	redisURL := flag.String("redis", benchenv.Or("KAUTH_TEST_REDIS", "redis://127.0.0.1:6379/15"), "the Redis the agents share")
	flag.Parse()
	env, err := kauth.ParseEnv(*envFlag)
	if err != nil {
		log.Fatal(err)
	}

	dir, err := os.MkdirTemp("", "kauth-multihost-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "kauth")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/kauth").CombinedOutput(); err != nil {
		log.Fatalf("building kauth: %v\n%s", err, out)
	}

	sim := brokersim.New()
	ts := httptest.NewServer(sim)
	defer ts.Close()

	fmt.Printf("KIS %s (broker limit %d calls/s, agents' budget %.1f/s), %v a round, Redis %s\n\n",
		env, map[kauth.Env]int{kauth.Real: 20, kauth.Mock: 2}[env], defaultRate(env), *dur, redacted(*redisURL))
	fmt.Println("| agents | calls/s at the simulator | EGW00201 | issued | share of each agent |")
	fmt.Println("|---|---|---|---|---|")
	for _, f := range strings.Split(*agentsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			log.Fatalf("-agents: %q", f)
		}
		round(bin, dir, sim, ts.URL, env, n, *dur, *redisURL)
	}
	fmt.Println()
	limiterCost(*redisURL)
}

func defaultRate(e kauth.Env) float64 {
	if e == kauth.Real {
		return 18
	}
	return 1.8
}

func redacted(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		return "redis://…" + u[i:]
	}
	return u
}

// round runs n agents on one fresh app key and prints one table row.
func round(bin, dir string, sim *brokersim.Server, simURL string, e kauth.Env, n int, d time.Duration, redisURL string) {
	var b [6]byte
	rand.Read(b[:])
	appKey := "FAKE-BENCH-MULTIHOST-" + hex.EncodeToString(b[:])
	secret := "FAKE-BENCH-SECRET-" + hex.EncodeToString(b[:])
	sim.Register(kauth.KIS, e, appKey, secret)
	base := brokersim.BaseURL(simURL, kauth.KIS, e)

	type agentProc struct {
		cmd      *exec.Cmd
		url, key string
	}
	var agents []agentProc
	for i := range n {
		run := filepath.Join(dir, fmt.Sprintf("run-%s-%d", appKey[len(appKey)-6:], i))
		os.MkdirAll(run, 0o700)
		cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
		cmd.Env = []string{"HOME=" + run, "PATH=/usr/bin:/bin", "XDG_RUNTIME_DIR=" + run, "KAUTH_CACHE_DIR=" + run + "/cache",
			"KIS_APPKEY=" + appKey, "KIS_APPSECRET=" + secret, "KIS_BASE_URL=" + base, "KIS_ENV=" + string(e),
			"KAUTH_STORE=" + redisURL, "KAUTH_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
		out, err := cmd.StdoutPipe()
		if err != nil {
			log.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
		url, keyFile := waitTCP(out)
		key, err := os.ReadFile(keyFile)
		if err != nil {
			log.Fatal(err)
		}
		agents = append(agents, agentProc{cmd, url, strings.TrimSpace(string(key))})
	}

	before := sim.Stats().App(kauth.KIS, e, appKey)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ok := make([]atomic.Int64, n)
	var wg sync.WaitGroup
	for i, a := range agents {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, "GET", a.url+"/proxy/kis-"+string(e)+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
					req.Header.Set("Authorization", "Bearer "+a.key)
					req.Header.Set("tr_id", "FHKST01010100")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 {
						ok[i].Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	c := sim.Stats().App(kauth.KIS, e, appKey)
	var total int64
	shares := make([]string, n)
	for i := range ok {
		total += ok[i].Load()
	}
	for i := range ok {
		shares[i] = fmt.Sprintf("%.0f%%", 100*float64(ok[i].Load())/float64(max(total, 1)))
	}
	fmt.Printf("| %d | %.2f | %d | %d | %s |\n", n, float64(c.OK-before.OK)/d.Seconds(), c.RateLimited-before.RateLimited, c.Issued, strings.Join(shares, " / "))
}

var tcpLine = regexp.MustCompile(`^\s+tcp\s+(http://\S+) \(send Authorization: Bearer <the key in (\S+)>\)`)

func waitTCP(out io.Reader) (url, keyFile string) {
	lines := make(chan [2]string, 1)
	go func() {
		buf := make([]byte, 0, 4096)
		tmp := make([]byte, 1024)
		sent := false
		for {
			k, err := out.Read(tmp)
			buf = append(buf, tmp[:k]...)
			for {
				i := slices.Index(buf, '\n')
				if i < 0 {
					break
				}
				if m := tcpLine.FindStringSubmatch(string(buf[:i])); m != nil && !sent {
					lines <- [2]string{m[1], m[2]}
					sent = true
				}
				buf = buf[i+1:]
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case l := <-lines:
		return l[0], l[1]
	case <-time.After(20 * time.Second):
		log.Fatal("kauth serve did not print its TCP address")
	}
	return "", ""
}

// limiterCost measures one Wait that need not wait: on the Redis budget
// (one script round trip) and on the local limiter, in the same run.
func limiterCost(redisURL string) {
	o, err := goredis.ParseURL(redisURL)
	if err != nil {
		log.Fatal(err)
	}
	c := goredis.NewClient(o)
	defer c.Close()
	var b [6]byte
	rand.Read(b[:])
	shared, err := budget.NewShared(budget.Config{Client: c, Key: "kauthbench:{kis/real/" + hex.EncodeToString(b[:]) + "}:budget",
		PerSecond: 1e6, Burst: 1000, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Del(context.Background(), "kauthbench:{kis/real/"+hex.EncodeToString(b[:])+"}:budget")
	local := budget.NewLocal(1e6, 1000)
	const n = 5000
	measure := func(l kauth.Limiter) (p50, p99 time.Duration) {
		ds := make([]time.Duration, n)
		ctx := context.Background()
		for i := range ds {
			start := time.Now()
			if err := l.Wait(ctx); err != nil {
				log.Fatal(err)
			}
			ds[i] = time.Since(start)
		}
		slices.Sort(ds)
		return ds[n/2], ds[n*99/100]
	}
	sp50, sp99 := measure(shared)
	lp50, lp99 := measure(local)
	fmt.Println("| limiter | one Wait, p50 | p99 |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| local (golang.org/x/time/rate) | %v | %v |\n", lp50.Round(10*time.Nanosecond), lp99.Round(10*time.Nanosecond))
	fmt.Printf("| shared (Redis, one script) | %v | %v |\n", sp50.Round(time.Microsecond), sp99.Round(time.Microsecond))
}
