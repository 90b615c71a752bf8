package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/agentsim"
)

// rootPort is one environment served at the root of a port of its own.
type rootPort struct {
	broker kauth.Broker
	env    kauth.Env
	addr   *string
	ln     net.Listener
}

func (c *cli) sim(ctx context.Context, args []string) error {
	fs := c.flags("sim", "kauth sim [--addr 127.0.0.1:PORT] [--BROKER-real ADDR] [--BROKER-mock ADDR] … [--BROKER-reissue MODE] … [-q]", simAbout())
	addr := fs.String("addr", "127.0.0.1:0", "listen address (port 0 picks a free port, which is printed)")
	sim := agentsim.New()
	var ports []*rootPort
	reissue := map[kauth.Broker]*string{}
	for _, spec := range brokers.All() {
		for _, e := range []kauth.Env{kauth.Real, kauth.Mock} {
			if e == kauth.Mock && spec.MockURL == "" {
				continue // no paper trading (Toss): no --toss-mock
			}
			p := &rootPort{broker: spec.Name, env: e}
			p.addr = fs.String(string(p.broker)+"-"+string(p.env), "", "also serve "+string(p.broker)+" "+string(p.env)+" at the root of this address")
			ports = append(ports, p)
		}
		reissue[spec.Name] = fs.String(string(spec.Name)+"-reissue", sim.Reissue(spec.Name).String(), spec.Display+"'s answer to a re-issue while a token is valid: same, new-keep-old or new-revoke-old")
	}
	quiet := fs.Bool("q", false, "do not log each request to stderr")
	if err := fs.parse(args); err != nil {
		return err
	}
	for b, v := range reissue {
		m, err := brokersim.ParseReissueMode(*v)
		if err != nil {
			return usageErrorf("sim", "--%s-reissue %q: want same, new-keep-old or new-revoke-old", b, *v)
		}
		sim.SetReissue(b, m)
	}
	c.registerEnvApps(sim)
	if !*quiet {
		log := &syncWriter{w: c.stderr}
		sim.Logf = func(format string, args ...any) {
			fmt.Fprintf(log, time.Now().Format("15:04:05.000 ")+strings.TrimSuffix(format, "\n")+"\n", args...)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return configErrorf("kauth sim: %v", err)
	}
	servers := []served{{ln, sim}}
	defer func() {
		for _, s := range servers {
			s.ln.Close()
		}
	}()
	for _, p := range ports {
		if *p.addr == "" {
			continue
		}
		if p.ln, err = net.Listen("tcp", *p.addr); err != nil {
			return configErrorf("kauth sim: --%s-%s: %v", p.broker, p.env, err)
		}
		servers = append(servers, served{p.ln, sim.Handler(p.broker, p.env)})
	}
	root := "http://" + ln.Addr().String()
	sim.Describe(c.stdout, root)
	if len(servers) > 1 {
		fmt.Fprintf(c.stdout, "\nroot ports (for clients that join absolute paths onto a domain):\n")
		for _, p := range ports {
			if p.ln != nil {
				fmt.Fprintf(c.stdout, "  %-6s %-4s  http://%s\n", p.broker, p.env, p.ln.Addr())
			}
		}
	}
	fmt.Fprintln(c.stdout)
	return serveAllUntilDone(ctx, servers)
}

// served is one listener and what it serves.
type served struct {
	ln net.Listener
	h  http.Handler
}

// serveAllUntilDone serves every listener until ctx is done or one of them
// fails, then shuts them all down gracefully.
func serveAllUntilDone(ctx context.Context, list []served) error {
	srvs := make([]*http.Server, len(list))
	done := make(chan error, len(list))
	for i, s := range list {
		srvs[i] = &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			err := srvs[i].Serve(s.ln)
			if !errors.Is(err, http.ErrServerClosed) {
				err = fmt.Errorf("kauth: serving %s: %w", s.ln.Addr(), err)
			}
			done <- err
		}()
	}
	var first error
	select {
	case first = <-done:
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range srvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(shutdown); err != nil {
				srv.Close()
			}
		}()
	}
	wg.Wait()
	remaining := len(list)
	if first != nil {
		remaining--
	}
	for ; remaining > 0; remaining-- {
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) && first == nil {
			first = err
		}
	}
	if errors.Is(first, http.ErrServerClosed) {
		return nil
	}
	return first
}

// registerEnvApps registers, in both environments, the credentials that
// the environment holds, so that a client configured for the real brokers
// works against the simulator by changing only the base URL.
func (c *cli) registerEnvApps(sim *brokersim.Server) {
	for _, b := range brokers.Names() {
		vars := credentialVars(b)
		key, secret := strings.TrimSpace(c.getenv(vars[0])), strings.TrimSpace(c.getenv(vars[1]))
		if key == "" || secret == "" {
			continue
		}
		for _, e := range []kauth.Env{kauth.Real, kauth.Mock} {
			sim.Register(b, e, key, secret)
		}
	}
}

// simAbout is kauth sim's help, naming every listed broker.
func simAbout() string {
	var paths, creds, ports, reissues []string
	for _, s := range brokers.All() {
		n := string(s.Name)
		paths = append(paths, s.Display+" at /"+n+"/real and /"+n+"/mock")
		creds = append(creds, s.KeyVar+"/"+s.SecretVar)
		ports = append(ports, "--"+n+"-real", "--"+n+"-mock")
		reissues = append(reissues, "--"+n+"-reissue")
	}
	return reflow(fmt.Sprintf(`
Serve the broker simulator: every listed broker at /BROKER/ENV (%s), its
controls under /_sim/ (GET /_sim/stats, POST /_sim/clock?advance=25h, POST
/_sim/fault, POST /_sim/reissue). It prints the base URLs and its made-up
demo credentials, and also accepts whatever credentials the brokers'
variables hold (%s), in both environments. Point a client at it with, e.g.,
KIS_BASE_URL=http://127.0.0.1:PORT/kis/mock.

%s also serve that environment at the root of a port of its own (e.g.
--kis-mock 127.0.0.1:29443), for clients that join absolute paths onto a
domain, as pykis does; the controls and the broker's WebSocket (KIS at
any path, Kiwoom at /api/dostk/websocket) are served there too. Every address
shares one simulator: the same apps, tokens, clock and counters.

%s set what the broker answers to a re-issue while a token is valid: same
(the default for KIS, within 6 h, and Kiwoom, while valid), new-keep-old (a
new token, the old one still valid) or new-revoke-old (a new token that
invalidates the old one; the default for LS and DB). Runs until
interrupted.`, strings.Join(paths, ", "), strings.Join(creds, ", "), strings.Join(ports, ", "), strings.Join(reissues, ", ")))
}

// reflow fills each paragraph of s (separated by blank lines) to lines of
// at most 76 characters.
func reflow(s string) string {
	var out []string
	for _, para := range strings.Split(strings.TrimSpace(s), "\n\n") {
		var lines []string
		line := ""
		for _, w := range strings.Fields(para) {
			if line != "" && len(line)+1+len(w) > 76 {
				lines = append(lines, line)
				line = ""
			}
			if line != "" {
				line += " "
			}
			line += w
		}
		out = append(out, strings.Join(append(lines, line), "\n"))
	}
	return "\n" + strings.Join(out, "\n\n")
}
