package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/alerts"
	"github.com/kauth/kauth/agent/internal/config"
	"github.com/kauth/kauth/agent/internal/keys"
	"github.com/kauth/kauth/agent/internal/listen"
	"github.com/kauth/kauth/agent/internal/lograte"
	"github.com/kauth/kauth/agent/internal/metrics"
	"github.com/kauth/kauth/agent/internal/pacing"
	"github.com/kauth/kauth/agent/internal/probe"
	"github.com/kauth/kauth/agent/internal/proxy"
	"github.com/kauth/kauth/agent/internal/rawheader"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/budget"
	"github.com/kauth/kauth/internal/buildinfo"
)

// Options are the agent's collaborators. The zero value of every field is a
// sensible default.
type Options struct {
	// Store keeps the tokens, shared with other processes when it is a
	// shared store (the file or Redis store). Nil means a new in-memory
	// store private to this Agent.
	Store kauth.Store
	// Logger receives the agent's and its Managers' logs. They name
	// accounts and fingerprints, never a secret or a whole token. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Getenv reads the environment: credentials referenced by variable
	// name, KIS_BASE_URL, KIWOOM_BASE_URL, XDG_RUNTIME_DIR and
	// KAUTH_CACHE_DIR. Nil means os.Getenv.
	Getenv func(string) string
	// HTTPClient makes the token calls; its Transport also carries the
	// proxied calls. Nil means a client with a 30 s timeout over a clone of
	// http.DefaultTransport (proxied calls are bounded by their callers).
	HTTPClient *http.Client
	// Clock is the time source of the Managers and the keepers. Nil means
	// the system clock. Rate limits always use real time: they are about
	// the broker's real seconds.
	Clock kauth.Clock
	// KeepEvery is how often each account's keeper looks at its token (and
	// refreshes it inside the refresh-ahead window). Zero means
	// DefaultKeepEvery.
	KeepEvery time.Duration
	// WSClientBuffer is how many messages the WebSocket gateway queues for
	// one local client before closing it as too slow. Zero means
	// DefaultWSClientBuffer.
	WSClientBuffer int
	// SharedBudget, if set, backs each app key's call budget with one that
	// every agent (and every Transport) sharing it draws from, across
	// processes and hosts: kauth serve sets it to a budget.Shared in the
	// Redis store when KAUTH_STORE is Redis. Nil means each agent paces
	// only its own calls.
	SharedBudget func(BudgetSpec) (*budget.Shared, error)
	// Unpaced turns the per-app-key pacing of proxied calls off, to measure
	// the agent itself against a simulator without limits
	// (bench/cmd/load). Never set it in front of a broker: its per-second
	// limits are what the pacing keeps.
	Unpaced bool
	// Reload, if set, re-reads the agent's config and applies it; POST
	// /v1/reload calls it (kauth reload), so that a config is reloaded on
	// every OS, without a signal. Daemon sets it to Daemon.Reload. Nil:
	// the route answers 501.
	Reload func() error
	// Brokers are the brokers the agent serves accounts of, found by name
	// or alias. Nil means brokers.All(). Everything the agent needs of a
	// broker beyond its names and variables it asks of the broker's
	// Provider, so a broker outside that list is served as well.
	Brokers []kauth.BrokerSpec
	// RealtimeShare, if set, makes the agents on one Redis store hold each
	// app key's upstream real-time session once between them (see
	// RealtimeShare): kauth serve sets it when KAUTH_STORE is Redis. Nil:
	// this agent opens its own sessions.
	RealtimeShare *RealtimeShare
}

// BudgetSpec is what Options.SharedBudget builds a budget for: one app key
// at one env, its calls a second and burst (the strictest of the accounts
// on it), and the share of it this agent takes on its own while the shared
// budget cannot be reached (Config.BudgetShare). Key's fingerprint is the
// app key's alone, whatever the egress: the broker counts calls per app key.
type BudgetSpec struct {
	Key        kauth.Key
	PerSecond  float64
	Burst      int
	LocalShare float64
	// OnFallback is called when the budget falls back to the local share
	// (true) and when it is shared again (false).
	OnFallback func(bool)
}

