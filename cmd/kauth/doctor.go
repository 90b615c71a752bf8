package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/internal/buildinfo"
	"github.com/kauth/kauth/internal/private"
)

// check is one line of kauth doctor.
type check struct {
	Name   string `json:"check"`
	Status string `json:"status"` // ok, fail or skipped
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

const (
	checkOK      = "ok"
	checkFail    = "fail"
	checkSkipped = "skipped"
)

// doctorJSON is the output of kauth doctor --json.
type doctorJSON struct {
	OK     bool    `json:"ok"`
	Checks []check `json:"checks"`
}

// doctor is one run of kauth doctor.
type doctor struct {
	c       *cli
	env     kauth.Env
	issue   bool
	maxSkew time.Duration
	timeout time.Duration
	now     func() time.Time
	checks  []check
	// storeBroken is set when the store did not open.
	storeBroken bool
}

func (d *doctor) add(name, status, detail, fix string) {
	d.checks = append(d.checks, check{Name: name, Status: status, Detail: detail, Fix: fix})
}

func (c *cli) doctor(ctx context.Context, args []string) error {
	fs := c.flags("doctor", "kauth doctor [--env real|mock] [--issue] [--json] [--config FILE] [--addr ADDR]", `
Check what a deployment gets wrong, one line a check: ✓ when it passes, ✗
with what to do when it fails, "-" when it does not apply (no agent
running, no Redis, no Kiwoom account): a skipped check does not fail.

  clock        the machine's clock against each configured broker's Date
               header (a broker whose credentials are set; its base URL
               variable may point at the simulator)
  timezone     TZ names a known zone; broker times are read as KST whatever
               the zone
  cache dir    the file store's directory, key file and entries: private to
               their owner, and owned by the user running kauth
  redis        with a redis:// KAUTH_STORE: Redis answers, its version, and
               this user may run every command the store needs (ACL)
  store        KAUTH_STORE opens, and every entry it holds opens with this
               KAUTH_KEY
  agent        a running agent answers on its socket or --addr, its
               version, and the state of each account's token
  credentials  each configured broker's cached token is accepted by the
               broker (one authenticated quote, no issuance); without a
               cached token, --issue gets one to check the credentials
  egress       Kiwoom binds a token to the issuing IP: KAUTH_EGRESS resolves,
               and is set when hosts share the store
  issuance     when each broker allows the next issuance (KIS: once a minute)

Exit 0 when every check passes or is skipped, 1 otherwise.`)
	envName := fs.String("env", "real", "the environment of the configured brokers: real or mock")
	issue := fs.Bool("issue", false, "issue a token to check credentials that have none cached (KIS sends a KakaoTalk alert per issuance)")
	asJSON := fs.Bool("json", false, "print JSON: {\"ok\", \"checks\": [{\"check\",\"status\",\"detail\",\"fix\"}]}")
	config := fs.String("config", "", "the agent's YAML config `file`, to find its socket")
	addr := fs.String("addr", "", "the agent's socket (unix:/path) or TCP address (HOST:PORT)")
	maxSkew := fs.Duration("max-skew", 5*time.Second, "the clock offset from a broker's that fails the clock check")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on each check after this long")
	if err := fs.parse(args); err != nil {
		return err
	}
	e, err := kauth.ParseEnv(*envName)
	if err != nil {
		return usageErrorf("doctor", "unknown env %q (want real or mock)", *envName)
	}
	if *timeout <= 0 || *maxSkew <= 0 {
		return usageErrorf("doctor", "--timeout and --max-skew must be positive")
	}
	d := &doctor{c: c, env: e, issue: *issue, maxSkew: *maxSkew, timeout: *timeout, now: time.Now}
	configured := d.configured()
	for _, b := range configured {
		d.clock(ctx, b)
	}
	if len(configured) == 0 {
		d.add("clock", checkSkipped, "no broker credentials in the environment to compare with", "")
	}
	d.timezone()
	d.cacheDir()
	st := d.store(ctx)
	d.agent(ctx, *config, *addr)
	for _, b := range configured {
		d.credentials(ctx, b, st)
	}
	if len(configured) == 0 {
		d.add("credentials", checkSkipped, "no broker credentials in the environment ("+strings.Join(keyVars(), ", ")+")", "")
	}
	d.egress(ctx, configured)
	for _, b := range configured {
		d.issuance(ctx, b, st)
	}
	if st != nil {
		st.close()
	}

	out := doctorJSON{OK: true, Checks: d.checks}
	failed := 0
	for _, ch := range d.checks {
		if ch.Status == checkFail {
			out.OK = false
			failed++
		}
	}
	if *asJSON {
		if err := writeJSON(c.stdout, out); err != nil {
			return err
		}
	} else {
		for _, ch := range d.checks {
			mark := map[string]string{checkOK: "✓", checkFail: "✗", checkSkipped: "-"}[ch.Status]
			line := fmt.Sprintf("%s %s: %s", mark, ch.Name, ch.Detail)
			if ch.Status == checkSkipped {
				line = fmt.Sprintf("%s %s: skipped: %s", mark, ch.Name, ch.Detail)
			}
			if ch.Fix != "" {
				line += "; fix: " + ch.Fix
			}
			fmt.Fprintln(c.stdout, line)
		}
	}
	if !out.OK {
		return fmt.Errorf("kauth doctor: %d of %d checks failed", failed, len(d.checks))
	}
	return nil
}

func keyVars() []string {
	var vs []string
	for _, s := range brokers.All() {
		vs = append(vs, s.KeyVar)
	}
	return vs
}

// configured returns the brokers whose app key or secret is set, and that
// have d.env.
func (d *doctor) configured() []kauth.Broker {
	var out []kauth.Broker
	for _, s := range brokers.All() {
		if d.c.getenv(s.KeyVar) == "" && d.c.getenv(s.SecretVar) == "" {
			continue
		}
		if d.env == kauth.Mock && s.MockURL == "" {
			continue
		}
		out = append(out, s.Name)
	}
	return out
}

// clock compares the machine's clock with the Date header of b's answer
// to a plain GET of its domain.
func (d *doctor) clock(ctx context.Context, b kauth.Broker) {
	name := fmt.Sprintf("clock %s %s", b, d.env)
	base, err := d.c.baseURL(b, d.env)
	if err != nil {
		d.add(name, checkFail, innermost(err).Error(), "set "+brokers.MustGet(b).BaseURLVar+" to an http(s) URL or unset it")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
	if err != nil {
		d.add(name, checkFail, err.Error(), "")
		return
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t0 := d.now()
	resp, err := client.Do(req)
	t1 := d.now()
	if err != nil {
		d.add(name, checkFail, fmt.Sprintf("%s does not answer: %v", redactURL(base), innermost(err)), "check the network, proxy and "+brokers.MustGet(b).BaseURLVar)
		return
	}
	resp.Body.Close()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		d.add(name, checkSkipped, redactURL(base)+" sends no Date header to compare with", "")
		return
	}
	// Date is truncated to the second: the server's clock read between
	// Date and Date+1s, somewhere during the exchange.
	mid := t0.Add(t1.Sub(t0) / 2)
	off := mid.Sub(date.Add(500 * time.Millisecond)).Round(time.Second)
	detail := fmt.Sprintf("this machine is %s against %s's Date", describeOffset(off), redactURL(base))
	if off.Abs() > d.maxSkew {
		d.add(name, checkFail, detail+fmt.Sprintf(" (more than %v): kauth would refresh tokens early or use them after they expire", d.maxSkew),
			"sync the clock with NTP (timedatectl set-ntp true; chronyc makestep)")
		return
	}
	d.add(name, checkOK, detail, "")
}

func describeOffset(off time.Duration) string {
	switch {
	case off == 0:
		return "in step (±1s)"
	case off > 0:
		return off.String() + " ahead"
	}
	return (-off).String() + " behind"
}

// timezone checks that TZ, when set, names a zone Go knows: an unknown TZ
// silently means UTC.
func (d *doctor) timezone() {
	zone, off := d.now().Zone()
	here := fmt.Sprintf("local zone %s (UTC%+03d:%02d); broker times are read as KST (+09:00) whatever the zone", zone, off/3600, (off%3600+3600)%3600/60)
	if tz := d.c.getenv("TZ"); tz != "" {
		if _, err := time.LoadLocation(strings.TrimPrefix(tz, ":")); err != nil {
			d.add("timezone", checkFail, fmt.Sprintf("TZ=%q is not a known zone, so local times show as UTC", tz), "set TZ to a zone such as Asia/Seoul (install tzdata) or unset it")
			return
		}
	}
	d.add("timezone", checkOK, here, "")
}

// cacheDir checks the file store's directory, key file and entries.
func (d *doctor) cacheDir() {
	if kind := strings.TrimSpace(d.c.getenv("KAUTH_STORE")); kind != "" && kind != "file" {
		d.add("cache dir", checkSkipped, "KAUTH_STORE is not the file store", "")
		return
	}
	dir, err := d.c.cacheDir()
	if err != nil {
		d.add("cache dir", checkFail, innermost(err).Error(), "set KAUTH_CACHE_DIR")
		return
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		d.add("cache dir", checkSkipped, dir+" does not exist yet (the first kauth token creates it)", "")
		return
	}
	if err != nil {
		d.add("cache dir", checkFail, innermost(err).Error(), "")
		return
	}
	if !fi.IsDir() {
		d.add("cache dir", checkFail, dir+" is not a directory", "remove it or set KAUTH_CACHE_DIR")
		return
	}
	bad := 0
	checkOne := func(what, path string, fi os.FileInfo) {
		if exp, err := private.Check(path, fi); err != nil {
			bad++
			d.add("cache dir", checkFail, fmt.Sprintf("%s %s: %v", what, path, err), "")
		} else if exp != nil {
			bad++
			d.add("cache dir", checkFail, fmt.Sprintf("%s %s is %s, open to other users", what, path, exp.Who), exp.Fix)
		}
		if uid, ok := fileOwner(fi); ok && uid != os.Getuid() {
			bad++
			d.add("cache dir", checkFail, fmt.Sprintf("%s %s is owned by uid %d, not by uid %d who runs kauth", what, path, uid, os.Getuid()),
				fmt.Sprintf("run kauth as that user, or chown -R %d %s", os.Getuid(), dir))
		}
	}
	checkOne("cache dir", dir, fi)
	entries, err := os.ReadDir(dir)
	if err != nil {
		d.add("cache dir", checkFail, innermost(err).Error(), "")
		return
	}
	files := 0
	for _, de := range entries {
		if !de.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, de.Name())
		fi, err := os.Stat(path)
		if err != nil {
			continue
		}
		files++
		what := "cache file"
		if de.Name() == "key" {
			what = "key file"
		}
		checkOne(what, path, fi)
	}
	if bad == 0 {
		d.add("cache dir", checkOK, fmt.Sprintf("%s and its %d files are private to their owner", dir, files), "")
	}
}

// store opens the store and checks that its entries open with this
// KAUTH_KEY. It returns the store, or nil.
func (d *doctor) store(ctx context.Context) *openedStore {
	if kind := strings.TrimSpace(d.c.getenv("KAUTH_STORE")); kind == "" || kind == "file" {
		// Opening the file store creates its directory and key file: a
		// check creates nothing.
		if dir, err := d.c.cacheDir(); err == nil && !fileExists(dir) {
			d.add("store", checkSkipped, "file "+dir+" holds nothing yet", "")
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	st, err := d.c.openStore(ctx, d.c.logger(false))
	if err != nil {
		fix := ""
		if strings.HasPrefix(strings.TrimSpace(d.c.getenv("KAUTH_STORE")), "redis") {
			fix = "start Redis or correct KAUTH_STORE (host, port, password, database)"
		}
		d.add("store", checkFail, errorLine(err), fix)
		d.storeBroken = true
		return nil
	}
	if !d.redis(ctx, st) {
		d.add("store", checkFail, st.name+" does not answer (see redis)", "")
		d.storeBroken = true
		st.close()
		return nil
	}
	lister, ok := st.Store.(kauth.Lister)
	if !ok {
		d.add("store", checkOK, st.name+" opens", "")
		return st
	}
	keys, err := lister.List(ctx)
	if err != nil {
		d.add("store", checkFail, fmt.Sprintf("listing %s: %v", st.name, innermost(err)), "")
		return st
	}
	var sealed []string
	for _, k := range keys {
		if _, err := st.Load(ctx, k); errors.Is(err, kauth.ErrNotFound) {
			sealed = append(sealed, fmt.Sprintf("%s %s app %s", k.Broker, k.Env, k.Fingerprint))
		}
	}
	if len(sealed) > 0 {
		d.add("store", checkFail, fmt.Sprintf("%d of the %d entries in %s do not open with this KAUTH_KEY (%s): kauth would issue beside them", len(sealed), len(keys), st.name, strings.Join(sealed, ", ")),
			"set KAUTH_KEY to the key the other processes use (or the key file's), or remove those entries")
		return st
	}
	d.add("store", checkOK, fmt.Sprintf("%s opens; its %d entries open with this key", st.name, len(keys)), "")
	return st
}

// agent asks a running agent's /healthz; no agent is a skipped check.
func (d *doctor) agent(ctx context.Context, config, addr string) {
	var cfg agent.Config
	if config != "" {
		var err error
		if cfg, err = agent.LoadConfig(config); err != nil {
			d.add("agent", checkFail, errorLine(err), "correct the config")
			return
		}
	}
	conn, err := d.c.dialAgent("doctor", cfg, addr, false)
	if err != nil {
		d.add("agent", checkSkipped, errorLine(err), "")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, min(d.timeout, 5*time.Second))
	defer cancel()
	client := conn.client()
	defer client.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost/healthz", nil)
	req.Host = "localhost"
	resp, err := client.Do(req)
	if err != nil {
		if config == "" && addr == "" {
			d.add("agent", checkSkipped, "no agent answers on "+conn.where, "")
		} else {
			d.add("agent", checkFail, fmt.Sprintf("no agent answers on %s: %v", conn.where, innermost(err)), "start kauth serve")
		}
		return
	}
	defer resp.Body.Close()
	var h struct {
		Status       string `json:"status"`
		Accounts     int    `json:"accounts"`
		TokensUsable int    `json:"tokens_usable"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &h) != nil || h.Status != "ok" {
		d.add("agent", checkFail, fmt.Sprintf("%s answered HTTP %d, not a healthy agent", conn.where, resp.StatusCode), "see the agent's log")
		return
	}
	bearer := ""
	if kc, err := d.c.dialAgent("doctor", cfg, addr, true); err == nil {
		// Over TCP every call but /healthz takes the agent key.
		bearer = kc.bearer
	}
	version := d.agentVersion(ctx, client, bearer)
	d.add("agent", checkOK, fmt.Sprintf("up on %s%s: %d accounts, %d tokens usable", conn.where, version, h.Accounts, h.TokensUsable), "")
	d.agentAccounts(ctx, client, bearer)
}

// agentAccounts adds a line for each of the agent's accounts: the state of
// the token it holds, as GET /v1/accounts tells it, without asking for one.
func (d *doctor) agentAccounts(ctx context.Context, client *http.Client, bearer string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost/v1/accounts", nil)
	req.Host = "localhost"
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var list struct {
		Accounts []agent.AccountInfo `json:"accounts"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&list) != nil {
		d.add("agent accounts", checkSkipped, fmt.Sprintf("the agent answered GET /v1/accounts with HTTP %d", resp.StatusCode), "")
		return
	}
	for _, a := range list.Accounts {
		name := "agent account " + a.Name
		what := fmt.Sprintf("%s %s app %s", a.Broker, a.Env, a.App)
		switch a.TokenState {
		case "valid", "refresh_due":
			d.add(name, checkOK, fmt.Sprintf("%s: token %s %s, valid until %s", what, a.Token, strings.ReplaceAll(a.TokenState, "_", " "), a.ExpiresAt), "")
		case "expired":
			d.add(name, checkFail, what+": the agent holds an expired token", "see the agent's log for why it was not refreshed (credentials, the broker's limits)")
		default:
			d.add(name, checkSkipped, what+": no token yet (the agent issues on the first request)", "")
		}
	}
}

// agentVersion returns ", version V" as the agent's /metrics tells it
// (kauth_build_info), with this kauth's when they differ, or "" when the
// agent does not say.
func (d *doctor) agentVersion(ctx context.Context, client *http.Client, bearer string) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost/metrics", nil)
	req.Host = "localhost"
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	for _, l := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(l, "kauth_build_info{")
		if !ok {
			continue
		}
		// The labels are commit, goversion and version: find the label
		// version itself, not the tail of goversion.
		var v string
		for _, label := range strings.Split(strings.TrimSuffix(strings.TrimSpace(rest), "} 1"), ",") {
			if after, ok := strings.CutPrefix(label, `version="`); ok {
				v = after
			}
		}
		if v == "" {
			return ""
		}
		v, _, _ = strings.Cut(v, `"`)
		if mine := buildinfo.Get().Version; mine != v {
			return fmt.Sprintf(", version %s (this kauth is %s)", v, mine)
		}
		return ", version " + v
	}
	return ""
}

// prober is a provider with a cheap authenticated call.
type prober interface {
	Probe(ctx context.Context, base *url.URL) (*http.Request, error)
	ProbeOK(body []byte) bool
}

// credentials checks b's credentials: the cached token with one
// authenticated call, or with --issue an issuance.
func (d *doctor) credentials(ctx context.Context, b kauth.Broker, st *openedStore) {
	name := fmt.Sprintf("credentials %s %s", b, d.env)
	creds, err := d.c.credentials(b, d.env)
	if err != nil {
		d.add(name, checkFail, errorLine(err), "set both variables")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	if st != nil {
		entry, err := st.Load(ctx, creds.Key())
		tok := entry.Token
		if err == nil && tok.AccessToken != "" && tok.ExpiresAt.After(d.now()) && tok.Fingerprint() != entry.Revoking {
			d.probe(ctx, name, b, creds, tok)
			return
		}
	}
	if d.storeBroken {
		d.add(name, checkSkipped, "the store does not open (see store)", "")
		return
	}
	if !d.issue {
		d.add(name, checkSkipped, fmt.Sprintf("no cached token for app %s to check without issuing", creds.Fingerprint()), "run kauth doctor --issue to check them with an issuance")
		return
	}
	s, err := d.c.newAppClient(ctx, b, d.env, d.timeout, false, false)
	if err != nil {
		d.add(name, checkFail, errorLine(err), "")
		return
	}
	defer s.Close()
	if _, err := s.manager.Token(ctx); err != nil {
		fix := ""
		if errors.Is(err, kauth.ErrCredentials) {
			vars := credentialVars(b)
			fix = "correct " + vars[0] + " and " + vars[1]
		}
		d.add(name, checkFail, errorLine(err), fix)
		return
	}
	d.add(name, checkOK, fmt.Sprintf("app %s: a token was issued and cached", creds.Fingerprint()), "")
}

// probe makes one authenticated call with tok.
func (d *doctor) probe(ctx context.Context, name string, b kauth.Broker, creds kauth.Credentials, tok kauth.Token) {
	p, err := d.c.provider(b, d.env, d.timeout)
	if err != nil {
		d.add(name, checkFail, errorLine(err), "")
		return
	}
	auth, ok1 := p.(kauth.Authorizer)
	pr, ok2 := p.(prober)
	if !ok1 || !ok2 {
		d.add(name, checkOK, fmt.Sprintf("app %s: a cached token, valid until %s (%s has no call to check it with)", creds.Fingerprint(), tok.ExpiresAt.In(kauth.KST).Format(time.RFC3339), brokers.MustGet(b).Display), "")
		return
	}
	base, _ := d.c.baseURL(b, d.env)
	u, err := url.Parse(base)
	if err != nil {
		d.add(name, checkFail, err.Error(), "")
		return
	}
	req, err := pr.Probe(ctx, u)
	if err != nil {
		d.add(name, checkFail, err.Error(), "")
		return
	}
	auth.Authorize(req, creds, tok)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		d.add(name, checkFail, fmt.Sprintf("the check call got no answer: %v", innermost(err)), "check the network")
		return
	}
	defer resp.Body.Close()
	if auth.Rejected(resp) {
		d.add(name, checkFail, fmt.Sprintf("app %s: the broker rejects the cached token %s", creds.Fingerprint(), tok.Fingerprint()),
			"kauth revoke, then kauth token issues a new one; if it comes back rejected, check the app key and secret")
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK || !pr.ProbeOK(body) {
		d.add(name, checkFail, fmt.Sprintf("app %s: the check call answered HTTP %d with an error: %s", creds.Fingerprint(), resp.StatusCode, healthClip(body, 160)), "check the app key and secret, and the broker's service status")
		return
	}
	d.add(name, checkOK, fmt.Sprintf("app %s: the broker accepts the cached token %s, valid until %s", creds.Fingerprint(), tok.Fingerprint(), tok.ExpiresAt.In(kauth.KST).Format(time.RFC3339)), "")
}

// egress checks KAUTH_EGRESS where a broker binds its tokens to the
// issuing IP (Kiwoom, 8010).
func (d *doctor) egress(ctx context.Context, configured []kauth.Broker) {
	var binding []kauth.Broker
	for _, b := range configured {
		if kauth.BindsTokenToIP(brokers.MustGet(b).New("", nil, nil)) {
			binding = append(binding, b)
		}
	}
	if len(binding) == 0 {
		d.add("egress", checkSkipped, "no configured broker binds its tokens to the issuing IP", "")
		return
	}
	setting := strings.TrimSpace(d.c.getenv("KAUTH_EGRESS"))
	shared := strings.HasPrefix(strings.TrimSpace(d.c.getenv("KAUTH_STORE")), "redis")
	for _, b := range binding {
		name := fmt.Sprintf("egress %s %s", b, d.env)
		if setting == "" {
			if shared {
				d.add(name, checkFail, "KAUTH_EGRESS is not set, but the store is shared: a token issued from another host's IP is refused here (8010)",
					"set KAUTH_EGRESS to this host's egress IP (or auto) on every host")
			} else {
				d.add(name, checkOK, "KAUTH_EGRESS is not set; the store is not shared between hosts", "")
			}
			continue
		}
		base, err := d.c.baseURL(b, d.env)
		if err != nil {
			d.add(name, checkFail, errorLine(err), "")
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, d.timeout)
		ip, err := kauth.ResolveEgress(cctx, setting, base)
		cancel()
		if err != nil {
			d.add(name, checkFail, "KAUTH_EGRESS: "+innermost(err).Error(), "set KAUTH_EGRESS to an IP address or auto")
			continue
		}
		d.add(name, checkOK, "tokens are kept per egress IP "+ip, "")
	}
}

// issuance says when b allows the next issuance.
func (d *doctor) issuance(ctx context.Context, b kauth.Broker, st *openedStore) {
	name := fmt.Sprintf("issuance %s %s", b, d.env)
	creds, err := d.c.credentials(b, d.env)
	if err != nil || st == nil {
		d.add(name, checkSkipped, "no credentials, or nothing stored", "")
		return
	}
	interval := kauth.MinIssueInterval(brokers.MustGet(b).New("", nil, nil))
	entry, err := st.Load(ctx, creds.Key())
	if err != nil && !errors.Is(err, kauth.ErrNotFound) {
		d.add(name, checkFail, errorLine(err), "")
		return
	}
	next := entry.LastIssue.Add(interval)
	if entry.RetryAt.After(next) {
		next = entry.RetryAt
	}
	now := d.now()
	if !next.After(now) {
		d.add(name, checkOK, fmt.Sprintf("app %s: the next issuance is allowed now (spacing %v)", creds.Fingerprint(), interval), "")
		return
	}
	d.add(name, checkOK, fmt.Sprintf("app %s: the next issuance is allowed at %s (in %v)", creds.Fingerprint(), next.In(kauth.KST).Format(time.RFC3339), next.Sub(now).Round(time.Second)), "")
}
