package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/kauth/kauth/agent"
)

func (c *cli) reload(ctx context.Context, args []string) error {
	fs := c.flags("reload", "kauth reload [--config FILE] [--addr ADDR]", `
Ask the running agent (kauth serve) to re-read its config and apply it
without dropping tokens, as SIGHUP does, on every OS. A config it refuses
leaves the running one in force and is reported here (exit 2).

The agent is reached on its unix socket: the one in --config's
listen.socket, else the default (kauth serve --print-socket). With --addr
HOST:PORT it is reached over TCP with the agent key from its key file
(listen.key_file, else the default in the cache directory).`)
	config := fs.String("config", "", "the agent's YAML config `file`, to find its socket and key file")
	addr := fs.String("addr", "", "the agent's socket (unix:/path) or loopback TCP address (127.0.0.1:PORT)")
	if err := fs.parse(args); err != nil {
		return err
	}
	var cfg agent.Config
	if *config != "" {
		var err error
		if cfg, err = agent.LoadConfig(*config); err != nil {
			return &configError{err}
		}
	}
	client, base, where, err := c.agentClient(cfg, *addr)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/reload", nil)
	if err != nil {
		return err
	}
	if tok := client.bearer; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("kauth reload: no agent answers on %s (is kauth serve running?): %v", where, rootCause(err))
	}
	defer resp.Body.Close()
	var body struct {
		Accounts int    `json:"accounts"`
		Error    string `json:"error"`
		Code     string `json:"code"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	switch {
	case resp.StatusCode == http.StatusOK:
		_, err := fmt.Fprintf(c.stdout, "kauth reload: the agent on %s reloaded its config: %d accounts\n", where, body.Accounts)
		return err
	case resp.StatusCode == http.StatusBadRequest && body.Code == "bad_config":
		return configErrorf("kauth reload: the agent refused the config and keeps the one in force: %s", body.Error)
	default:
		return fmt.Errorf("kauth reload: the agent on %s answered %d %s: %s", where, resp.StatusCode, body.Code, body.Error)
	}
}

// agentHTTP is an HTTP client of the agent, with the bearer key that TCP
// needs.
type agentHTTP struct {
	*http.Client
	bearer string
}

// agentClient returns a client of the agent that cfg and addr point at,
// the base URL of its requests and where it is, for messages.
func (c *cli) agentClient(cfg agent.Config, addr string) (*agentHTTP, string, string, error) {
	if addr != "" && !strings.HasPrefix(addr, "unix:") && !strings.HasPrefix(addr, "/") {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, "", "", usageErrorf("reload", "--addr %q: want 127.0.0.1:PORT or unix:/path/to/agent.sock", addr)
		}
		path := cfg.Listen.KeyFile
		if path == "" {
			p, err := agent.DefaultKeyFile(c.getenv)
			if err != nil {
				return nil, "", "", &configError{err}
			}
			path = p
		}
		key, err := os.ReadFile(path)
		if err != nil {
			return nil, "", "", configErrorf("kauth reload: reading the agent key: %v", rootCause(err))
		}
		return &agentHTTP{Client: &http.Client{}, bearer: strings.TrimSpace(string(key))}, "http://" + addr, addr, nil
	}
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		cfg.Listen.Socket = p
	} else if addr != "" {
		cfg.Listen.Socket = addr
	}
	sock, err := agent.SocketPath(cfg, c.getenv)
	if err != nil {
		return nil, "", "", &configError{err}
	}
	if sock == "" {
		return nil, "", "", configErrorf("kauth reload: the config turns the socket off; use --addr HOST:PORT")
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}
	return &agentHTTP{Client: &http.Client{Transport: tr}}, "http://localhost", sock, nil
}

// rootCause is the innermost error's text, without the layers that repeat
// the request ("Post \"http://localhost/v1/reload\": dial unix …").
func rootCause(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