// Agent serves a set of accounts: their tokens, an authenticating reverse
// proxy to their brokers, and metrics. Create it with New, serve it with
// ListenAndServe or Serve, change its accounts with Reload and stop it with
// Close. It is safe for concurrent use.
type Agent struct {
	log       *slog.Logger
	clock     kauth.Clock
	getenv    func(string) string
	store     kauth.Store
	group     *kauth.Group // every Manager of this agent: one hub per store
	client    *http.Client
	base      http.RoundTripper
	upstream  http.RoundTripper // base, learning raw header names (agent/internal/rawheader)
	keepEvery time.Duration
	// sorted is accounts sorted by name (snapshot), replaced with it.
	sorted []*account
	// firstLooks gates the keepers' first looks (maxFirstLooks at once).
	firstLooks chan struct{}
	metrics    *metrics.Metrics
	ws         *wsGateway   // the WebSocket gateway (ws.go)
	px         *proxy.Proxy // the proxy and the facade (proxy.go)

	// share and self hold sessions once among the agents on a Redis
	// store (relay.go).
	share *RealtimeShare
	self  string

	wsClientBuffer int

	// alerts sends the accounts' alerts to the config's webhooks (nil
	// when there are none); Reload replaces it when they change.
	alerts      atomic.Pointer[alerts.Dispatcher]
	alertHooks  []alerts.Webhook
	alertSeries *alerts.Metrics
	// wsOutageAfter is alert_options.ws_unavailable_after (0: the
	// default), for the real-time sessions opened next.
	wsOutageAfter atomic.Int64

	ownTransport *http.Transport // the transport New made, closed by Close
	handler      http.Handler

	mu          sync.RWMutex
	cfg         Config
	accounts    map[string]*account
	fidx        atomic.Pointer[facadeIndex] // built from accounts (facadeindex.go)
	limiters    map[kauth.Key]*rate.Limiter
	turns       map[kauth.Key]*pacing.Turns // each limiter's clients' turns
	budgets     map[kauth.Key]sharedBudget  // by app key, when shareBudget is set
	shareBudget func(BudgetSpec) (*budget.Shared, error)
	reload      func() error
	unpaced     bool
	brokers     brokerList // the brokers served (Options.Brokers)
	closed      bool

	keyMu   sync.Mutex
	key     string // the agent key TCP callers present; "" until loaded
	keyPath string
	clients []keys.Client // the config's client keys, reloaded by Reload

	srvMu   sync.Mutex
	servers map[*http.Server]bool
	connSeq atomic.Uint64 // numbers the connections, to tell clients apart

	probes *probe.Checker // report checking per app key

	status statusAuth // the status page's login codes and sessions (statuspage.go)
	// loginRefusals thins out the log lines of refused status page logins,
	// which anyone who reaches the TCP port can cause.
	loginRefusals *lograte.Limiter
	events        eventRing // the recent token events it shows (statusdata.go)

	ready     chan struct{}
	endpoints Endpoints

	closeOnce sync.Once
	closeErr  error
}

// New builds an Agent serving cfg's accounts, reading their credentials
// (through opts.Getenv or from their files) and starting one keeper per
// account, which gets a token right away and keeps it fresh. It reports
// every configuration problem at once. It does not listen: call
// ListenAndServe or Serve. On windows it serves no unix socket: it listens
// on loopback TCP with its key (listen.tcp), and refuses a listen.socket.
func New(cfg Config, opts Options) (*Agent, error) {
	if err := listen.CheckSocket(runtime.GOOS, cfg.Listen.Socket); err != nil {
		return nil, &ConfigError{Err: err}
	}
	a := &Agent{
		log:         opts.Logger,
		clock:       opts.Clock,
		getenv:      opts.Getenv,
		store:       opts.Store,
		client:      opts.HTTPClient,
		keepEvery:   opts.KeepEvery,
		firstLooks:  make(chan struct{}, maxFirstLooks),
		accounts:    make(map[string]*account),
		limiters:    make(map[kauth.Key]*rate.Limiter),
		budgets:     make(map[kauth.Key]sharedBudget),
		shareBudget: opts.SharedBudget,
		reload:      opts.Reload,
		unpaced:     opts.Unpaced,
		brokers:     brokerList(opts.Brokers),
		servers:     make(map[*http.Server]bool),
		ready:       make(chan struct{}),
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.brokers == nil {
		a.brokers = brokers.All()
	}
	if a.clock == nil {
		a.clock = kauth.SystemClock{}
	}
	a.loginRefusals = lograte.New(0, a.clock.Now)
	if a.getenv == nil {
		a.getenv = os.Getenv
	}
	if a.store == nil {
		// A store of this agent's own: two agents in one process (tests)
		// may serve the same app key at different simulators.
		a.store = kauth.NewMemoryStore()
	}
	a.group = kauth.NewGroup()
	a.probes = probe.NewChecker(a.clock.Now, a.log)
	if a.client == nil {
		a.ownTransport = http.DefaultTransport.(*http.Transport).Clone()
		// A broker name that resolves to a link-local or metadata address
		// is refused at dial time too, not only in the config.
		a.ownTransport.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: refuseDial}).DialContext
		a.client = &http.Client{Timeout: 30 * time.Second, Transport: a.ownTransport}
	}
	a.base = a.client.Transport
	if a.base == nil {
		a.base = http.DefaultTransport
	}
	a.upstream = rawheader.NewTransport(a.base, DefaultMaxInFlight)
	if a.keepEvery <= 0 {
		a.keepEvery = DefaultKeepEvery
	}
	a.metrics = metrics.New(metrics.Config{Kind: errorKind, FailureKinds: failureKinds, Accounts: a.metricAccounts, Now: a.clock.Now})
	a.alertSeries = alerts.NewMetrics()
	a.metrics.Register(a.alertSeries)
	a.wsClientBuffer = opts.WSClientBuffer
	a.share, a.self = opts.RealtimeShare, newInstanceID()
	a.ws = newGateway(a)
	a.px = a.newProxyServer()
	a.handler = a.routes()
	if err := a.Reload(cfg); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload makes the agent serve cfg without dropping tokens: accounts whose
