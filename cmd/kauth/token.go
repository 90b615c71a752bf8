package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/kis"
)

// tokenJSON is the output of kauth token --json.
type tokenJSON struct {
	AccessToken string       `json:"access_token"`
	TokenType   string       `json:"token_type"`
	ExpiresAt   string       `json:"expires_at"` // RFC 3339 in KST (+09:00)
	Broker      kauth.Broker `json:"broker"`
	Env         kauth.Env    `json:"env"`
}

func (c *cli) token(ctx context.Context, args []string) error {
	fs := c.flags("token", "kauth token (--broker "+brokerAlts()+" --env real|mock | --account NAME [--addr ADDR]) [--json]", `
Print a valid access token. A valid cached token is reused; a token is
issued only when there is none, or when the cached one expires within 30
minutes. Processes that share the store issue once between them.

With --json, print {"access_token","token_type","expires_at","broker","env"},
expires_at in RFC 3339 in Korea Standard Time (+09:00).

With --account NAME, ask the running agent (kauth serve) for the token of
its account NAME instead: no broker credentials needed here. The agent is
reached on --addr (unix:/path, or HOST:PORT with the agent key from its key
file), else on the socket of the config kauth serve would read
(KAUTH_CONFIG, $XDG_CONFIG_HOME/kauth/kauth.yaml, /etc/kauth/kauth.yaml),
else on the default socket.`)
	var t target
	t.register(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of the bare token")
	timeout := timeoutFlag(fs)
	verbose := fs.Bool("v", false, "log token events to stderr")
	account := fs.String("account", "", "ask the running agent for this account's token")
	addr := fs.String("addr", "", "with --account: the agent's socket (unix:/path) or TCP address (HOST:PORT)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *account != "" || *addr != "" {
		switch {
		case *account == "":
			return usageErrorf("token", "--addr needs --account NAME")
		case t.broker != "" || t.env != "":
			return usageErrorf("token", "--account takes the broker and env from the agent's account; drop --broker and --env")
		case *timeout <= 0:
			return usageErrorf("token", "--timeout must be positive, not %v", *timeout)
		}
		return c.tokenFromAgent(ctx, *account, *addr, *asJSON, *timeout)
	}
	b, e, err := fs.parseTarget(args, &t, timeout)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	s, err := c.newAppClient(ctx, b, e, *timeout, *verbose, true)
	if err != nil {
		return err
	}
	defer s.Close()
	tok, err := s.manager.Token(ctx)
	if err != nil {
		return gaveUp(err, *timeout)
	}
	if err := s.store.unkept; err != nil {
		// No store: nothing was reused and nothing is kept, so every run
		// issues (and may meet KIS's once-a-minute limit, EGW00133) until
		// the directory can be written. Say so on every run.
		fmt.Fprintln(c.stderr, errorLine(fmt.Errorf("kauth: %s %s: warning: nothing is cached, so the next run will issue again: %w", b, e, err)))
	} else if err := s.storeFailure(); err != nil {
		// The token is good, but the cache did not keep it (nor the time of
		// the issuance): say so, or the next run issues again unawares and
		// may meet KIS's once-a-minute limit (EGW00133).
		fmt.Fprintln(c.stderr, errorLine(fmt.Errorf("kauth: %s %s: warning: the token could not be cached, so the next run will issue again: %w%s", b, e, err, s.store.storeHint(err))))
	}
	if !*asJSON {
		_, err = fmt.Fprintln(c.stdout, tok.AccessToken)
		return err
	}
	return writeJSON(c.stdout, tokenJSON{
		AccessToken: tok.AccessToken,
		TokenType:   tok.Type,
		ExpiresAt:   tok.ExpiresAt.In(kauth.KST).Format(time.RFC3339),
		Broker:      b,
		Env:         e,
	})
}

// gaveUp says which setting ended a command that ran out of time (or
// whose wait for the broker's issuance spacing would outlast it), so the
// user knows what to raise.
func gaveUp(err error, timeout time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kauth.ErrRateLimited) {
		return fmt.Errorf("%w (gave up after --timeout %v)", err, timeout)
	}
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (c *cli) revoke(ctx context.Context, args []string) error {
	fs := c.flags("revoke", "kauth revoke --broker "+brokerAlts()+" --env real|mock", `
Revoke the cached token at the broker and forget it in the store, so that
the next kauth token issues a new one. Every process sharing the token
loses it: the brokers hand one token to an app key. The broker is called
even when the store cannot be locked or written (a full disk); the command
then exits 1 saying what the store holds.`)
	var t target
	t.register(fs)
	timeout := timeoutFlag(fs)
	verbose := fs.Bool("v", false, "log token events to stderr")
	b, e, err := fs.parseTarget(args, &t, timeout)
	if err != nil {
		return err
	}
	if spec, _ := brokers.Get(b); !canRevoke(spec.New("", nil, nil)) {
		// Nothing is touched: marking the token revoked would only make
		// the next kauth token issue, which kills it for every holder.
		return fmt.Errorf("kauth: %s %s: revoke: %s has no token revoke endpoint; a token lives until it expires or a new one is issued", b, e, spec.Display)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	s, err := c.newAppClient(ctx, b, e, *timeout, *verbose, false)
	if err != nil {
		return err
	}
	defer s.Close()
	entry, err := s.store.Load(ctx, s.creds.Key())
	if err != nil && !errors.Is(err, kauth.ErrNotFound) {
		return fmt.Errorf("kauth: %s %s: revoke: nothing was revoked: the store cannot be read for the token to revoke: %w", b, e, err)
	}
	if entry.Token.AccessToken == "" {
		fmt.Fprintf(c.stdout, "kauth: %s %s: no cached token for app %s; nothing to revoke\n", b, e, s.creds.Fingerprint())
		return nil
	}
	fp := entry.Token.Fingerprint()
	if err := s.manager.Revoke(ctx); err != nil {
		return gaveUp(err, *timeout)
	}
	fmt.Fprintf(c.stdout, "kauth: %s %s: revoked token %s of app %s\n", b, e, fp, s.creds.Fingerprint())
	if serr := s.storeFailure(); serr != nil {
		// Revoked at the broker, and the store is safe, but it did not
		// record all of it: say what it holds now.
		after, lerr := s.store.Load(ctx, s.creds.Key())
		left := "the store's entry may be out of date"
		switch {
		case errors.Is(lerr, kauth.ErrNotFound):
			left = "its entry was removed instead, so the next kauth token issues a new token"
		case lerr == nil && after.Token.Fingerprint() == fp && after.Revoking == fp:
			left = "its entry still holds the token, marked as being revoked, so no process uses it and the next kauth token issues a new one"
		case lerr == nil && after.Token.AccessToken == "" && after.Rejected == fp:
			left = "the revoke is recorded, but it was made without the store's lock"
		}
		return fmt.Errorf("kauth: %s %s: revoke: the broker revoked token %s, but the store could not record it: %s: %w", b, e, fp, left, serr)
	}
	return nil
}

// revokePaths is a broker Provider that names its revoke endpoint, "" for
// a broker that has none (Toss).
type revokePaths interface {
	FacadePaths() (token, revoke string)
}

// canRevoke reports whether p's broker has a revoke endpoint: yes unless
// p says it has none.
func canRevoke(p kauth.Provider) bool {
	rp, ok := p.(revokePaths)
	if !ok {
		return true
	}
	_, revoke := rp.FacadePaths()
	return revoke != ""
}

// kisProvider reads the KIS credentials for the commands that use the app
// key and secret directly (approval, hashkey).
func (c *cli) kisProvider(b kauth.Broker, e kauth.Env, timeout time.Duration) (*kis.Provider, kauth.Credentials, error) {
	creds, err := c.credentials(b, e)
	if err != nil {
		return nil, creds, err
	}
	p, err := c.provider(b, e, timeout)
	if err != nil {
		return nil, creds, err
	}
	return p.(*kis.Provider), creds, nil
}

func (c *cli) approval(ctx context.Context, args []string) error {
	fs := c.flags("approval", "kauth approval [--broker kis] --env real|mock", `
Print a KIS WebSocket approval key (POST /oauth2/Approval), which real-time
subscriptions send as approval_key. The key is cached like a token and
reused while valid (about 24 h), by this command and the agent alike.`)
	t := target{fixed: kauth.KIS}
	t.register(fs)
	timeout := timeoutFlag(fs)
	b, e, err := fs.parseTarget(args, &t, timeout)
	if err != nil {
		return err
	}
	p, creds, err := c.kisProvider(b, e, *timeout)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	st, err := c.openStore(ctx, c.logger(false))
	if err != nil {
		return err
	}
	defer st.close()
	// The approval key is managed like the token: cached encrypted in the
	// same store, shared with the agent and other processes, issued once
	// per validity period.
	m, err := kis.NewApprovalManager(p, kauth.Config{
		Credentials:  creds,
		Store:        st,
		Logger:       c.logger(false),
		RefreshAhead: -1,
		ExpiryMargin: kauth.DefaultRefreshAhead,
		IssueTimeout: *timeout,
	})
	if err != nil {
		return err
	}
	defer m.Close()
	key, err := m.Token(ctx)
	if err != nil {
		return gaveUp(err, *timeout)
	}
	_, err = fmt.Fprintln(c.stdout, key.AccessToken)
	return err
}

// maxBody bounds the order body hashkey reads from stdin.
const maxBody = 1 << 20

func (c *cli) hashkey(ctx context.Context, args []string) error {
	fs := c.flags("hashkey", "kauth hashkey [--broker kis] --env real|mock < body.json", `
Print the KIS hashkey (POST /uapi/hashkey) of the JSON order body read from
stdin; an order sends it in its hashkey header.`)
	t := target{fixed: kauth.KIS}
	t.register(fs)
	timeout := timeoutFlag(fs)
	b, e, err := fs.parseTarget(args, &t, timeout)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(c.stdin, maxBody+1))
	if err != nil {
		return fmt.Errorf("kauth hashkey: reading stdin: %w", err)
	}
	switch {
	case len(body) > maxBody:
		return usageErrorf("hashkey", "the body on stdin is larger than %d bytes", maxBody)
	case len(bytes.TrimSpace(body)) == 0:
		return usageErrorf("hashkey", "no order body on stdin (want the JSON the order will send)")
	case !json.Valid(body):
		return usageErrorf("hashkey", "the body on stdin is not valid JSON")
	}
	p, creds, err := c.kisProvider(b, e, *timeout)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	hash, err := p.HashKey(ctx, creds, body)
	if err != nil {
		return gaveUp(err, *timeout)
	}
	_, err = fmt.Fprintln(c.stdout, hash)
	return err
}
