package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/budget"
	"github.com/kauth/kauth/internal/agentsim"
	"github.com/kauth/kauth/internal/sdnotify"
	"github.com/kauth/kauth/store/redis"
)

func (c *cli) serve(ctx context.Context, args []string) error {
	fs := c.flags("serve", "kauth serve [--config FILE] [--sim] [--addr ADDR] [--debug]", fmt.Sprintf(`
Run the local agent: bots in any language get tokens from it, or call the
brokers through its authenticating proxy, without holding the app secrets:

  GET  /v1/accounts/{name}/token     {"access_token","token_type","expires_at","broker","env"}
  ANY  /proxy/{name}/{broker path}   the broker's API with the auth headers added
  GET  /v1/accounts, /healthz, /readyz, /metrics

It listens on a unix socket (0600): listen.socket in the config, else
$XDG_RUNTIME_DIR/kauth/agent.sock, else (no XDG_RUNTIME_DIR: cron, sudo,
containers) agent.sock in the cache directory ($KAUTH_CACHE_DIR, else the
user cache directory + /kauth); --print-socket prints which. With --addr 127.0.0.1:PORT, on loopback TCP as well, where callers
present the agent key from its 0600 key file. It reads the first config of
--config, $KAUTH_CONFIG, $XDG_CONFIG_HOME/kauth/kauth.yaml and
/etc/kauth/kauth.yaml; with none it serves the accounts in the environment: <broker>-<env> for every broker whose
credentials are set (%s), for the envs in its variable (%s) or KAUTH_ENV
(default real). With --sim it serves the built-in simulator's demo apps as
<broker>-real and <broker>-mock. Tokens are shared through the store
(KAUTH_STORE) with every other kauth process. SIGHUP reloads the config;
SIGINT or SIGTERM stops.`, strings.Join(brokerStrings(), ", "), strings.Join(envVars(), ", ")))
	config := fs.String("config", "", "YAML config `file` (accounts, listen settings); credentials referenced from it, never in it")
	sim := fs.Bool("sim", false, "serve the built-in simulator's demo apps (no credentials, no network)")
	addr := fs.String("addr", "", "also listen on loopback TCP (127.0.0.1:PORT; port 0 picks one), or move the socket (unix:/path)")
	debug := fs.Bool("debug", false, "log at debug level")
	printSocket := fs.Bool("print-socket", false, "print the path of the unix socket the agent would listen on, and exit")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *printSocket {
		return c.printSocket(*config, *addr)
	}
	if *sim && *config != "" {
		return usageErrorf("serve", "--sim and --config exclude each other")
	}
	if *addr != "" && !strings.HasPrefix(*addr, "unix:") && !strings.HasPrefix(*addr, "/") {
		if _, _, err := net.SplitHostPort(*addr); err != nil {
			return usageErrorf("serve", "--addr %q: want 127.0.0.1:PORT or unix:/path/to/agent.sock", *addr)
		}
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := c.log.newLogger(c.stderr, level, false)

	// Check the configuration first, so that a mistake in it is reported
	// as one (exit 2) rather than as a failure to serve.
	var accounts []string
	var src configSource
	// sayConfig logs where the accounts came from once the agent listens:
	// an agent that cannot listen says so in one line, and nothing else.
	var sayConfig func()
	switch {
	case *sim:
		for _, a := range agentsim.Config("http://127.0.0.1").Accounts {
			accounts = append(accounts, a.Name)
		}
		sayConfig = func() { log.Info("kauth serve: no config file; serving the simulator's demo apps (--sim)") }
	default:
		var cfg agent.Config
		var err error
		if src, cfg, err = c.discoverConfig(*config); err != nil {
			return err
		}
		if src.path == "" {
			if cfg, err = agent.FromEnv(c.getenv); err != nil {
				return &configError{err}
			}
			sayConfig = func() {
				log.Info("kauth serve: no config file; serving the accounts in the environment",
					"looked_in", strings.Join(configCandidates(c.getenv), ", "))
			}
		} else {
			sayConfig = func() { log.Info("kauth serve: config file read", "file", src.path, "from", src.from) }
		}
		accounts = accountNames(cfg)
	}
	opts := agent.Options{Logger: log, Getenv: c.getenv}
	storeName := "memory"
	if !*sim {
		st, err := c.openStore(ctx, log)
		if err != nil {
			return err
		}
		defer st.close()
		opts.Store = st.Store
		opts.RealtimeShare = st.realtime
		storeName = st.name
		if rs, ok := st.Store.(*redis.Store); ok {
			// Every agent on this Redis draws each app key's calls from one
			// budget, so that together they stay under the broker's limit.
			opts.SharedBudget = func(b agent.BudgetSpec) (*budget.Shared, error) {
				return budget.NewShared(budget.Config{Client: rs.Client(), Key: rs.BudgetKey(b.Key),
					PerSecond: b.PerSecond, Burst: b.Burst, LocalShare: b.LocalShare, Logger: log, OnFallback: b.OnFallback})
			}
		}
	}
	d := &agent.Daemon{ConfigFile: src.path, Addr: *addr, Options: opts}
	if *sim {
		d.Sim = agentsim.Start
	}

	// Under systemd (Type=notify), say when the agent is ready, reloading
	// and stopping; elsewhere notify sends nothing.
	notify := sdnotify.New(c.getenv)
	done := make(chan error, 1)
	go func() { done <- serveError(d.Run(ctx)) }()
	select {
	case err := <-done:
		return err
	case <-d.Ready():
	}
	sayConfig()
	c.printEndpoints(d, accounts, storeName)
	if err := notify.Ready(fmt.Sprintf("serving %d accounts", len(accounts))); err != nil {
		log.Warn("kauth serve: telling systemd of readiness failed", "err", err)
	}
	for {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			if err := notify.Stopping(); err != nil {
				log.Warn("kauth serve: telling systemd of the stop failed", "err", err)
			}
			return <-done
		case <-c.hangups:
			if err := notify.Reloading(); err != nil {
				log.Warn("kauth serve: telling systemd of the reload failed", "err", err)
			}
			state := "config reloaded"
			if err := d.Reload(); err != nil {
				log.Error("kauth serve: reload failed; the old config stays in force", "err", err)
				state = "reload failed; the old config stays in force"
			}
			if err := notify.Ready(state); err != nil {
				log.Warn("kauth serve: telling systemd of readiness failed", "err", err)
			}
		}
	}
}