// name, credentials and base URL are unchanged keep their Manager and token
// (their rate limits are retuned in place), new accounts are added, and
// removed or changed ones are closed once requests in flight no longer
// need them. If cfg is invalid, nothing changes and the error says why.
// Listen settings take effect at the next ListenAndServe.
func (a *Agent) Reload(cfg Config) error {
	rs, err := config.Resolve(cfg, a.getenv, a.brokers)
	if err != nil {
		return err
	}
	names := make(map[string]bool, len(rs))
	for _, r := range rs {
		names[r.Name] = true
	}
	clients, err := keys.LoadClients(cfg.ClientKeys, names)
	if err != nil {
		return &ConfigError{Err: err}
	}
	hooks, err := config.ResolveAlerts(cfg, a.getenv)
	if err != nil {
		return err
	}
	// Rotation: an agent key deleted or replaced since it was loaded is
	// picked up here (on SIGHUP), like the client keys.
	agentKeyRotated, err := a.reloadKey()
	if err != nil {
		return &ConfigError{Err: err}
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return errClosed
	}
	old := a.accounts
	next := make(map[string]*account, len(rs))
	if a.cfg.Accounts != nil && !reflect.DeepEqual(a.cfg.Listen, cfg.Listen) {
		a.log.Warn("agent: listen settings changed; they take effect when the agent restarts")
	}
	if a.cfg.Accounts != nil && facadeAddrsChanged(a.cfg, cfg) {
		a.log.Warn("agent: facade_addr settings changed; facade ports open and close when the agent restarts")
	}

	// One rate budget per app key: accounts sharing a key share a limiter
	// at the strictest of their settings.
	type budget struct {
		limit rate.Limit
		burst int
	}
	budgets := map[kauth.Key]budget{}
	for _, r := range rs {
		k := r.Creds.Key()
		b, ok := budgets[k]
		if !ok || rate.Limit(r.RateLimit) < b.limit {
			b.limit = rate.Limit(r.RateLimit)
		}
		if !ok || r.Burst < b.burst {
			b.burst = r.Burst
		}
		budgets[k] = b
	}
	limiters := make(map[kauth.Key]*rate.Limiter, len(budgets))
	allTurns := make(map[kauth.Key]*pacing.Turns, len(budgets))
	per := cfg.ClientTurns
	if per == 0 {
		per = DefaultClientTurns
	}
	for k := range budgets {
		if tu, ok := a.turns[k]; ok {
			tu.SetPer(per)
			allTurns[k] = tu
		} else {
			allTurns[k] = pacing.NewTurns(per)
		}
	}
	for k, b := range budgets {
		if l, ok := a.limiters[k]; ok {
			l.SetLimit(b.limit)
			l.SetBurst(b.burst)
			limiters[k] = l
		} else {
			limiters[k] = rate.NewLimiter(b.limit, b.burst)
		}
	}

	shared, err := a.sharedBudgets(budgetKeys(rs), limiters, cfg.BudgetShare)
	if err != nil {
		a.mu.Unlock()
		return err
	}

	var added []*account
	var buildErr error
	for _, r := range rs {
		sb := shared[budgetKey(r.Creds)].b
		if o, ok := old[r.Name]; ok && o.creds == r.Creds && o.baseURL.String() == r.BaseURL && o.revokePass == (r.Revoke == RevokePass) && o.shared == sb &&
			o.wsClientMax == r.WSClientMaxSubscriptions && o.wsControlRate == r.WSControlRate &&
			o.turnover == r.Account.Turnover && o.wsQuiet == r.WSQuietOffHours {
			next[r.Name] = o
			continue
		}
		acct, err := a.newAccount(r, limiters[r.Creds.Key()], cfg.BudgetShare)
		if acct != nil {
			acct.shared = sb
			acct.turns = allTurns[r.Creds.Key()]
		}
		if err != nil {
			buildErr = err
			break
		}
		next[r.Name] = acct
		added = append(added, acct)
	}
	if buildErr != nil {
		a.mu.Unlock()
		for _, acct := range added {
			acct.mgr.Close()
		}
		return buildErr
	}
	var removed []*account
	for name, o := range old {
		if next[name] != o {
			removed = append(removed, o)
		}
	}
	a.accounts, a.limiters, a.budgets, a.turns, a.cfg = next, limiters, shared, allTurns, cfg
	a.sorted = sortedAccounts(next)
	oldAlerts := a.swapAlerts(hooks, cfg.AlertOptions)
	a.wsOutageAfter.Store(int64(cfg.AlertOptions.WSUnavailableAfter))
	a.keyMu.Lock()
	keysChanged := agentKeyRotated || !reflect.DeepEqual(a.clients, clients)
	a.clients = clients
	a.keyMu.Unlock()
	for _, acct := range added {
		a.startKeeper(acct)
	}
	a.mu.Unlock()
	if keysChanged {
		a.ws.closeKeyed()
		a.status.revokeAll() // a status page session is no wider than the key that opened it
	}

	for _, acct := range added {
		a.log.Info("agent: serving account", "account", acct.name, "broker", acct.creds.Broker, "env", acct.creds.Env,
			"app", acct.creds.Fingerprint(), "base_url", acct.baseURL.String(),
			"rate_limit", float64(acct.limiter.Limit()), "burst", acct.limiter.Burst())
	}
	oldAlerts.Close()
	for _, acct := range removed {
		a.log.Info("agent: account removed", "account", acct.name, "app", acct.creds.Fingerprint())
		a.closeAccount(acct)
		if next[acct.name] == nil {
			a.metrics.Forget(acct.name)
		}
	}
	return nil
}

