package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/kauth/kauth"
)

// exitStatus is the status kauth run passes on from the command it ran:
// MainOptions exits with it and prints nothing.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// tokenFailure is a token kauth run could not get before starting the
// command: exit 1 whatever the cause, so that the codes a command may
// exit with itself (2, 3, 4) are not mistaken for kauth's.
type tokenFailure struct{ err error }

func (e *tokenFailure) Error() string { return e.err.Error() }

// Exit codes of kauth run for a command it could not start, as env(1) and
// the shells use them.
const (
	exitCannotExec = 126 // found, but not executable
	exitNotFound   = 127 // no such command
)

// runToken is the token kauth run hands to its command.
type runToken struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresAt   string `json:"expires_at"` // RFC 3339
}

func (c *cli) run(ctx context.Context, args []string) error {
	fs := c.flags("run", "kauth run (--broker "+brokerAlts()+" --env real|mock | --account NAME [--config FILE] [--addr ADDR]) -- CMD [ARG…]", `
Run CMD with a valid access token in its environment: KAUTH_TOKEN (the
token), KAUTH_TOKEN_TYPE (Bearer) and KAUTH_TOKEN_EXPIRES_AT (RFC 3339,
+09:00).

With --broker and --env the token comes from the store, as kauth token gets
it, with at least 30 minutes left. With --account it is the token the
running agent (kauth serve) serves for that account, found as kauth token
--account finds it: --addr (unix:/path, or HOST:PORT with the agent key),
else the socket or listen.tcp of the config (--config, else the one kauth
serve would read), else the default socket.

CMD gets kauth's stdin, stdout, stderr and environment. SIGINT, SIGTERM and
SIGHUP sent to kauth are passed on to CMD (a Ctrl-C at the terminal reaches
CMD once, from the terminal; on Windows, from the console), and kauth exits with CMD's status: 128+N when CMD
dies of signal N, as shells report it. The token is not renewed while CMD
runs: a CMD that outlives KAUTH_TOKEN_EXPIRES_AT should exit before it and
be run again, or ask the agent for the token each time it needs one.

Before CMD starts, an error is one line on stderr: exit 2 for a usage or
configuration error, 1 when no token could be had, 127 when CMD is not
found and 126 when it cannot be executed.`)
	var t target
	t.register(fs)
	account := fs.String("account", "", "take the token of this account from the running agent instead of the store")
	config := fs.String("config", "", "with --account: the agent's YAML config `file`, to find its socket and key file")
	addr := fs.String("addr", "", "with --account: the agent's socket (unix:/path) or loopback TCP address (127.0.0.1:PORT)")
	timeout := timeoutFlag(fs)
	err := fs.FlagSet.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.help(c.stdout)
		return err
	}
	if err != nil {
		return usageErrorf("run", "%v; run kauth run --help", err)
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return usageErrorf("run", "no command given: kauth run [flags] -- CMD [ARG…]")
	}
	if *timeout <= 0 {
		return usageErrorf("run", "--timeout must be positive, not %v", *timeout)
	}
	var tok runToken
	if *account != "" {
		if t.broker != "" || t.env != "" {
			return usageErrorf("run", "--account takes the broker and env from the agent's config; drop --broker and --env")
		}
		tok, err = c.agentToken(ctx, *account, *config, *addr, *timeout)
	} else {
		if *config != "" || *addr != "" {
			return usageErrorf("run", "--config and --addr go with --account")
		}
		b, e, perr := t.parse("run")
		if perr != nil {
			return perr
		}
		tok, err = c.storeToken(ctx, b, e, *timeout)
	}
	if err != nil {
		return err
	}
	return c.runCommand(argv, tok)
}

// storeToken gets b's token at e as kauth token does.
func (c *cli) storeToken(ctx context.Context, b kauth.Broker, e kauth.Env, timeout time.Duration) (runToken, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := c.newAppClient(ctx, b, e, timeout, false, true)
	if err != nil {
		return runToken{}, err
	}
	defer s.Close()
	tok, err := s.manager.Token(ctx)
	if err != nil {
		return runToken{}, &tokenFailure{gaveUp(err, timeout)}
	}
	typ := tok.Type
	if typ == "" {
		typ = "Bearer"
	}
	return runToken{AccessToken: tok.AccessToken, TokenType: typ, ExpiresAt: tok.ExpiresAt.In(kauth.KST).Format(time.RFC3339)}, nil
}

// agentToken asks the running agent for account's token. An agent that
// has no such account is a configuration error (exit 2); any other failure
// to get the token is a token failure (exit 1).
func (c *cli) agentToken(ctx context.Context, account, config, addr string, timeout time.Duration) (runToken, error) {
	a, err := c.newAgentClient("run", config, addr)
	if err != nil {
		return runToken{}, err
	}
	defer a.close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tok, err := a.token(ctx, account)
	var ce *configError
	if errors.As(err, &ce) {
		return runToken{}, err
	}
	if err == nil && tok.AccessToken == "" {
		err = fmt.Errorf("kauth run: account %s: the agent's answer holds no token", account)
	}
	if err != nil {
		return runToken{}, &tokenFailure{err}
	}
	typ := tok.TokenType
	if typ == "" {
		typ = "Bearer"
	}
	return runToken{AccessToken: tok.AccessToken, TokenType: typ, ExpiresAt: tok.ExpiresAt}, nil
}

// runCommand runs argv with tok in its environment, passes on the signals
// kauth receives, and returns CMD's exit status as an exitStatus.
func (c *cli) runCommand(argv []string, tok runToken) error {
	path, err := exec.LookPath(argv[0])
	if err != nil && !errors.Is(err, exec.ErrDot) {
		if errors.Is(err, exec.ErrNotFound) {
			fmt.Fprintln(c.stderr, errorLine(fmt.Errorf("kauth run: %s: command not found", argv[0])))
			return exitStatus(exitNotFound)
		}
		fmt.Fprintln(c.stderr, errorLine(fmt.Errorf("kauth run: %s: %v", argv[0], innermost(err))))
		if errors.Is(err, os.ErrNotExist) {
			// A path that names no file ("/opt/bot", "./bot"): not found,
			// 127, as shells report it.
			return exitStatus(exitNotFound)
		}
		return exitStatus(exitCannotExec)
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.stdin, c.stdout, c.stderr
	cmd.Env = append(withoutTokenVars(c.environ()),
		"KAUTH_TOKEN="+tok.AccessToken,
		"KAUTH_TOKEN_TYPE="+tok.TokenType,
		"KAUTH_TOKEN_EXPIRES_AT="+tok.ExpiresAt)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(c.stderr, errorLine(fmt.Errorf("kauth run: %s: %v", argv[0], innermost(err))))
		if errors.Is(err, os.ErrNotExist) {
			return exitStatus(exitNotFound)
		}
		return exitStatus(exitCannotExec)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-c.signals:
				forwardSignal(cmd.Process, sig)
			case <-done:
				return
			}
		}
	}()
	werr := cmd.Wait()
	close(done)
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return fmt.Errorf("kauth run: waiting for %s: %v", argv[0], werr)
	}
	return exitStatus(commandStatus(cmd.ProcessState))
}

// withoutTokenVars returns env without the variables kauth run sets, so
// that an outer kauth run's token does not shadow this one's.
func withoutTokenVars(env []string) []string {
	out := make([]string, 0, len(env)+3)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "KAUTH_TOKEN", "KAUTH_TOKEN_TYPE", "KAUTH_TOKEN_EXPIRES_AT":
			continue
		}
		out = append(out, kv)
	}
	return out
}
