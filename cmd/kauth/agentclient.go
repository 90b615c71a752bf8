package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
)

// agentClient asks a running agent (kauth serve) for what it serves, so
// that a command needs no broker credentials of its own.
type agentClient struct {
	cmd  string // the command, for messages
	conn agentConn
	http *http.Client
}

// newAgentClient finds the agent that addr names (unix:/path, /path or
// HOST:PORT), else the one whose socket (or listen.tcp) the config names:
// config if set, else the one kauth serve would discover (KAUTH_CONFIG,
// XDG_CONFIG_HOME, /etc), else the default socket. Over TCP it sends the
// agent key.
func (c *cli) newAgentClient(cmd, config, addr string) (*agentClient, error) {
	_, cfg, err := c.discoverConfig(config)
	if err != nil {
		return nil, err
	}
	conn, err := c.dialAgent(cmd, cfg, addr, true)
	if err != nil {
		return nil, err
	}
	return &agentClient{cmd: cmd, conn: conn, http: conn.client()}, nil
}

func (a *agentClient) close() { a.http.CloseIdleConnections() }

// get fetches path into v. A failure is one line naming the agent; the
// agent's error code decides the exit code (credentials 3, broker
// unavailable or rate limited 4, no such account 2).
func (a *agentClient) get(ctx context.Context, path string, v any) error {
	return a.call(ctx, http.MethodGet, path, v)
}

// call sends a request with no body to path and decodes the answer into
// v, as get does.
func (a *agentClient) call(ctx context.Context, method, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://localhost"+path, nil)
	if err != nil {
		return err
	}
	// Over TCP the agent wants a local Host (against DNS rebinding).
	req.Host = "localhost"
	if a.conn.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+a.conn.bearer)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("kauth %s: no answer from the agent at %s in time: %w", a.cmd, a.conn.where, context.DeadlineExceeded)
		}
		return fmt.Errorf("kauth %s: no agent answers at %s (is kauth serve running?): %v", a.cmd, a.conn.where, innermost(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("kauth %s: reading the answer of the agent at %s: %v", a.cmd, a.conn.where, innermost(err))
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("kauth %s: the agent at %s answered %s with no JSON: %v", a.cmd, a.conn.where, path, err)
		}
		return nil
	}
	var e struct{ Error, Code string }
	if json.Unmarshal(body, &e) != nil || e.Code == "" {
		return fmt.Errorf("kauth %s: the agent at %s answered HTTP %d %q", a.cmd, a.conn.where, resp.StatusCode, healthClip(body, 200))
	}
	msg := fmt.Errorf("kauth %s: the agent at %s: %s (%s)", a.cmd, a.conn.where, e.Error, e.Code)
	switch e.Code {
	case "not_found", "forbidden_account", "unauthenticated", "no_tcp":
		return &configError{msg}
	case "credentials":
		return fmt.Errorf("%w: %w", msg, kauth.ErrCredentials)
	case "rate_limited":
		return fmt.Errorf("%w: %w", msg, kauth.ErrRateLimited)
	case "unavailable", "timeout":
		return fmt.Errorf("%w: %w", msg, kauth.ErrUnavailable)
	}
	return msg
}

// token asks the agent for account's token.
func (a *agentClient) token(ctx context.Context, account string) (agent.TokenResponse, error) {
	var tok agent.TokenResponse
	err := a.get(ctx, "/v1/accounts/"+url.PathEscape(account)+"/token", &tok)
	return tok, err
}

// accounts lists the agent's accounts, or only account if it is not "".
func (a *agentClient) accounts(ctx context.Context, account string) ([]agent.AccountInfo, error) {
	if account != "" {
		var in agent.AccountInfo
		err := a.get(ctx, "/v1/accounts/"+url.PathEscape(account), &in)
		return []agent.AccountInfo{in}, err
	}
	var list struct {
		Accounts []agent.AccountInfo `json:"accounts"`
	}
	err := a.get(ctx, "/v1/accounts", &list)
	return list.Accounts, err
}

// tokenFromAgent is kauth token --account: the token of the agent's
// account, printed bare or as JSON.
func (c *cli) tokenFromAgent(ctx context.Context, account, addr string, asJSON bool, timeout time.Duration) error {
	a, err := c.newAgentClient("token", "", addr)
	if err != nil {
		return err
	}
	defer a.close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tok, err := a.token(ctx, account)
	if err != nil {
		return err
	}
	if !asJSON {
		_, err = fmt.Fprintln(c.stdout, tok.AccessToken)
		return err
	}
	return writeJSON(c.stdout, tok)
}

// statusFromAgent is kauth status --agent or --account: what the running
// agent serves, by fingerprints only.
func (c *cli) statusFromAgent(ctx context.Context, account, addr string, asJSON bool) error {
	a, err := c.newAgentClient("status", "", addr)
	if err != nil {
		return err
	}
	defer a.close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	accts, err := a.accounts(ctx, account)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(c.stdout, map[string]any{"agent": a.conn.where, "accounts": accts})
	}
	fmt.Fprintf(c.stdout, "agent: %s\n", a.conn.where)
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "ACCOUNT\tBROKER\tENV\tAPP\tTOKEN\tSTATE\tEXPIRES (KST)\tLEFT")
	for _, in := range accts {
		tok, exp, left := in.Token, "-", "-"
		if tok == "" {
			tok = "-"
		}
		if t, err := time.Parse(time.RFC3339, in.ExpiresAt); err == nil {
			exp = t.In(kauth.KST).Format(time.DateTime)
			left = humanLeft(time.Duration(in.ExpiresIn) * time.Second)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.Name, in.Broker, in.Env, in.App, tok, in.TokenState, exp, left)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Below, each account's issuance history, as kauth status shows the
	// store's (the agent reads it from its store).
	fmt.Fprintln(c.stdout)
	tw = newTable(c.stdout)
	fmt.Fprintln(tw, "ACCOUNT\t"+historyHeader)
	for _, in := range accts {
		fmt.Fprintf(tw, "%s\t%s\n", in.Name, historyCells(in.IssuedToday, in.SameToday, in.FailedToday, in.LastIssue, in.LastFailure, in.NextIssue))
	}
	return tw.Flush()
}