func (a *Agent) config() Config {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg
}

func (a *Agent) maxBody() int64 {
	if n := a.config().MaxBodyBytes; n > 0 {
		return n
	}
	return DefaultMaxBodyBytes
}

func (a *Agent) bodyTimeout() time.Duration {
	if d := a.config().BodyTimeout; d > 0 {
		return d
	}
	return DefaultBodyTimeout
}

func (a *Agent) maxInFlight() int {
	if n := a.config().MaxInFlight; n > 0 {
		return n
	}
	return DefaultMaxInFlight
}

func (a *Agent) shutdownTimeout() time.Duration {
	if d := a.config().ShutdownTimeout; d > 0 {
		return d
	}
	return DefaultShutdownTimeout
}

// Handler returns the agent's HTTP handler: the JSON API, the proxy and the
// metrics, behind the agent's checks (Host and Origin, the agent key for
// connections not made through the unix socket, body size). Serve and
// ListenAndServe use it; it is exported for embedding the agent in another
// server. Outside Serve a request cannot have come through the socket, so
// every request needs the key (see KeyFile).
func (a *Agent) Handler() http.Handler { return a.handler }

// Endpoints say where a running agent listens.
type Endpoints struct {
	// Socket is the unix socket's path, or "" if none is served.
	Socket string
	// TCP is the TCP address served (with the real port when the config
	// asked for port 0), or "".
	TCP string
	// KeyFile holds the agent key TCP callers present, or "" if no TCP is
	// served.
	KeyFile string
	// Ports are the facade ports served, by account name (with the real
	// port when the config asked for port 0); nil if none.
	Ports map[string]string
}

