package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/kauth/kauth/agent/internal/config"
)

// Daemon is the agent as `kauth serve` runs it: it picks the config (a
// file, the environment, or the built-in simulator), serves it until its
// context is done or Close is called, re-reads it on Reload, and shuts down
// gracefully. End-to-end tests start the real thing in-process with it.
//
// A command wires it up like this:
//
//	d := &agent.Daemon{ConfigFile: *config, Sim: *sim, Addr: *addr, Options: agent.Options{Store: store}}
//	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	hup := make(chan os.Signal, 1)
//	signal.Notify(hup, syscall.SIGHUP)
//	go func() {
//		for range hup {
//			if err := d.Reload(); err != nil {
//				log.Print(err) // the old config stays in force
//			}
//		}
//	}()
//	return d.Run(ctx)
type Daemon struct {
	// ConfigFile is the YAML config to serve. Empty means the accounts in
	// the environment (see FromEnv), unless Sim is set.
	ConfigFile string
	// Sim, if set, starts a broker simulator whose accounts are served
	// instead of the config file or the environment (`kauth serve --sim`
	// passes an in-process simulator with its demo apps). It returns the
	// accounts' config, the simulator's root URL (see SimURL) and a
	// function that stops it, which Run calls on its way out. Tokens then
	// live in memory only, whatever Options.Store says: they mean nothing
	// to another simulator. Sim and ConfigFile exclude each other.
	Sim func(log *slog.Logger) (cfg Config, url string, stop func(), err error)
	// Addr overrides where the agent listens: "127.0.0.1:PORT" (or
	// "localhost:PORT") adds a TCP listener; "unix:PATH" or an absolute
	// path moves the unix socket.
	Addr string
	// Options are passed to New.
	Options Options

	mu      sync.Mutex
	agent   *Agent
	cancel  context.CancelFunc
	done    chan struct{}
	ready   chan struct{}
	simURL  string
	started bool
}

// Run loads the config, starts the agent (and the simulator, with Sim) and
// serves until ctx is done or Close is called; then it shuts down: no new
// connections, requests in flight finish (up to the shutdown timeout),
// keepers stop, tokens are revoked if revoke_on_shutdown, and the Managers
// close. It returns nil after such a stop, or the error that prevented
// serving. Run may be called once.
func (d *Daemon) Run(ctx context.Context) (err error) {
	d.mu.Lock()
	if d.started {
		d.mu.Unlock()
		return errors.New("agent: Daemon.Run called twice")
	}
	d.started = true
	ctx, d.cancel = context.WithCancel(ctx)
	d.done = make(chan struct{})
	d.initReady()
	d.mu.Unlock()
	defer close(d.done)
	defer d.cancel()

	if d.Sim != nil && d.ConfigFile != "" {
		return errors.New("agent: use either a config file or the simulator, not both")
	}
	opts := d.Options
	if opts.Reload == nil {
		opts.Reload = d.Reload
	}
	var cfg Config
	if d.Sim != nil {
		var url string
		var stop func()
		if cfg, url, stop, err = d.Sim(opts.Logger); err != nil {
			return fmt.Errorf("agent: starting the simulator: %w", err)
		}
		defer stop()
		d.mu.Lock()
		d.simURL = url
		d.mu.Unlock()
		opts.Store = nil
	} else if cfg, err = d.load(); err != nil {
		return err
	}
	cfg, err = applyAddr(cfg, d.Addr)
	if err != nil {
		return err
	}
	// Listen before New starts the keepers: an agent that cannot listen
	// must fail before it issues anything.
	lns, ep, err := openListeners(cfg, opts.Getenv)
	if err != nil {
		return err
	}
	ports, err := openPorts(cfg)
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		return err
	}
	a, err := New(cfg, opts)
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		for _, p := range ports {
			p.ln.Close()
		}
		return err
	}
	d.mu.Lock()
	d.agent = a
	d.mu.Unlock()
	go func() {
		select {
		case <-a.Ready():
			close(d.ready)
		case <-ctx.Done():
		}
	}()
	serveErr := a.serveListeners(ctx, lns, ports, ep)
	return errors.Join(serveErr, a.Close())
}

func (d *Daemon) initReady() {
	if d.ready == nil {
		d.ready = make(chan struct{})
	}
}

// load reads the config file, or the environment without one.
func (d *Daemon) load() (Config, error) {
	if d.ConfigFile != "" {
		return LoadConfig(d.ConfigFile)
	}
	return FromEnv(d.Options.Getenv)
}

// Reload re-reads the config (the file, or the environment) and applies it
// without dropping tokens (see Agent.Reload). With Sim there is nothing to
// re-read. On error the running config stays in force. Commands call it on
// SIGHUP.
func (d *Daemon) Reload() error {
	d.mu.Lock()
	a := d.agent
	d.mu.Unlock()
	if a == nil {
		return errors.New("agent: not running")
	}
	if d.Sim != nil {
		return nil
	}
	cfg, err := d.load()
	if err != nil {
		return err
	}
	if cfg, err = applyAddr(cfg, d.Addr); err != nil {
		return err
	}
	if err := a.Reload(cfg); err != nil {
		return err
	}
	a.log.Info("agent: config reloaded", "accounts", len(cfg.Accounts))
	return nil
}

// Ready is closed once the daemon is listening.
func (d *Daemon) Ready() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initReady()
	return d.ready
}

// Endpoints says where the daemon listens. It is valid once Ready is
// closed.
func (d *Daemon) Endpoints() Endpoints {
	<-d.Ready()
	d.mu.Lock()
	a := d.agent
	d.mu.Unlock()
	return a.Endpoints()
}

// Agent returns the running agent, or nil before Run has built it.
func (d *Daemon) Agent() *Agent {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.agent
}

// SimURL returns the root URL of the simulator when Sim is set, as Sim
// returned it, once Ready is closed.
func (d *Daemon) SimURL() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.simURL
}

// Close stops a running daemon as if Run's context were done, and waits
// for Run to return.
func (d *Daemon) Close() error {
	d.mu.Lock()
	cancel, done := d.cancel, d.done
	d.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	return nil
}

// applyAddr applies a Daemon.Addr override to cfg.
func applyAddr(cfg Config, addr string) (Config, error) {
	switch {
	case addr == "":
	case strings.HasPrefix(addr, "unix:"):
		cfg.Listen.Socket = strings.TrimPrefix(addr, "unix:")
	case strings.HasPrefix(addr, "/"):
		cfg.Listen.Socket = addr
	default:
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return cfg, &ConfigError{Err: fmt.Errorf("agent: address %q: want 127.0.0.1:PORT or unix:/path/to/agent.sock", addr)}
		}
		cfg.Listen.TCP = addr
	}
	if err := config.CheckTCPAddr(cfg.Listen.TCP, cfg.Listen.AllowNonLoopback); err != nil {
		return cfg, &ConfigError{Err: err}
	}
	if err := config.CheckSocketPath(cfg.Listen.Socket); err != nil {
		return cfg, &ConfigError{Err: err}
	}
	return cfg, nil
}
