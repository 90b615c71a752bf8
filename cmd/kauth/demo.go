package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kis"
	"github.com/kauth/kauth/kiwoom"
	"github.com/kauth/kauth/store/file"
)

func (c *cli) demo(ctx context.Context, args []string) error {
	fs := c.flags("demo", "kauth demo [-v]", `
Walk through the life of a token for KIS and for Kiwoom, with no
credentials and no network: the broker simulator runs in this process on a
loopback port, with a virtual clock so that a day passes in milliseconds.
Tokens are cached in an encrypted file store in a temporary directory,
which is removed at the end. Only fingerprints of keys and tokens are
printed.`)
	verbose := fs.Bool("v", false, "log token events to stderr")
	if err := fs.parse(args); err != nil {
		return err
	}
	d, err := newDemo(c.stdout, c.logger(*verbose))
	if err != nil {
		return err
	}
	defer d.close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return d.run(ctx)
}

// demo is one run of kauth demo.
type demo struct {
	out   io.Writer
	log   *slog.Logger
	sim   *brokersim.Server
	root  string // the simulator's URL
	srv   *http.Server
	base  http.RoundTripper // loopback only: no proxy from the environment
	tmp   string            // removed by close
	dir   string            // the file store's directory, inside tmp
	key   []byte            // the file store's key, fresh for this run
	start time.Time         // virtual time at the start
	began time.Time         // real time at the start
}

func newDemo(out io.Writer, log *slog.Logger) (*demo, error) {
	d := &demo{out: out, log: log, sim: brokersim.New(), began: time.Now()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("kauth demo: starting the simulator: %w", err)
	}
	d.root = "http://" + ln.Addr().String()
	d.srv = &http.Server{Handler: d.sim, ReadHeaderTimeout: 10 * time.Second}
	go d.srv.Serve(ln)
	d.base = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}

	if d.tmp, err = os.MkdirTemp("", "kauth-demo-"); err != nil {
		d.close()
		return nil, fmt.Errorf("kauth demo: %w", err)
	}
	d.dir = filepath.Join(d.tmp, "cache")
	d.key = make([]byte, 32)
	rand.Read(d.key)
	d.start = d.sim.Now()
	return d, nil
}

func (d *demo) close() {
	d.srv.Close()
	if t, ok := d.base.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	if d.tmp != "" {
		os.RemoveAll(d.tmp)
	}
	clear(d.key)
}

// simClock is the Managers' clock in the demo: the simulator's virtual
// time, where sleeping advances the clock instead of waiting, so that
// minute-long waits (KIS's once-a-minute issuance limit) take no time.
type simClock struct{ sim *brokersim.Server }

func (c simClock) Now() time.Time { return c.sim.Now() }

func (c simClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sim.Advance(d)
	return nil
}

func (d *demo) run(ctx context.Context) error {
	fmt.Fprintf(d.out, "kauth demo · the life of an access token, for both brokers\n\n")
	fmt.Fprintf(d.out, "  simulator  %s (in this process; virtual clock; made-up demo apps)\n", d.root)
	fmt.Fprintf(d.out, "  store      AES-256-GCM encrypted files, fresh key, in %s\n", d.tmp)
	fmt.Fprintf(d.out, "  shown      fingerprints only: no app key, secret or whole token is printed\n")
	flows := []*flow{
		{d: d, app: brokersim.DemoKISMock, name: "KIS", title: "KIS (한국투자증권)", callName: "inquire-price", rejectCode: "EGW00121"},
		{d: d, app: brokersim.DemoKiwoomMock, name: "Kiwoom", title: "Kiwoom (키움증권)", callName: "stkinfo", rejectCode: "8005"},
	}
	for _, f := range flows {
		if err := f.run(ctx); err != nil {
			return fmt.Errorf("kauth demo: %s %s: %w", f.app.Broker, f.app.Env, err)
		}
	}
	st := d.sim.Stats()
	if err := os.RemoveAll(d.tmp); err != nil {
		return fmt.Errorf("kauth demo: removing %s: %w", d.tmp, err)
	}
	d.tmp = ""
	fmt.Fprintf(d.out, "\n✓ done in %s of real time (%s virtual): %d tokens issued for %s handed out,\n",
		fmtDur(time.Since(d.began)), roughly(d.sim.Now().Sub(d.start)), st.Issued, groupDigits(fmt.Sprint(d.handedOut(flows))))
	fmt.Fprintf(d.out, "  %d API calls (%d healed after a rejected token), %d revoked; temp dir removed.\n",
		st.Calls, st.TokenRejected, st.Revoked)
	return nil
}