// Ready is closed once ListenAndServe is listening; Endpoints then says
// where.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Endpoints returns where ListenAndServe listens. It is valid after Ready
// is closed.
func (a *Agent) Endpoints() Endpoints {
	<-a.ready
	return a.endpoints
}

// ListenAndServe listens where the config says — the unix socket (default
// DefaultSocketPath) and, if set, the loopback TCP address, writing the
// agent key file (default DefaultKeyFile) for TCP callers — and serves
// until ctx is done or Close is called. Then it stops accepting and waits
// for requests in flight, up to the config's shutdown timeout. It returns
// nil after such a stop. Call Close afterwards to stop the keepers and
// close the Managers.
func (a *Agent) ListenAndServe(ctx context.Context) error {
	lns, ep, err := openListeners(a.config(), a.getenv)
	if err != nil {
		return err
	}
	ports, err := openPorts(a.config())
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		return err
	}
	return a.serveListeners(ctx, lns, ports, ep)
}

// openListeners opens what cfg says to listen on: the unix socket and the
// TCP address. It runs before any keeper starts, so that an agent that
// cannot listen (another agent on the socket, a port in use) fails with
// one line before it has issued anything.
func openListeners(cfg Config, getenv func(string) string) ([]net.Listener, Endpoints, error) {
	var ep Endpoints
	if err := config.CheckTCPAddr(cfg.Listen.TCP, cfg.Listen.AllowNonLoopback); err != nil {
		return nil, ep, &ConfigError{Err: err}
	}
	sock, err := SocketPath(cfg, getenv)
	if err != nil {
		return nil, ep, err
	}
	if sock == "" && cfg.Listen.TCP == "" && !hasFacadeAddr(cfg) {
		if !listen.DefaultSocket(runtime.GOOS) {
			return nil, ep, &ConfigError{Err: errors.New("agent: nothing to listen on: on windows kauth serve listens on loopback TCP with the agent key; set listen.tcp or --addr 127.0.0.1:PORT")}
		}
		return nil, ep, &ConfigError{Err: errors.New("agent: nothing to listen on: the socket is off and no tcp address is set")}
	}
	var lns []net.Listener
	fail := func(err error) ([]net.Listener, Endpoints, error) {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, ep, err
	}
	if sock != "" {
		path := sock
		if err := config.CheckSocketPath(path); err != nil {
			return fail(&ConfigError{Err: err})
		}
		ln, err := listen.Unix(path)
		if err != nil {
			return fail(err)
		}
		lns = append(lns, ln)
		ep.Socket = path
	}
	if cfg.Listen.TCP != "" {
		ln, err := net.Listen("tcp", cfg.Listen.TCP)
		if err != nil {
			if listen.AddrInUse(err) {
				return fail(&ConfigError{Err: fmt.Errorf("agent: %s is in use (another kauth serve?); stop it or choose another --addr or listen.tcp", cfg.Listen.TCP)})
			}
			return fail(fmt.Errorf("agent: %w", err))
		}
		lns = append(lns, ln)
		if err := listen.Check(ln, cfg.Listen.AllowNonLoopback); err != nil {
			return fail(&ConfigError{Err: err})
		}
		ep.TCP = ln.Addr().String()
	}
	return lns, ep, nil
}

// SocketPath returns the path of the unix socket an agent with cfg listens
// on: cfg's listen.socket, else DefaultSocketPath; "" when the socket is
// off, as it is by default on windows.
func SocketPath(cfg Config, getenv func(string) string) (string, error) {
	return socketPathOn(runtime.GOOS, cfg, getenv)
}

func socketPathOn(goos string, cfg Config, getenv func(string) string) (string, error) {
	if cfg.Listen.Socket == SocketOff || (cfg.Listen.Socket == "" && !listen.DefaultSocket(goos)) {
		return "", nil
	}
	path := cfg.Listen.Socket
	if path == "" {
		p, err := listen.DefaultSocketPath(getenv)
		if err != nil {
			return "", err
		}
		path = p
	}
	return config.ExpandHome(path)
}

