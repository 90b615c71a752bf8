package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

func (c *cli) sim(ctx context.Context, args []string) error {
	fs := c.flags("sim", "kauth sim [--addr 127.0.0.1:PORT] [-q]", `
Serve the broker simulator: KIS at /kis/real and /kis/mock, Kiwoom at
/kiwoom/real and /kiwoom/mock, its controls under /_sim/ (GET /_sim/stats,
POST /_sim/clock?advance=25h, POST /_sim/fault). It prints the base URLs and
its made-up demo credentials, and also accepts whatever credentials
KIS_APPKEY/KIS_APPSECRET and KIWOOM_APPKEY/KIWOOM_SECRETKEY hold, in both
environments. Point a client at it with, e.g.,
KIS_BASE_URL=http://127.0.0.1:PORT/kis/mock. Runs until interrupted.`)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (port 0 picks a free port, which is printed)")
	quiet := fs.Bool("q", false, "do not log each request to stderr")
	if err := fs.parse(args); err != nil {
		return err
	}
	sim := brokersim.New()
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
	root := "http://" + ln.Addr().String()
	sim.Describe(c.stdout, root)
	fmt.Fprintln(c.stdout)
	return serveUntilDone(ctx, ln, sim)
}

// serveUntilDone serves h on ln until ctx is done, then shuts down
// gracefully.
func serveUntilDone(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("kauth: serving %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		srv.Close()
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// registerEnvApps registers, in both environments, the credentials that
// the environment holds, so that a client configured for the real brokers
// works against the simulator by changing only the base URL.
func (c *cli) registerEnvApps(sim *brokersim.Server) {
	for _, b := range []kauth.Broker{kauth.KIS, kauth.Kiwoom} {
		vars := credentialVars[b]
		key, secret := strings.TrimSpace(c.getenv(vars[0])), strings.TrimSpace(c.getenv(vars[1]))
		if key == "" || secret == "" {
			continue
		}
		for _, e := range []kauth.Env{kauth.Real, kauth.Mock} {
			sim.Register(b, e, key, secret)
		}
	}
}
