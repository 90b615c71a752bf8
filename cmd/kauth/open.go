package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
)

// accountList is a flag that may be given more than once.
type accountList []string

func (l *accountList) String() string { return strings.Join(*l, ",") }

func (l *accountList) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		if name = strings.TrimSpace(name); name != "" {
			*l = append(*l, name)
		}
	}
	return nil
}

func (c *cli) open(ctx context.Context, args []string) error {
	fs := c.flags("open", "kauth open [--account NAME]… [--no-browser] [--config FILE] [--addr ADDR]", `
Open the running agent's status page (kauth serve) in a browser: each
account's token life with its refresh-ahead window and margin, today's
issuances, the call budget, the real-time session and the recent token
events, refreshed every few seconds. Read-only; no secret or token is on
it (fingerprints only).

kauth open asks the agent, on its socket or over TCP with the key (found
as kauth token --account finds it), for a one-time link
http://127.0.0.1:PORT/status/login?code=…, prints it, and has the browser
open it (through a 0600 file, so that the code is on no command line),
unless --no-browser. The link works once, within 60 seconds; it gives the
browser a session cookie (HttpOnly, SameSite=Strict, for /status only)
that lasts 12 hours or until the agent restarts or its keys change. The
page shows the accounts the key may see, or only those of --account.

The page needs the agent's loopback TCP listener, since a browser cannot
reach a unix socket: listen.tcp in the config, or kauth serve --addr
127.0.0.1:PORT.`)
	var accounts accountList
	fs.Var(&accounts, "account", "show only this `account` (repeat, or a comma list)")
	noBrowser := fs.Bool("no-browser", false, "print the link only; do not start a browser")
	config := fs.String("config", "", "the agent's YAML config `file`, to find its socket and key file")
	addr := fs.String("addr", "", "the agent's socket (unix:/path) or loopback TCP address (127.0.0.1:PORT)")
	if err := fs.parse(args); err != nil {
		return err
	}
	a, err := c.newAgentClient("open", *config, *addr)
	if err != nil {
		return err
	}
	defer a.close()
	q := url.Values{}
	for _, n := range accounts {
		q.Add("account", n)
	}
	path := "/v1/status/login"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var lr agent.StatusLoginResponse
	if err := a.call(cctx, "POST", path, &lr); err != nil {
		return err
	}
	which := "every account"
	if len(lr.Accounts) > 0 {
		which = strings.Join(lr.Accounts, ", ")
	}
	until := lr.ExpiresAt
	if t, err := time.Parse(time.RFC3339, lr.ExpiresAt); err == nil {
		until = t.In(kauth.KST).Format(time.TimeOnly) + " KST"
	}
	fmt.Fprintf(c.stdout, "kauth open: the status page of the agent at %s (%s):\n\n    %s\n\n", a.conn.where, which, lr.URL)
	fmt.Fprintf(c.stdout, "The link logs one browser in, once, until %s; its session lasts 12 hours.\n", until)
	if *noBrowser {
		return nil
	}
	file, err := writeOpenFile(lr.URL)
	if err == nil {
		browse := c.browser
		if browse == nil {
			browse = systemBrowser
		}
		err = browse(ctx, file)
	}
	if err != nil {
		// The link is printed: the user can open it by hand.
		fmt.Fprintf(c.stderr, "kauth open: could not start a browser (%v); open the link above\n", err)
		return nil
	}
	fmt.Fprintln(c.stdout, "Opening it in your browser.")
	return nil
}

// writeOpenFile writes a page that sends the browser on to the login URL
// u, 0600 in a new 0700 directory, and returns its path. The browser is
// given this path rather than u, so that the one-time code shows on no
// command line (ps shows every user's). The code is worthless once used
// or 60 s old, so the file is left for the system's temporary files.
func writeOpenFile(u string) (string, error) {
	dir, err := os.MkdirTemp("", "kauth-open-")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "status.html")
	if err := os.WriteFile(p, agent.StatusOpenFile(u), 0o600); err != nil {
		return "", err
	}
	return p, nil
}

// systemBrowser opens path with the system's opener for files and URLs,
// and reports its failure if it fails within a few seconds.
func systemBrowser(ctx context.Context, path string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", path)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", path)
	default:
		cmd = exec.Command("xdg-open", path)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(cmd.Path), err)
		}
		return nil
	case <-time.After(5 * time.Second):
		// A browser started in the foreground: it is up.
		return nil
	case <-ctx.Done():
		return nil
	}
}
