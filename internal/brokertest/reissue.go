package brokertest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// SimClock drives a Manager from a simulator's virtual clock: Sleep
// advances the simulator instead of waiting.
type SimClock struct{ Sim *brokersim.Server }

// Now returns the simulator's virtual time.
func (c SimClock) Now() time.Time { return c.Sim.Now() }

// Sleep advances the simulator by d.
func (c SimClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Sim.Advance(d)
	return nil
}

// NewProvider builds the provider under test for a simulator env at
// baseURL, with the simulator's clock.
type NewProvider func(baseURL string, client *http.Client, now func() time.Time) kauth.Provider

// ProtectedRequest returns the simulator's protected call of app's broker
// (KIS inquire-price, Kiwoom ka10001) under base.
func ProtectedRequest(t *testing.T, base string, app brokersim.App) *http.Request {
	t.Helper()
	var req *http.Request
	var err error
	if app.Broker == kauth.KIS {
		req, err = http.NewRequest("GET", base+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
		if err == nil {
			req.Header["tr_id"] = []string{"FHKST01010100"}
			req.Header["custtype"] = []string{"P"}
		}
	} else {
		req, err = http.NewRequest("POST", base+"/api/dostk/stkinfo", strings.NewReader(`{"stk_cd":"005930"}`))
		if err == nil {
			req.Header["api-id"] = []string{"ka10001"}
			req.Header.Set("Content-Type", "application/json;charset=UTF-8")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// prober is a provider that names its own cheap authenticated call and
// how its success reads, as the gateway brokers' providers do.
type prober interface {
	Probe(ctx context.Context, base *url.URL) (*http.Request, error)
	ProbeOK(body []byte) bool
}

// probeOK reports whether p's probe through client succeeded, and the
// answer.
func probeOK(t *testing.T, client *http.Client, base string, p prober) (bool, string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	req, err := p.Probe(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == 200 && p.ProbeOK(body), string(body)
}

// CallOK reports whether the protected call through client succeeded, and
// the answer.
func CallOK(t *testing.T, client *http.Client, base string, app brokersim.App) (bool, string) {
	t.Helper()
	resp, err := client.Do(ProtectedRequest(t, base, app))
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	s := string(body)
	return resp.StatusCode == 200 && (strings.Contains(s, `"rt_cd":"0"`) || strings.Contains(s, `"return_code":0`)), s
}

// ReissueDays runs two holders of app's token — two Managers that share one
// store, as two processes sharing a cache do — against a simulator whose
// broker answers re-issues as mode says, for days of virtual time. Every
// ten virtual minutes each holder makes a protected call through its
// kauth.Transport. It checks what kauth must guarantee under every re-issue
// behaviour:
//
//   - no outage: every call succeeds (a token that a newer one invalidated
//     is healed inside the Transport, invisibly to the caller);
//   - no loop and no more issuances than the broker's rules: at most one
//     new token per token lifetime, a bounded number of token requests,
//     and never KIS's once-a-minute refusal (EGW00133);
//   - the holders move together: at the end both serve the broker's
//     current token.
func ReissueDays(t *testing.T, app brokersim.App, mode brokersim.ReissueMode, days int, newProvider NewProvider) {
	t.Helper()
	sim := brokersim.New()
	// The virtual clock moves only by the steps below. On the real clock
	// every step also costs the real time it takes, which shifts the
	// refresh-ahead and expiry points against the ten-minute steps from
	// run to run (further on a loaded machine), and the run met a
	// different sequence of refreshes each time.
	start := time.Date(2026, time.March, 10, 10, 0, 0, 0, kauth.KST)
	sim.Clock = func() time.Time { return start }
	sim.SetReissue(app.Broker, mode)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	base := brokersim.BaseURL(ts.URL, app.Broker, app.Env)
	store := kauth.NewMemoryStore() // no Watch: a holder learns of a new token only by asking
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The protected call: the provider's probe if it names one, else
	// KIS's or Kiwoom's quote.
	call := func(c *http.Client) (bool, string) { return CallOK(t, c, base, app) }
	if p, ok := newProvider(base, ts.Client(), sim.Now).(prober); ok {
		call = func(c *http.Client) (bool, string) { return probeOK(t, c, base, p) }
	}

	holders := make([]*http.Client, 2)
	managers := make([]*kauth.Manager, 2)
	for i := range holders {
		m, err := kauth.NewManager(kauth.Config{
			Credentials: app.Credentials(),
			Provider:    newProvider(base, ts.Client(), sim.Now),
			Store:       store,
			Clock:       SimClock{sim},
			Logger:      logger,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		managers[i] = m
		holders[i] = &http.Client{Transport: &kauth.Transport{Manager: m, Base: ts.Client().Transport}}
	}

	const step = 10 * time.Minute
	t0 := sim.Now()
	steps := int(time.Duration(days) * 24 * time.Hour / step)
	failures := 0
	for i := 0; i < steps && failures < 5; i++ {
		var wg sync.WaitGroup
		results := make([]string, len(holders))
		for h, c := range holders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if ok, body := call(c); !ok {
					results[h] = body
				}
			}()
		}
		wg.Wait()
		for h, r := range results {
			if r != "" {
				failures++
				t.Errorf("%s, holder %d: protected call failed: %.200s", sim.Now().Sub(t0).Round(time.Minute), h, r)
			}
		}
		sim.Advance(step)
	}
	// A refresh ahead started by the last step may still be under way, and
	// Close would cancel it once the broker has answered: wait (the clock
	// stands still) until every holder serves the broker's current token
	// and no token request has reached the broker for a while.
	settledAt, lastCalls := time.Time{}, -1
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		st := sim.Stats().App(app.Broker, app.Env, app.AppKey)
		cur, _, _ := sim.CurrentToken(app.Broker, app.Env, app.AppKey)
		settled := st.Issued+st.Reissued == lastCalls
		lastCalls = st.Issued + st.Reissued
		for h, m := range managers {
			if tok, _ := m.Cached(); tok.AccessToken != cur {
				settled = false
				call(holders[h])
			}
		}
		if !settled {
			settledAt = time.Time{}
		} else if settledAt.IsZero() {
			settledAt = time.Now()
		} else if time.Since(settledAt) > 300*time.Millisecond {
			break
		}
	}
	for _, m := range managers {
		m.Close()
	}

	c := sim.Stats().App(app.Broker, app.Env, app.AppKey)
	// A token lives 24 h; refreshing ahead means a new one a little more
	// often than daily.
	if maxIssued := days + 2; c.Issued > maxIssued {
		t.Errorf("issuances in %d days = %d; want at most %d", days, c.Issued, maxIssued)
	}
	if tokenCalls := c.Issued + c.Reissued; tokenCalls > 12*days {
		t.Errorf("token requests in %d days = %d (%d issued, %d same token); want at most %d", days, tokenCalls, c.Issued, c.Reissued, 12*days)
	}
	if c.RateLimited > 0 {
		t.Errorf("the broker refused %d requests as over its limits", c.RateLimited)
	}
	cur, _, ok := sim.CurrentToken(app.Broker, app.Env, app.AppKey)
	for i, m := range managers {
		tok, _ := m.Cached()
		if !ok || tok.AccessToken != cur {
			t.Errorf("holder %d serves %s; want the broker's current token %s", i, tok.Fingerprint(), kauth.Fingerprint(cur))
		}
	}
	t.Logf("%s, %d days: %d issued, %d same token, %d superseded, %d calls rejected and healed", mode, days, c.Issued, c.Reissued, c.Superseded, c.TokenRejected)
}
