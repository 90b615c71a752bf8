package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/kauth/kauth/agent"
)

func (c *cli) health(ctx context.Context, args []string) error {
	fs := c.flags("health", "kauth health [--addr ADDR] [--timeout DURATION]", `
Ask a running agent (kauth serve) whether it is up: GET /healthz, which needs
no key. It prints the agent's accounts and usable tokens and exits 0 when the
agent answers {"status":"ok"}; otherwise it prints one line saying why and
exits 1. Without --addr it asks the agent of the config kauth serve would
read (KAUTH_CONFIG, $XDG_CONFIG_HOME/kauth/kauth.yaml, /etc/kauth/kauth.yaml)
on its listen.socket, or its listen.tcp where it serves no socket (on
windows); with no config, on the default socket
($XDG_RUNTIME_DIR/kauth/agent.sock, else agent.sock in the cache dir). The
container image runs it as its HEALTHCHECK: it has no shell or curl.`)
	addr := fs.String("addr", "", "the agent's TCP address (HOST:PORT) or socket (unix:/path); default the config's, else the default socket")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *timeout <= 0 {
		return usageErrorf("health", "--timeout %v: want a positive duration such as 5s", *timeout)
	}
	var cfg agent.Config
	if *addr == "" {
		// The agent of the config that kauth serve would read, as the
		// other commands find it: on windows its listen.tcp.
		var err error
		if _, cfg, err = c.discoverConfig(""); err != nil {
			return err
		}
	}
	conn, err := c.dialAgent("health", cfg, *addr, false)
	if err != nil {
		return err
	}
	where := conn.where

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client := conn.client()
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost/healthz", nil)
	if err != nil {
		return err
	}
	// The agent accepts a TCP call only with a local Host (against DNS
	// rebinding), whatever address it listens on: localhost without a
	// port is one.
	req.Host = "localhost"
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("kauth health: no answer from the agent at %s within %v", where, *timeout)
		}
		return fmt.Errorf("kauth health: no agent answers at %s: %v", where, innermost(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("kauth health: reading the answer of %s: %v", where, innermost(err))
	}
	var h struct {
		Status       string `json:"status"`
		Accounts     int    `json:"accounts"`
		TokensUsable int    `json:"tokens_usable"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &h) != nil || h.Status != "ok" {
		return fmt.Errorf("kauth health: %s answered HTTP %d %q, not a healthy agent's {\"status\":\"ok\"}", where, resp.StatusCode, healthClip(body, 200))
	}
	fmt.Fprintf(c.stdout, "ok: %d accounts, %d tokens usable (%s)\n", h.Accounts, h.TokensUsable, where)
	return nil
}

// healthClip returns at most n bytes of b as one line.
func healthClip(b []byte, n int) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