// serveListeners serves the agent on lns, which openListeners opened, until
// ctx is done or Close is called.
func (a *Agent) serveListeners(ctx context.Context, lns []net.Listener, ports []portListener, ep Endpoints) error {
	fail := func(err error) error {
		for _, ln := range lns {
			ln.Close()
		}
		for _, p := range ports {
			p.ln.Close()
		}
		return err
	}
	for _, p := range ports {
		if ep.Ports == nil {
			ep.Ports = map[string]string{}
		}
		ep.Ports[p.account] = p.ln.Addr().String()
	}
	if ep.TCP != "" || len(ports) > 0 {
		if _, err := a.loadKey(); err != nil {
			return fail(err)
		}
		ep.KeyFile = a.keyFile()
	}
	a.mu.Lock()
	closed := a.closed
	if !closed {
		a.endpoints = ep
		select {
		case <-a.ready:
		default:
			close(a.ready)
		}
	}
	a.mu.Unlock()
	if closed {
		return fail(errClosed)
	}
	bi := buildinfo.Get()
	a.log.Info("agent: listening", "socket", ep.Socket, "tcp", ep.TCP, "key_file", ep.KeyFile,
		"version", bi.Version, "commit", bi.CommitLabel(), "go", bi.GoVersion)
	for _, p := range ports {
		a.log.Info("agent: facade port", "account", p.account, "addr", ep.Ports[p.account])
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(lns)+len(ports))
	for _, ln := range lns {
		go func() { errc <- a.Serve(ctx, ln) }()
	}
	for _, p := range ports {
		go func() { errc <- a.serve(ctx, p.ln, a.portHandler(p.account), false) }()
	}
	var first error
	for range len(lns) + len(ports) {
		// A listener whose server had not started when Close came finds
		// the agent closed: that is the stop Close asked for, as it is for
		// the servers that had started.
		if err := <-errc; err != nil && !errors.Is(err, errClosed) && first == nil {
			first = err
			cancel() // one listener failing stops them all
		}
	}
	return first
}

// connKind marks the requests that came through the unix socket.
type connKind struct{}

// Serve serves the agent on ln until ctx is done or Close is called, then
// stops accepting and waits for requests in flight up to the config's
// shutdown timeout, and returns nil. A unix-socket listener serves without
// the agent key (the socket's 0600 mode is the access control); any other
// listener must be on a loopback address (unless the config allows
// otherwise), and its callers must present the key, which Serve loads or
// creates in the key file. Serve closes ln.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	unix := ln.Addr().Network() == "unix"
	if !unix {
		if err := listen.Check(ln, a.config().Listen.AllowNonLoopback); err != nil {
			ln.Close()
			return err
		}
		if _, err := a.loadKey(); err != nil {
			ln.Close()
			return err
		}
	}
	return a.serve(ctx, ln, a.handler, unix)
}

// serve serves h on ln, as Serve does; unix marks the connections that came
// through the unix socket.
func (a *Agent) serve(ctx context.Context, ln net.Listener, h http.Handler, unix bool) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			ctx = context.WithValue(ctx, connIDKey{}, a.connSeq.Add(1))
			if unix {
				return context.WithValue(ctx, connKind{}, "unix")
			}
			return ctx
		},
	}
	a.srvMu.Lock()
	if a.isClosed() {
		a.srvMu.Unlock()
		ln.Close()
		return errClosed
	}
	a.servers[srv] = true
	a.srvMu.Unlock()
	defer func() {
		a.srvMu.Lock()
		delete(a.servers, srv)
		a.srvMu.Unlock()
	}()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("agent: %w", err)
	case <-ctx.Done():
		a.shutdown(srv)
		<-errc
		return nil
	}
}

// shutdown stops srv gracefully: no new connections, requests in flight
// finish within the shutdown timeout, then the rest are cut.
func (a *Agent) shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), a.shutdownTimeout())
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		a.log.Warn("agent: requests still in flight at the shutdown deadline; closing them", "err", err)
		srv.Close()
	}
}

func (a *Agent) isClosed() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.closed
}

// keyFile returns the configured or default key file path.
func (a *Agent) keyFile() string {
	a.keyMu.Lock()
	defer a.keyMu.Unlock()
	return a.keyPath
}

// loadKey loads or creates the agent key, once.
func (a *Agent) loadKey() (string, error) {
	a.keyMu.Lock()
	defer a.keyMu.Unlock()
	if a.key != "" {
		return a.key, nil
	}
	path := a.config().Listen.KeyFile
	if path == "" {
		p, err := listen.DefaultKeyFile(a.getenv)
		if err != nil {
			return "", err
		}
		path = p
	}
	path, err := config.ExpandHome(path)
	if err != nil {
		return "", err
	}
	k, err := keys.LoadOrCreate(path)
	if err != nil {
		return "", &ConfigError{Err: err}
	}
	a.key, a.keyPath = k, path
	return k, nil
}