func (d *demo) handedOut(flows []*flow) int {
	n := 0
	for _, f := range flows {
		n += f.served
	}
	return n
}

// flow is the walk through one broker.
type flow struct {
	d          *demo
	app        brokersim.App
	name       string // "KIS"
	title      string // "KIS (한국투자증권)"
	callName   string
	rejectCode string // the broker's code for a rejected token

	events chan kauth.Event
	start  time.Time // virtual time at the flow's start
	served int       // tokens handed out to callers
}

// note prints a line under the what-happened column.
func (f *flow) note(format string, args ...any) {
	fmt.Fprintf(f.d.out, "    %-9s %-13s %8s  %6s  %s\n", "", "", "", "", fmt.Sprintf(format, args...))
}

func (f *flow) creds() kauth.Credentials { return f.app.Credentials() }

func (f *flow) baseURL() string { return brokersim.BaseURL(f.d.root, f.app.Broker, f.app.Env) }

// manager builds a Manager as a new process would: its own file store on
// the shared directory, with the Managers' clock tied to the simulator's.
func (f *flow) manager() (*kauth.Manager, error) {
	st, err := file.New(f.d.dir, file.WithKey(f.d.key), file.WithLogger(f.d.log))
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: f.d.base}
	var p kauth.Provider
	if f.app.Broker == kauth.KIS {
		p = &kis.Provider{BaseURL: f.baseURL(), HTTPClient: client, Now: f.d.sim.Now}
	} else {
		p = &kiwoom.Provider{BaseURL: f.baseURL(), HTTPClient: client, Now: f.d.sim.Now}
	}
	return kauth.NewManager(kauth.Config{
		Credentials: f.creds(),
		Provider:    p,
		Store:       st,
		Clock:       simClock{f.d.sim},
		Logger:      f.d.log,
		OnEvent: func(ev kauth.Event) {
			select {
			case f.events <- ev:
			default:
			}
		},
	})
}

func (f *flow) stats() brokersim.Counts {
	return f.d.sim.Stats().App(f.app.Broker, f.app.Env, f.app.AppKey)
}

// row prints one step: virtual clock, step, real time taken, the
// simulator's issuance count for the app, and what happened.
func (f *flow) row(step string, took string, what string, args ...any) {
	clock := "T+" + roughly(f.d.sim.Now().Sub(f.start))
	fmt.Fprintf(f.d.out, "  ✓ %-9s %-13s %8s  %6d  %s\n", clock, step, took, f.stats().Issued, fmt.Sprintf(what, args...))
}

func (f *flow) token(ctx context.Context, m *kauth.Manager) (kauth.Token, time.Duration, error) {
	t0 := time.Now()
	tok, err := m.Token(ctx)
	if err == nil {
		f.served++
	}
	return tok, time.Since(t0), err
}

// waitEvent waits for the Manager to report one of kinds.
func (f *flow) waitEvent(ctx context.Context, kinds ...kauth.EventKind) (kauth.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		select {
		case ev := <-f.events:
			for _, k := range kinds {
				if ev.Kind == k && ev.Source != "store" {
					return ev, nil
				}
			}
		case <-ctx.Done():
			return kauth.Event{}, fmt.Errorf("waiting for a background refresh: %w", ctx.Err())
		}
	}
}

func (f *flow) drainEvents() {
	for {
		select {
		case <-f.events:
		default:
			return
		}
	}
}

func (f *flow) run(ctx context.Context) error {
	f.events = make(chan kauth.Event, 64)
	d := f.d
	f.start = d.sim.Now()
	fmt.Fprintf(d.out, "\n%s %s · app %s · %s\n", f.title, f.app.Env, f.creds().Fingerprint(), f.baseURL())
	fmt.Fprintf(d.out, "    %-9s %-13s %8s  %6s  %s\n", "clock", "step", "took", "issued", "what happened")

	// 1. The first caller gets a token from the broker.
	m1, err := f.manager()
	if err != nil {
		return err
	}
	first, took, err := f.token(ctx, m1)
	if err != nil {
		m1.Close()
		return fmt.Errorf("issue: %w", err)
	}
	f.row("issue", fmtDur(took), "new token %s · expires %s KST (in %s)",
		first.Fingerprint(), first.ExpiresAt.In(kauth.KST).Format("01-02 15:04"), roughly(first.ExpiresAt.Sub(d.sim.Now())))

	// 2. Every later caller gets it from memory.
	const n = 100_000
	t0 := time.Now()
	for range n {
		tok, err := m1.Token(ctx)
		if err != nil || tok.AccessToken != first.AccessToken {
			m1.Close()
			return fmt.Errorf("cache hit: got %v, %v", tok, err)
		}
	}
	f.served += n
	f.row("cache hit", fmtDur(time.Since(t0)/n)+"/op", "same token from memory ×%s · no lock, no request",
		groupDigits(fmt.Sprint(n)))
	m1.Close()

	// 3. A restart: a new Manager (a new process) finds it in the store.
	before := f.stats()
	m, err := f.manager()
	if err != nil {
		return err
	}
	defer m.Close()
	tok, took, err := f.token(ctx, m)
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	if tok.AccessToken != first.AccessToken || f.stats().Issued != before.Issued {
		return errors.New("restart: the token was not reused from the store")
	}
	f.row("restart", fmtDur(took), "new Manager, same store dir: %s read from disk · 0 new issuances", tok.Fingerprint())

	// 4. An authenticated call through kauth.Transport.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &kauth.Transport{Manager: m, Base: d.base}}
	t0 = time.Now()
	quote, err := f.call(ctx, client)
	if err != nil {
		return fmt.Errorf("call: %w", err)
	}
	f.served++
	f.row("call", fmtDur(time.Since(t0)), "%s via kauth.Transport → %s", f.callName, quote)

	// 5. Near expiry: the token is still served while one background
	// refresh runs.
	d.sim.Advance(tok.ExpiresAt.Add(-20 * time.Minute).Sub(d.sim.Now()))
	f.drainEvents()
	got, took, err := f.token(ctx, m)
	if err != nil {
		return fmt.Errorf("refresh ahead: %w", err)
	}
	if got.AccessToken != tok.AccessToken {
		return errors.New("refresh ahead: the caller did not get the current token")
	}
	ev, err := f.waitEvent(ctx, kauth.EventRefreshed, kauth.EventReused, kauth.EventIssued, kauth.EventFailed)
	if err != nil {
		return err
	}
	if ev.Err != nil {
		return fmt.Errorf("refresh ahead: %w", ev.Err)
	}
	if ev.Token != tok.Fingerprint() {
		f.row("refresh ahead", fmtDur(took), "20m before expiry: served %s at once · refreshed in background → %s (%s)",
			tok.Fingerprint(), ev.Token, fmtDur(ev.Duration))
	} else {
		// Kiwoom answers a re-issue with the token that is still valid.
		f.row("refresh ahead", fmtDur(took), "20m before expiry: served %s at once · refreshed in background → same token",
			tok.Fingerprint())
		f.note("%s re-issues a token while it is valid: no new issuance, kauth serves it to expiry", f.name)
		d.sim.Advance(tok.ExpiresAt.Add(time.Second).Sub(d.sim.Now()))
		fresh, took, err := f.token(ctx, m)
		if err != nil {
			return fmt.Errorf("after expiry: %w", err)
		}
		if fresh.AccessToken == tok.AccessToken {
			return errors.New("after expiry: still the old token")
		}
		f.row("expiry", fmtDur(took), "%s expired → the next caller waited for 1 issuance → %s", tok.Fingerprint(), fresh.Fingerprint())
	}

	// 6. The broker drops the token behind our back; the next call is
	// rejected, and kauth.Transport renews the token and retries once.
	cur, err := m.Token(ctx)
	if err != nil {
		return fmt.Errorf("rejected token: %w", err)
	}
	f.served++
	d.sim.InvalidateToken(cur.AccessToken)
	before = f.stats()
	t0, v0 := time.Now(), d.sim.Now()
	if _, err := f.call(ctx, client); err != nil {
		return fmt.Errorf("rejected token: %w", err)
	}
	took = time.Since(t0)
	after := f.stats()
	now, _ := m.Cached()
	if after.TokenRejected-before.TokenRejected != 1 || after.OK-before.OK != 1 {
		return fmt.Errorf("rejected token: want 1 rejection and 1 success, got %d and %d",
			after.TokenRejected-before.TokenRejected, after.OK-before.OK)
	}
	f.row("self-heal", fmtDur(took), "broker dropped %s → call got %s → new token %s → retried once → OK",
		cur.Fingerprint(), f.rejectCode, now.Fingerprint())
	if waited := d.sim.Now().Sub(v0); waited >= 30*time.Second {
		f.note("(waited %s for KIS's once-a-minute issuance limit, on the virtual clock)", roughly(waited))
	}

	// 7. Revoke.
	t0 = time.Now()
	if err := m.Revoke(ctx); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	took = time.Since(t0)
	st, err := file.New(d.dir, file.WithKey(d.key), file.WithLogger(d.log))
	if err != nil {
		return err
	}
	if e, err := st.Load(ctx, f.creds().Key()); err != nil || e.Token.AccessToken != "" {
		return errors.New("revoke: the store still holds the token")
	}
	f.row("revoke", fmtDur(took), "%s revoked at the broker, removed from the store", now.Fingerprint())

	s := f.stats()
	f.note("simulator stats: %d issued · %d same-token answers · %d calls (%d ok, %d token rejected) · %d revoked",
		s.Issued, s.Reissued, s.Calls, s.OK, s.TokenRejected, s.Revoked)
	return nil
}

