// Command fairness measures how the agent shares an app key's call budget
// between a client that floods its proxy and one that calls now and then.
// It starts the simulator (KIS real's own 20 calls/s limit) and the agent
// (agent.New over SimConfig, the default rate_limit of 18/s, TCP) in this
// process, with two client keys on kis-real: "hostile" calls inquire-price
// from -flood callers as fast as answers come, "polite" calls it -rate
// times a second for -for. It reports the polite client's latency (p50,
// p90, p99, slowest) and the calls each client got, once for each value of
// client_turns in -turns (a large value lets calls wait first come, first
// served). With -agents 2 the clients call two agents that share the app
// key's budget through Redis (-redis), the hostile one on the first and the
// polite one on the second.
//
//	go run ./bench/cmd/fairness [-turns 1,64] [-flood 16] [-rate 4] [-for 30s] [-agents 1|2] [-redis redis://127.0.0.1:6379/15]
//
// Loopback only.
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
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/bench/internal/benchenv"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/budget"
	"github.com/kauth/kauth/internal/agentsim"
)

const inquirePrice = "/proxy/kis-real/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930"

func main() {
	turnsFlag := flag.String("turns", "1,64", "comma-separated client_turns values, one round each")
	flood := flag.Int("flood", 16, "callers of the hostile client")
	rate := flag.Float64("rate", 4, "calls a second of the polite client")
	dur := flag.Duration("for", 30*time.Second, "how long the polite client calls in each round")
	agents := flag.Int("agents", 1, "1: both clients on one agent; 2: each on its own agent, sharing the budget through Redis")
	redisURL := flag.String("redis", benchenv.Or("KAUTH_TEST_REDIS", "redis://127.0.0.1:6379/15"), "the Redis two agents share")
	flag.Parse()
	if *agents != 1 && *agents != 2 {
		log.Fatal("-agents: 1 or 2")
	}
	fmt.Printf("KIS real through %d agent(s) (rate_limit 18/s, broker limit 20/s); hostile: %d callers flat out; polite: %v calls/s for %v\n\n", *agents, *flood, *rate, *dur)
	fmt.Println("| client_turns | polite p50 | p90 | p99 | slowest | polite calls | hostile calls/s | EGW00201 |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, f := range strings.Split(*turnsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			log.Fatalf("-turns: %q", f)
		}
		if err := round(n, *flood, *rate, *dur, *agents, *redisURL); err != nil {
			log.Fatal(err)
		}
	}
}

func round(turns, flood int, rate float64, dur time.Duration, agents int, redisURL string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sim := brokersim.New()
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	dir, err := os.MkdirTemp("", "kauth-fairness-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The agents share one token store, as agents on one Redis do.
	opts := agent.Options{Store: kauth.NewMemoryStore()}
	if agents > 1 {
		o, err := goredis.ParseURL(redisURL)
		if err != nil {
			return err
		}
		rc := goredis.NewClient(o)
		defer rc.Close()
		var b [6]byte
		rand.Read(b[:])
		prefix := "kauthbench:" + hex.EncodeToString(b[:])
		defer func() {
			keys, _ := rc.Keys(context.Background(), prefix+":*").Result()
			if len(keys) > 0 {
				rc.Del(context.Background(), keys...)
			}
		}()
		opts.SharedBudget = func(s agent.BudgetSpec) (*budget.Shared, error) {
			return budget.NewShared(budget.Config{Client: rc, Key: prefix + ":{" + s.Key.String() + "}:budget", PerSecond: s.PerSecond,
				Burst: s.Burst, LocalShare: s.LocalShare, Logger: quiet, OnFallback: s.OnFallback})
		}
	}
	// start serves an agent with client keys of the given names on
	// kis-real and returns its URL and the keys.
	start := func(i int, names ...string) (string, []string, error) {
		cfg := agentsim.Config(simSrv.URL)
		cfg.Listen = agent.Listen{Socket: agent.SocketOff, TCP: "127.0.0.1:0", KeyFile: filepath.Join(dir, fmt.Sprintf("agent%d.key", i))}
		cfg.ClientTurns = turns
		for _, name := range names {
			cfg.ClientKeys = append(cfg.ClientKeys, agent.ClientKey{Name: name, File: filepath.Join(dir, name+".key"), Accounts: []string{"kis-real"}})
		}
		o := opts
		o.Logger, o.Getenv = quiet, func(string) string { return "" }
		a, err := agent.New(cfg, o)
		if err != nil {
			return "", nil, err
		}
		go a.ListenAndServe(ctx)
		go func() { <-ctx.Done(); a.Close() }()
		<-a.Ready()
		var keys []string
		for _, name := range names {
			k, err := os.ReadFile(filepath.Join(dir, name+".key"))
			if err != nil {
				return "", nil, err
			}
			keys = append(keys, strings.TrimSpace(string(k)))
		}
		return "http://" + a.Endpoints().TCP, keys, nil
	}
	var hostileURL, politeURL, hostileKey, politeKey string
	if agents > 1 {
		u1, k1, err := start(0, "hostile")
		if err != nil {
			return err
		}
		u2, k2, err := start(1, "polite")
		if err != nil {
			return err
		}
		hostileURL, hostileKey, politeURL, politeKey = u1, k1[0], u2, k2[0]
	} else {
		u, k, err := start(0, "hostile", "polite")
		if err != nil {
			return err
		}
		hostileURL, hostileKey, politeURL, politeKey = u, k[0], u, k[1]
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4 * flood}}
	defer client.CloseIdleConnections()
	call := func(base, key string) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+inquirePrice, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("tr_id", "FHKST01010100")
		req.Header.Set("custtype", "P")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	var hostileOK atomic.Int64
	var wg sync.WaitGroup
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if st, err := call(hostileURL, hostileKey); err == nil && st == 200 {
					hostileOK.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Second) // the flood fills the line
	hostileStart := hostileOK.Load()
	began := time.Now()
	var took []time.Duration
	failed := 0
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	for time.Since(began) < dur {
		<-tick.C
		t0 := time.Now()
		st, err := call(politeURL, politeKey)
		took = append(took, time.Since(t0))
		if err != nil || st != 200 {
			failed++
		}
	}
	tick.Stop()
	hostilePerSec := float64(hostileOK.Load()-hostileStart) / time.Since(began).Seconds()
	cancel()
	wg.Wait()
	slices.Sort(took)
	q := func(p float64) time.Duration {
		return took[min(len(took)-1, int(p*float64(len(took))))].Round(time.Millisecond)
	}
	st := sim.Stats().App(brokersim.DemoKISReal.Broker, brokersim.DemoKISReal.Env, brokersim.DemoKISReal.AppKey)
	fmt.Printf("| %d | %v | %v | %v | %v | %d (%d failed) | %.1f | %d |\n", turns, q(0.5), q(0.9), q(0.99), took[len(took)-1].Round(time.Millisecond),
		len(took), failed, hostilePerSec, st.RateLimited)
	return nil
}
