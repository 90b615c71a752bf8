package agent_test

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth/agent"
)

// A client flooding the proxy waits behind its own calls, not in front of
// everyone's: a polite client calling 4 times a second beside it still
// finds its turn at the app key's budget within a couple of slots.
func TestPoliteClientServedBesideAFlood(t *testing.T) {
	dir := shortTempDir(t)
	hostileFile, politeFile := filepath.Join(dir, "keys", "hostile.key"), filepath.Join(dir, "keys", "polite.key")
	h := newHarness(t, setup{cfg: func(c *agent.Config) {
		c.ClientKeys = []agent.ClientKey{
			{Name: "hostile", File: hostileFile, Accounts: []string{"kis-real"}},
			{Name: "polite", File: politeFile, Accounts: []string{"kis-real"}},
		}
	}})
	key := func(p string) http.Header {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Authorization": {"Bearer " + strings.TrimSpace(string(b))}, "Tr_id": {"FHKST01010100"}}
	}
	hostile, polite := key(hostileFile), key(politeFile)
	const path = "/proxy/kis-real/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930"
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	flood := 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := h.viaTCP("GET", path, nil, hostile.Clone()); r.status == 200 {
					mu.Lock()
					flood++
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond) // the flood fills the line
	var took []time.Duration
	tick := time.NewTicker(250 * time.Millisecond)
	for range 10 {
		<-tick.C
		start := time.Now()
		r := h.viaTCP("GET", path, nil, polite.Clone())
		took = append(took, time.Since(start))
		if r.status != 200 {
			t.Errorf("polite call = %d %s", r.status, r.body)
		}
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	slices.Sort(took)
	t.Logf("polite calls beside a flood of 16 callers (%d served): median %v, slowest %v", flood, took[len(took)/2], took[len(took)-1])
	if flood < 20 {
		t.Errorf("the flood got %d calls through in 3 s of an 18/s budget; the test proves nothing", flood)
	}
	// One slot of the 18/s budget is 56 ms; a turn among two clients is
	// two slots. Waiting behind 16 callers would take most of a second.
	if slowest := took[len(took)-1]; slowest > 300*time.Millisecond {
		t.Errorf("the slowest polite call took %v beside the flood; want a couple of slots, not the flood's line", slowest)
	}
}

func TestClientTurnsMustNotBeNegative(t *testing.T) {
	acct := agent.Account{Name: "a", Broker: "kis", Env: "mock", AppKey: agent.Secret{Value: "k"}, AppSecret: agent.Secret{Value: "s"}}
	a, err := agent.New(agent.Config{Accounts: []agent.Account{acct}, ClientTurns: -1},
		agent.Options{Logger: discard(), HTTPClient: deadClient(), Getenv: func(string) string { return "" }})
	if err == nil {
		a.Close()
		t.Fatal("New accepted client_turns -1")
	}
	if !strings.Contains(err.Error(), "client_turns") {
		t.Errorf("error %q; want it to name client_turns", err)
	}
}