// reloadKey re-reads the agent key if it was loaded: a deleted key file
// gets a new key, a replaced one is taken as it is. It reports whether the
// key changed.
func (a *Agent) reloadKey() (bool, error) {
	a.keyMu.Lock()
	defer a.keyMu.Unlock()
	if a.key == "" {
		return false, nil
	}
	k, err := keys.LoadOrCreate(a.keyPath)
	if err != nil {
		return false, err
	}
	rotated := k != a.key
	if rotated {
		a.log.Info("agent: agent key rotated", "key_file", a.keyPath)
	}
	a.key = k
	return rotated, nil
}

// Close stops the agent: servers stop accepting and finish requests in
// flight (up to the shutdown timeout), keepers stop, tokens are revoked if
// the config says revoke_on_shutdown, and the Managers close. It is safe to
// call more than once; later calls return the first one's result.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() { a.closeErr = a.close() })
	return a.closeErr
}

func (a *Agent) close() error {
	a.mu.Lock()
	a.closed = true
	accts := make([]*account, 0, len(a.accounts))
	for _, acct := range a.accounts {
		accts = append(accts, acct)
	}
	revoke := a.cfg.RevokeOnShutdown
	a.mu.Unlock()
	a.ws.close() // WebSocket clients are hijacked connections: Shutdown does not wait for them

	a.srvMu.Lock()
	srvs := make([]*http.Server, 0, len(a.servers))
	for srv := range a.servers {
		srvs = append(srvs, srv)
	}
	a.srvMu.Unlock()
	var wg sync.WaitGroup
	for _, srv := range srvs {
		wg.Go(func() { a.shutdown(srv) })
	}
	wg.Wait()

	for _, acct := range accts {
		acct.keeper.Stop()
	}
	var errs []error
	if revoke {
		errs = a.revokeAll(accts)
	}
	for _, acct := range accts {
		acct.mgr.Close()
	}
	a.alerts.Swap(nil).Close() // what is still queued is dropped
	if a.ownTransport != nil {
		a.ownTransport.CloseIdleConnections()
	}
	if rt, ok := a.upstream.(*rawheader.Transport); ok {
		rt.CloseIdleConnections()
	}
	a.log.Info("agent: closed")
	return errors.Join(errs...)
}

// refuseDial refuses connections to addresses the agent must not call
// (see config.AllowedBrokerIP).
func refuseDial(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && !config.AllowedBrokerIP(ip) {
		return fmt.Errorf("agent: refusing to connect to %s, a link-local, metadata, unspecified or multicast address", host)
	}
	return nil
}

// errClosed is what the agent answers once it is closed.
var errClosed = errors.New("agent: closed")

// swapAlerts starts a Dispatcher for hooks unless they are the ones
// served, and returns the one it replaces, for the caller to close (nil if
// none). The caller holds a.mu.
func (a *Agent) swapAlerts(hooks []alerts.Webhook, o config.AlertOptions) *alerts.Dispatcher {
	if a.alerts.Load() != nil && reflect.DeepEqual(hooks, a.alertHooks) && reflect.DeepEqual(o, a.cfg.AlertOptions) {
		return nil
	}
	var d *alerts.Dispatcher
	if len(hooks) > 0 {
		var err error
		d, err = alerts.New(alerts.Config{Webhooks: hooks, Client: a.alertClient(), Metrics: a.alertSeries, Log: a.log,
			QueueSize: o.QueueSize, Attempts: o.Attempts, Backoff: o.Backoff, MaxBackoff: o.MaxBackoff})
		if err != nil { // ResolveAlerts validated them
			a.log.Error("agent: alerts not started", "err", err)
		}
	}
	a.alertHooks = hooks
	return a.alerts.Swap(d)
}

// alertClient is the HTTP client of the webhooks: not the brokers' one,
// whose dialer refuses some addresses and whose transport a test may
// point at a simulator.
func (a *Agent) alertClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second}
}

// sendAlert queues al for the webhooks. It never blocks.
func (a *Agent) sendAlert(al alerts.Alert) { a.alerts.Load().Send(al) }
