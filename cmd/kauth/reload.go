package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

func (c *cli) reload(ctx context.Context, args []string) error {
	fs := c.flags("reload", "kauth reload [--config FILE] [--addr ADDR]", `
Ask the running agent (kauth serve) to re-read its config and apply it
without dropping tokens, as SIGHUP does, on every OS. A config it refuses
leaves the running one in force and is reported here (exit 2).

The agent is reached on its unix socket: the one in the config's
listen.socket (--config, else the file kauth serve would read), else the default (kauth serve --print-socket). With --addr
HOST:PORT it is reached over TCP with the agent key from its key file
(listen.key_file, else the default in the cache directory).`)
	config := fs.String("config", "", "the agent's YAML config `file`, to find its socket and key file")
	addr := fs.String("addr", "", "the agent's socket (unix:/path) or loopback TCP address (127.0.0.1:PORT)")
	if err := fs.parse(args); err != nil {
		return err
	}
	// The config kauth serve would read names the socket and key file.
	_, cfg, err := c.discoverConfig(*config)
	if err != nil {
		return err
	}
	conn, err := c.dialAgent("reload", cfg, *addr, true)
	if err != nil {
		return err
	}
	where := conn.where
	client := conn.client()
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://localhost/v1/reload", nil)
	if err != nil {
		return err
	}
	if conn.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+conn.bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("kauth reload: no agent answers on %s (is kauth serve running?): %v", where, innermost(err))
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
