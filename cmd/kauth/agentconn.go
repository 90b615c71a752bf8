package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/kauth/kauth/agent"
)

// agentConn is how a command reaches a running agent (kauth serve): its
// unix socket, or its TCP address with the agent key.
type agentConn struct {
	network, address string
	// where names the agent in messages: unix:/path or HOST:PORT.
	where string
	// bearer is the agent key, sent over TCP when the call needs it.
	bearer string
}

// dialAgent finds the agent that cfg and addr point at: addr (unix:/path,
// /path or HOST:PORT) if set, else cfg's socket, else the default one.
// With key, a TCP agent's key is read from cfg's key file or the default.
func (c *cli) dialAgent(cmd string, cfg agent.Config, addr string, key bool) (agentConn, error) {
	switch {
	case strings.HasPrefix(addr, "unix:"):
		cfg.Listen.Socket = strings.TrimPrefix(addr, "unix:")
	case strings.HasPrefix(addr, "/"):
		cfg.Listen.Socket = addr
	case addr != "":
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			return agentConn{}, usageErrorf(cmd, "--addr %q: want HOST:PORT or unix:/path/to/agent.sock", addr)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			// A typo, not an agent that is away: a usage error, as
			// kauth serve --addr says of the same address.
			return agentConn{}, usageErrorf(cmd, "--addr %q: the port must be a number from 0 to 65535", addr)
		}
		conn := agentConn{network: "tcp", address: addr, where: addr}
		if key {
			path := cfg.Listen.KeyFile
			if path == "" {
				p, err := agent.DefaultKeyFile(c.getenv)
				if err != nil {
					return agentConn{}, &configError{err}
				}
				path = p
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return agentConn{}, configErrorf("kauth %s: reading the agent key: %v", cmd, innermost(err))
			}
			conn.bearer = strings.TrimSpace(string(b))
		}
		return conn, nil
	}
	sock, err := agent.SocketPath(cfg, c.getenv)
	if err != nil {
		return agentConn{}, &configError{err}
	}
	if sock == "" {
		if cfg.Listen.TCP != "" {
			return c.dialAgent(cmd, cfg, cfg.Listen.TCP, key)
		}
		return agentConn{}, configErrorf("kauth %s: %s; use --addr HOST:PORT", cmd, noSocket(cfg))
	}
	return agentConn{network: "unix", address: sock, where: "unix:" + sock}, nil
}

// client returns an HTTP client that reaches the agent whatever the URL's
// host: requests go to http://localhost/…, the Host the agent accepts on
// TCP too (against DNS rebinding), never through an HTTP proxy, and never
// follow a redirect.
func (a agentConn) client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, a.network, a.address)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// innermost is the innermost error of a failed call, which says what went
// wrong (connection refused, no such file) without the URL around it.
func innermost(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// noSocket says why cfg serves no unix socket.
func noSocket(cfg agent.Config) string {
	if cfg.Listen.Socket == agent.SocketOff {
		return "the config turns the socket off (listen.socket: off)"
	}
	return "on windows the agent serves no unix socket, only loopback TCP with its key (listen.tcp)"
}