// serveError makes a configuration the agent refused a configuration
// error: exit 2, as the contract says, not 1.
func serveError(err error) error {
	var ce *agent.ConfigError
	if errors.As(err, &ce) {
		return &configError{err}
	}
	return err
}

func accountNames(cfg agent.Config) []string {
	var names []string
	for _, a := range cfg.Accounts {
		names = append(names, a.Name)
	}
	return names
}

// printEndpoints tells the user where the agent listens and how to ask it
// for a token.
func (c *cli) printEndpoints(d *agent.Daemon, accounts []string, store string) {
	ep := d.Endpoints()
	w := c.stdout
	fmt.Fprintf(w, "kauth serve: agent ready\n")
	if ep.Socket != "" {
		fmt.Fprintf(w, "  socket    %s\n", ep.Socket)
	}
	if ep.TCP != "" {
		fmt.Fprintf(w, "  tcp       http://%s (send Authorization: Bearer <the key in %s>)\n", ep.TCP, ep.KeyFile)
	}
	if u := d.SimURL(); u != "" {
		fmt.Fprintf(w, "  sim       %s (built-in simulator: made-up demo apps, virtual clock at /_sim/clock)\n", u)
	}
	for _, name := range accounts {
		if addr := ep.Ports[name]; addr != "" {
			fmt.Fprintf(w, "  port      %s http://%s (the broker at its root, REST and WebSocket; its client key as the secret)\n", name, addr)
		}
	}
	fmt.Fprintf(w, "  accounts  %s\n", strings.Join(accounts, ", "))
	fmt.Fprintf(w, "  store     %s\n", store)
	if len(accounts) > 0 && ep.TCP != "" {
		fmt.Fprintf(w, "  realtime  ws://%s/ws/%s (the broker's WebSocket protocol, one upstream session per app key)\n", ep.TCP, accounts[0])
	}
	if ep.TCP != "" {
		fmt.Fprintf(w, "  status    kauth open (the agent's status page in a browser, through a one-time link)\n")
	}
	if len(accounts) > 0 {
		switch {
		case ep.Socket != "":
			fmt.Fprintf(w, "  try       curl --unix-socket %s http://localhost/v1/accounts/%s/token\n", ep.Socket, accounts[0])
		case ep.TCP != "":
			fmt.Fprintf(w, "  try       curl -H \"Authorization: Bearer $(cat %s)\" http://%s/v1/accounts/%s/token\n", ep.KeyFile, ep.TCP, accounts[0])
		}
	}
}

// printSocket prints the unix socket that kauth serve with config and addr
// listens on, by the rule the agent follows.
func (c *cli) printSocket(config, addr string) error {
	_, cfg, err := c.discoverConfig(config)
	if err != nil {
		return err
	}
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		cfg.Listen.Socket = p
	} else if strings.HasPrefix(addr, "/") {
		cfg.Listen.Socket = addr
	}
	path, err := agent.SocketPath(cfg, c.getenv)
	if err != nil {
		return &configError{err}
	}
	if path == "" {
		return configErrorf("kauth: %s", noSocket(cfg))
	}
	_, err = fmt.Fprintln(c.stdout, path)
	return err
}
