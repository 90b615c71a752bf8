// Command facadescale measures what the agent's facade and proxy add to a
// broker call, one client at a time, as the number of accounts the agent
// serves grows. For each count of -accounts it starts, in this process on
// 127.0.0.1, the simulator (per-second call limits off) and an agent
// serving that many made-up KIS apps (memory store, rate limits lifted),
// waits until every account holds a token, and times -serial calls of the
// same quotation each, the three taking turns call by call:
//
//   - direct to the simulator, with the app's token and credentials;
//   - through the proxy, /proxy/<account>/…;
//   - through the facade, /broker/<key>/<account>/…, carrying the app key
//     and the token a drop-in client sends (the facade checks that they
//     are not another account's).
//
// The target (BENCHMARKS.md): the facade adds at most 1.2× what the proxy
// adds at p50, at 16 and at 5,000 accounts.
//
//	go run ./bench/cmd/facadescale [-accounts 16,1000,5000] [-serial 3000]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/bench/internal/benchagent"
	"github.com/kauth/kauth/brokersim"
)

const inquirePrice = "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930"

func main() {
	counts := flag.String("accounts", "16,1000,5000", "account counts to measure, comma-separated")
	serial := flag.Int("serial", 3000, "calls per target and count (one client)")
	flag.Parse()
	fmt.Printf("one client, %d calls per target, keep-alive, loopback; p50 of each, added = p50 − direct p50\n\n", *serial)
	fmt.Printf("| accounts | direct p50 | proxy p50 | facade p50 | proxy adds | facade adds | facade/proxy |\n|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range strings.Split(*counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "facadescale: bad -accounts", c)
			os.Exit(2)
		}
		if err := run(n, *serial); err != nil {
			fmt.Fprintln(os.Stderr, "facadescale:", err)
			os.Exit(1)
		}
	}
}

func run(n, serial int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := brokersim.New()
	sim.KISRealCallsPerSecond, sim.KISMockCallsPerSecond, sim.KiwoomCallsPerSecond = -1, -1, -1
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	base := brokersim.BaseURL(simSrv.URL, kauth.KIS, kauth.Real)

	dir, err := os.MkdirTemp("", "kauth-facadescale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var cfg agent.Config
	keys := make([]string, n)
	secrets := make([]string, n)
	for i := range n {
		// Made up; they work only at the simulator.
		keys[i] = fmt.Sprintf("PSFAKEFACADESCALE%06d%s", i, strings.Repeat("x", 14))
		secrets[i] = fmt.Sprintf("FAKE-SECRET-%06d-%s", i, strings.Repeat("y", 150))
		sim.Register(kauth.KIS, kauth.Real, keys[i], secrets[i])
		cfg.Accounts = append(cfg.Accounts, agent.Account{
			Name: fmt.Sprintf("acct%05d", i), Broker: kauth.KIS, Env: kauth.Real, BaseURL: base,
			AppKey: agent.Secret{Value: keys[i]}, AppSecret: agent.Secret{Value: secrets[i]},
			RateLimit: agent.MaxRateLimit, Burst: agent.MaxBurst,
		})
	}
	quiet := slog.New(slog.DiscardHandler)
	a, err := benchagent.Serve(ctx, cfg, dir, agent.Options{Logger: quiet, Getenv: func(string) string { return "" }, Unpaced: true, Store: kauth.NewMemoryStore()})
	if err != nil {
		return err
	}
	defer a.Close()
	agentURL, agentKey := a.URL, a.Key
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}}
	defer client.CloseIdleConnections()

	// Every account holds a token: the agent's account list says so.
	deadline := time.Now().Add(5 * time.Minute)
	for held := 0; held < n; {
		if held, err = tokensHeld(client, agentURL, agentKey); err != nil {
			return err
		}
		if held < n {
			if time.Now().After(deadline) {
				return fmt.Errorf("%d of %d accounts hold a token after 5 min", held, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// The account measured is the middle one, as a client would use it.
	i := n / 2
	name := fmt.Sprintf("acct%05d", i)
	var tr agent.TokenResponse
	body, err := call(client, agentRequest(agentURL, agentKey, "/v1/accounts/"+name+"/token"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return fmt.Errorf("token endpoint answered %q", body)
	}
	headers := func(r *http.Request) *http.Request {
		r.Header.Set("authorization", "Bearer "+tr.AccessToken)
		r.Header.Set("appkey", keys[i])
		r.Header.Set("appsecret", secrets[i])
		r.Header.Set("tr_id", "FHKST01010100")
		r.Header.Set("custtype", "P")
		return r
	}
	direct := func() *http.Request {
		r, _ := http.NewRequest("GET", base+inquirePrice, nil)
		return headers(r)
	}
	proxied := func() *http.Request {
		r := agentRequest(agentURL, agentKey, "/proxy/"+name+inquirePrice)
		r.Header.Set("tr_id", "FHKST01010100")
		r.Header.Set("custtype", "P")
		return r
	}
	facade := func() *http.Request {
		r, _ := http.NewRequest("GET", agentURL+"/broker/"+agentKey+"/"+name+inquirePrice, nil)
		return headers(r)
	}
	p50, err := medians(client, []func() *http.Request{direct, proxied, facade}, serial)
	if err != nil {
		return err
	}
	pa, fa := p50[1]-p50[0], p50[2]-p50[0]
	fmt.Printf("| %d | %s | %s | %s | %s | %s | %.2f× |\n", n, us(p50[0]), us(p50[1]), us(p50[2]), us(pa), us(fa), float64(fa)/float64(pa))
	cancel()
	return a.Wait()
}

// medians times serial calls of each target after a warm-up and returns
// their p50s. The targets take turns, call by call, so that a change in
// the machine's load weighs on each alike.
func medians(client *http.Client, reqs []func() *http.Request, serial int) ([]time.Duration, error) {
	d := make([][]time.Duration, len(reqs))
	for i := -200; i < serial; i++ {
		for k, req := range reqs {
			start := time.Now()
			if _, err := call(client, req()); err != nil {
				return nil, err
			}
			if i >= 0 {
				d[k] = append(d[k], time.Since(start))
			}
		}
	}
	p50 := make([]time.Duration, len(reqs))
	for k := range d {
		slices.Sort(d[k])
		p50[k] = d[k][len(d[k])/2]
	}
	return p50, nil
}

func call(client *http.Client, r *http.Request) ([]byte, error) {
	resp, err := client.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %.200s", r.Method, r.URL.Path, resp.Status, body)
	}
	return body, nil
}

func agentRequest(base, key, path string) *http.Request {
	r, _ := http.NewRequest("GET", base+path, nil)
	r.Header.Set("Authorization", "Bearer "+key)
	return r
}

// tokensHeld counts the accounts that the agent's account list shows with
// a usable token.
func tokensHeld(client *http.Client, base, key string) (int, error) {
	body, err := call(client, agentRequest(base, key, "/v1/accounts"))
	if err != nil {
		return 0, err
	}
	var list struct {
		Accounts []struct {
			TokenState string `json:"token_state"`
		} `json:"accounts"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return 0, err
	}
	held := 0
	for _, a := range list.Accounts {
		if a.TokenState == "valid" {
			held++
		}
	}
	return held, nil
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }
