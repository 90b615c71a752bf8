package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/store/file"
)

func (c *cli) demo(ctx context.Context, args []string) error {
	fs := c.flags("demo", "kauth demo [-v]", `
Walk through the life of a token for every broker kauth knows (`+brokerDisplays()+`),
with no credentials and no network: the broker simulator runs in this process on a
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
	fmt.Fprintf(d.out, "kauth demo · the life of an access token, for every broker\n\n")
	fmt.Fprintf(d.out, "  simulator  %s (in this process; virtual clock; made-up demo apps)\n", d.root)
	fmt.Fprintf(d.out, "  store      AES-256-GCM encrypted files, fresh key, in %s\n", d.tmp)
	fmt.Fprintf(d.out, "  shown      fingerprints only: no app key, secret or whole token is printed\n")
	var flows []*flow
	for _, spec := range brokers.All() {
		// Mock where the broker has one; Toss has no paper trading.
		env := kauth.Mock
		if spec.MockURL == "" {
			env = kauth.Real
		}
		flows = append(flows, &flow{d: d, spec: spec, app: brokersim.Demo(spec.Name, env)})
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
	d    *demo
	spec kauth.BrokerSpec
	app  brokersim.App

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
	return kauth.NewManager(kauth.Config{
		Credentials: f.creds(),
		Provider:    f.spec.New(f.baseURL(), client, f.d.sim.Now),
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
	fmt.Fprintf(d.out, "\n%s %s · app %s · %s\n", f.spec.Display, f.app.Env, f.creds().Fingerprint(), f.baseURL())
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
	f.row("call", fmtDur(time.Since(t0)), "%s via kauth.Transport → %s", f.callName(), quote)

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
		f.note("%s re-issues a token while it is valid: no new issuance, kauth serves it to expiry", f.spec.Name)
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
	f.row("self-heal", fmtDur(took), "broker dropped %s → call rejected → new token %s → retried once → OK",
		cur.Fingerprint(), now.Fingerprint())
	if waited := d.sim.Now().Sub(v0); waited >= 30*time.Second {
		f.note("(waited %s for %s's once-a-minute issuance limit, on the virtual clock)", roughly(waited), f.spec.Name)
	}

	// 7. Revoke, where the broker has a revoke endpoint.
	if !canRevoke(m.Provider()) {
		f.row("revoke", "-", "%s has no revoke endpoint: %s lives until it expires or the next issuance kills it", f.spec.Name, now.Fingerprint())
		s := f.stats()
		f.note("simulator stats: %d issued · %d same-token answers · %d calls (%d ok, %d token rejected) · %d superseded",
			s.Issued, s.Reissued, s.Calls, s.OK, s.TokenRejected, s.Superseded)
		return nil
	}
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

// sampleCaller is the broker's sample protected call, the one the agent
// probes tokens with.
type sampleCaller interface {
	Probe(ctx context.Context, base *url.URL) (*http.Request, error)
	ProbeOK(body []byte) bool
}

// sample returns the broker's sample call, or an error if its Provider has
// none.
func (f *flow) sample() (sampleCaller, error) {
	if sc, ok := f.spec.New("", nil, nil).(sampleCaller); ok {
		return sc, nil
	}
	return nil, fmt.Errorf("%s has no sample call", f.spec.Name)
}

// callName names the broker's sample call: the last element of its path.
func (f *flow) callName() string {
	sc, err := f.sample()
	if err != nil {
		return "call"
	}
	req, err := sc.Probe(context.Background(), &url.URL{})
	if err != nil {
		return "call"
	}
	return path.Base(req.URL.Path)
}

// call makes the broker's sample protected call (its Provider's Probe: KIS
// 주식현재가 시세, Kiwoom 주식기본정보, LS t1102, DB PRICE) for 삼성전자
// and describes the quote.
func (f *flow) call(ctx context.Context, client *http.Client) (string, error) {
	base, err := url.Parse(f.baseURL())
	if err != nil {
		return "", err
	}
	sc, err := f.sample()
	if err != nil {
		return "", err
	}
	req, err := sc.Probe(ctx, base)
	if err != nil {
		return "", err
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
	if resp.StatusCode != http.StatusOK || !sc.ProbeOK(body) {
		return "", fmt.Errorf("%s answered %s: %.80s", f.callName(), resp.Status, body)
	}
	return describeQuote(body), nil
}

// describeQuote finds the code, name and price in a quote answer, in
// whichever of the brokers' shapes it comes: KIS output.stck_shrn_iscd and
// stck_prpr, Kiwoom stk_cd, stk_nm and cur_prc, the gateway's OutBlock.
func describeQuote(body []byte) string {
	var r map[string]json.RawMessage
	if json.Unmarshal(body, &r) != nil {
		return "OK"
	}
	flat := map[string]string{}
	var walk func(map[string]json.RawMessage)
	walk = func(m map[string]json.RawMessage) {
		for k, v := range m {
			var s string
			var n json.Number
			var sub map[string]json.RawMessage
			var list []map[string]json.RawMessage
			switch {
			case json.Unmarshal(v, &s) == nil:
				flat[k] = s
			case json.Unmarshal(v, &n) == nil:
				flat[k] = n.String()
			case json.Unmarshal(v, &sub) == nil:
				walk(sub)
			case json.Unmarshal(v, &list) == nil && len(list) > 0:
				walk(list[0]) // Toss: {"result":[{"symbol",…}]}
			}
		}
	}
	walk(r)
	pick := func(keys ...string) string {
		for _, k := range keys {
			if v := flat[k]; v != "" {
				return v
			}
		}
		return ""
	}
	code := pick("stck_shrn_iscd", "stk_cd", "shcode", "symbol")
	name := pick("stk_nm", "hname")
	price := strings.TrimLeft(pick("stck_prpr", "cur_prc", "price", "lastPrice"), "+-")
	out := code
	if name != "" {
		out += " " + name
	} else if code != "" && price != "" {
		out += " 현재가"
	}
	if price != "" {
		out += " " + groupDigits(price) + "원"
	}
	if out == "" {
		return "OK"
	}
	return out
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