// call makes the broker's sample protected call (KIS 주식현재가 시세,
// Kiwoom 주식기본정보) for 삼성전자 and describes the quote.
func (f *flow) call(ctx context.Context, client *http.Client) (string, error) {
	var req *http.Request
	var err error
	if f.app.Broker == kauth.KIS {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet,
			f.baseURL()+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		req.Header.Set("tr_id", "FHKST01010100")
		req.Header.Set("custtype", "P")
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, f.baseURL()+"/api/dostk/stkinfo",
			bytes.NewReader([]byte(`{"stk_cd":"005930"}`)))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/json;charset=UTF-8")
		req.Header.Set("api-id", "ka10001")
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if f.app.Broker == kauth.KIS {
		if err := kis.CheckResponse(f.creds(), kis.OpCall, resp, body); err != nil {
			return "", err
		}
		var r struct {
			Output struct {
				Code  string `json:"stck_shrn_iscd"`
				Price string `json:"stck_prpr"`
			} `json:"output"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s 현재가 %s원", r.Output.Code, groupDigits(r.Output.Price)), nil
	}
	if err := kiwoom.CheckResponse(f.creds(), kiwoom.OpCall, resp, body); err != nil {
		return "", err
	}
	var r struct {
		Code  string `json:"stk_cd"`
		Name  string `json:"stk_nm"`
		Price string `json:"cur_prc"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s %s원", r.Code, r.Name, groupDigits(strings.TrimLeft(r.Price, "+-"))), nil
}

// groupDigits writes a number with thousands separators: 71000 → 71,000.
func groupDigits(s string) string {
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	lead := len(s) % 3
	if lead > 0 {
		b.WriteString(s[:lead])
	}
	for i := lead; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// fmtDur rounds d to three significant digits: 1.23ms, 103µs, 21ns.
func fmtDur(d time.Duration) string {
	if d < 1000 {
		return d.String()
	}
	p := time.Duration(1)
	for p*10 <= d {
		p *= 10
	}
	return d.Round(p / 100).String()
}
