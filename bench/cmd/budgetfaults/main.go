// Command budgetfaults measures one KIS app key's shared call budget while
// its Redis fails: n holders of the budget (as n agents: each a
// budget.Shared on a Redis client of its own), four callers each, call
// inquire-price on the simulator (in process, KIS real's 20 calls/s limit)
// as fast as the budget lets them, while a TCP proxy between the holders
// and Redis stalls the link (open but silent) or cuts it, then restores it,
// cycle after cycle.
//
// It reports the EGW00201 answers (must be 0), the calls that failed for
// the budget's sake (must be 0), the longest time no call went, the most
// calls in any one second, and the calls of each second around every
// transition.
//
//	go run ./bench/cmd/budgetfaults [-holders 2] [-cycles 10] [-fault 2s] [-up 2s] [-redis redis://127.0.0.1:6379/15]
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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/bench/internal/benchenv"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/budget"
	"github.com/kauth/kauth/internal/tcpproxy"
	"github.com/kauth/kauth/kis"
)

func main() {
	holders := flag.Int("holders", 2, "budget holders (agents) sharing the app key")
	cycles := flag.Int("cycles", 10, "fault cycles: stall and cut by turns, each followed by a return")
	fault := flag.Duration("fault", 2*time.Second, "how long each fault lasts")
	up := flag.Duration("up", 2*time.Second, "how long Redis answers after each fault")
	redisURL := flag.String("redis", benchenv.Or("KAUTH_TEST_REDIS", "redis://127.0.0.1:6379/15"), "the Redis the holders share")
	flag.Parse()
	if *holders < 1 || *cycles < 1 {
		log.Fatal("budgetfaults: -holders and -cycles must be at least 1")
	}
	o, err := goredis.ParseURL(*redisURL)
	if err != nil {
		log.Fatal(err)
	}
	p, err := tcpproxy.New(o.Addr)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	var b [6]byte
	rand.Read(b[:])
	key := "kauthbench:{kis/real/" + hex.EncodeToString(b[:]) + "}:budget"

	sim := brokersim.New()
	ts := httptest.NewServer(sim)
	defer ts.Close()
	app := brokersim.DemoKISReal
	base := brokersim.BaseURL(ts.URL, app.Broker, app.Env)
	store := kauth.NewMemoryStore()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	var (
		mu       sync.Mutex
		calls    []time.Time
		budgetKO atomic.Int64
		otherKO  atomic.Int64
		firstErr atomic.Value
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range *holders {
		// The options kauth's Redis store opens its clients with.
		co := *o
		co.Addr = p.Addr()
		co.DialTimeout, co.ReadTimeout, co.WriteTimeout = time.Second, 2*time.Second, 2*time.Second
		co.MaxRetries, co.DialerRetries = 1, 1
		c := goredis.NewClient(&co)
		defer c.Close()
		s, err := budget.NewShared(budget.Config{Client: c, Key: key, PerSecond: 18, Burst: 1, LocalShare: 1 / float64(*holders), Logger: quiet})
		if err != nil {
			log.Fatal(err)
		}
		m, err := kauth.NewManager(kauth.Config{Credentials: app.Credentials(), Provider: &kis.Provider{BaseURL: base}, Store: store, Logger: quiet})
		if err != nil {
			log.Fatal(err)
		}
		defer m.Close()
		lim := limiterFunc(func(cctx context.Context) error {
			if err := s.Wait(cctx); err != nil {
				if ctx.Err() == nil {
					budgetKO.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				return err
			}
			mu.Lock()
			calls = append(calls, time.Now())
			mu.Unlock()
			return nil
		})
		hc := &http.Client{Transport: &kauth.Transport{Manager: m, Limiter: lim}}
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
					req, _ := http.NewRequestWithContext(cctx, "GET", base+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
					req.Header.Set("tr_id", "FHKST01010100")
					resp, err := hc.Do(req)
					if err != nil {
						if ctx.Err() == nil {
							otherKO.Add(1)
						}
					} else {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					ccancel()
				}
			}()
		}
	}

	type transition struct {
		name string
		at   time.Time
	}
	var marks []transition
	start := time.Now()
	time.Sleep(2 * time.Second)
	for i := range *cycles {
		kind := "stall"
		if i%2 == 1 {
			kind = "cut"
		}
		marks = append(marks, transition{kind, time.Now()})
		if kind == "stall" {
			p.Stall()
		} else {
			p.Cut()
		}
		time.Sleep(*fault)
		marks = append(marks, transition{"return", time.Now()})
		p.Restore()
		time.Sleep(*up)
	}
	cancel()
	wg.Wait()
	end := time.Now()
	cleanup, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer ccancel()
	c := goredis.NewClient(o)
	c.Del(cleanup, key)
	c.Close()

	mu.Lock()
	slices.SortFunc(calls, func(a, b time.Time) int { return a.Compare(b) })
	mu.Unlock()
	st := sim.Stats().App(app.Broker, app.Env, app.AppKey)
	fmt.Printf("%d holders of one KIS real app key (broker limit 20 calls/s, shared budget 18/s, local share 1/%d each), 4 callers each; %d cycles of %v stall or cut and %v up; Redis %s\n\n",
		*holders, *holders, *cycles, *fault, *up, o.Addr)
	fmt.Println("| calls ok | EGW00201 | failed by the budget | failed otherwise | longest time without a call | most calls in one second | mean calls/s |")
	fmt.Println("|---|---|---|---|---|---|---|")
	fmt.Printf("| %d | %d | %d | %d | %v | %d | %.1f |\n\n", st.OK, st.RateLimited, budgetKO.Load(), otherKO.Load(),
		longestGap(calls).Round(time.Millisecond), maxInWindow(calls, time.Second), float64(len(calls))/end.Sub(start).Seconds())
	if e, _ := firstErr.Load().(string); e != "" {
		fmt.Printf("first budget error: %s\n\n", e)
	}
	fmt.Println("Calls in each second around each transition (t = the transition; the second before, then the three after):")
	fmt.Println()
	fmt.Println("| # | transition | [t-1s, t) | [t, t+1s) | [t+1s, t+2s) | [t+2s, t+3s) | most in one second of [t-1s, t+3s) |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for i, m := range marks {
		var secs []string
		for k := -1; k < 3; k++ {
			from := m.at.Add(time.Duration(k) * time.Second)
			secs = append(secs, fmt.Sprint(count(calls, from, from.Add(time.Second))))
		}
		in := between(calls, m.at.Add(-time.Second), m.at.Add(3*time.Second))
		fmt.Printf("| %d | %s | %s | %d |\n", i/2+1, m.name, strings.Join(secs, " | "), maxInWindow(in, time.Second))
	}
}

type limiterFunc func(context.Context) error

func (f limiterFunc) Wait(ctx context.Context) error { return f(ctx) }

// count returns the calls in [from, to).
func count(ts []time.Time, from, to time.Time) int { return len(between(ts, from, to)) }

// between returns the calls in [from, to) of sorted ts.
func between(ts []time.Time, from, to time.Time) []time.Time {
	i, _ := slices.BinarySearchFunc(ts, from, func(a, b time.Time) int { return a.Compare(b) })
	j, _ := slices.BinarySearchFunc(ts, to, func(a, b time.Time) int { return a.Compare(b) })
	return ts[i:j]
}

// maxInWindow returns the most calls of sorted ts in any window shorter
// than w, as the broker counts them.
func maxInWindow(ts []time.Time, w time.Duration) int {
	best, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

func longestGap(ts []time.Time) time.Duration {
	var g time.Duration
	for i := 1; i < len(ts); i++ {
		g = max(g, ts[i].Sub(ts[i-1]))
	}
	return g
}
