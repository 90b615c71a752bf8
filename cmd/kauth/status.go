package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/krx"
)

// statusJSON is the output of kauth status --json.
type statusJSON struct {
	Store  string            `json:"store"`
	Tokens []tokenStatusJSON `json:"tokens"`
}

// tokenStatusJSON describes one cached token. It names the app key and the
// token by their fingerprints only.
type tokenStatusJSON struct {
	Broker      kauth.Broker `json:"broker"`
	Env         kauth.Env    `json:"env"`
	App         string       `json:"app"`             // the app key's fingerprint
	Token       string       `json:"token,omitempty"` // the token's fingerprint
	State       string       `json:"state"`           // valid, expired, revoked, none
	IssuedAt    string       `json:"issued_at,omitempty"`
	ExpiresAt   string       `json:"expires_at,omitempty"` // RFC 3339, KST
	ExpiresLoc  string       `json:"expires_local,omitempty"`
	SecondsLeft int64        `json:"seconds_left"`
	// NextTurnover is when the token turns over in the turnover window
	// (--turnover), if its next refresh is one: RFC 3339, KST.
	NextTurnover string `json:"next_turnover,omitempty"`
	// The app key's issuances, by every process sharing the store: how
	// many today (KST day), how many of them handed back the token
	// already held, how many failed.
	IssuedToday int `json:"issued_today"`
	SameToday   int `json:"same_today"`
	FailedToday int `json:"failed_today"`
	// LastIssue is the last issuance that handed out a token,
	// LastFailure the last that failed, if any.
	LastIssue   *agent.IssueInfo `json:"last_issue,omitempty"`
	LastFailure *agent.IssueInfo `json:"last_failure,omitempty"`
	// NextIssue is when the next issuance is allowed (the broker's
	// spacing after the last attempt, or its rate limit): RFC 3339, KST;
	// absent when it is allowed now.
	NextIssue string `json:"next_issue,omitempty"`
}

// history fills in t's issuance history from e, for a broker whose
// issuance spacing is spacing.
func (t *tokenStatusJSON) history(e kauth.Entry, spacing time.Duration, now time.Time) {
	h := e.History
	t.IssuedToday, t.SameToday, t.FailedToday = h.Today(now)
	t.LastIssue, t.LastFailure = agent.IssueInfoOf(h.LastIssue), agent.IssueInfoOf(h.LastFailure)
	next := e.LastIssue.Add(spacing)
	if e.RetryAt.After(next) {
		next = e.RetryAt
	}
	if !e.LastIssue.IsZero() && next.After(now) || e.RetryAt.After(now) {
		t.NextIssue = next.In(kauth.KST).Format(time.RFC3339)
	}
}

func (c *cli) status(ctx context.Context, args []string) error {
	fs := c.flags("status", "kauth status [--json] [--turnover HH:MM-HH:MM] [--krx-holidays FILE] [--agent | --account NAME] [--addr ADDR]", `
List the cached tokens: broker, env, the app key's fingerprint (never the
key), the token's fingerprint, when it was issued and expires (KST and local
time), and the time left. With a turnover window (--turnover, or
KAUTH_TURNOVER), also when each token turns over in it, as a program or
agent with that window does. With --agent, list instead the accounts of the
running agent (kauth serve), their tokens' states and issuance histories; with
--account NAME, only that one. The agent is found as kauth token --account
finds it.`)
	asJSON := fs.Bool("json", false, "print JSON")
	verbose := fs.Bool("v", false, "log store problems to stderr")
	window := fs.String("turnover", c.getenv("KAUTH_TURNOVER"), "the turnover window, HH:MM-HH:MM KST (default $KAUTH_TURNOVER)")
	holidays := fs.String("krx-holidays", c.getenv(krx.HolidaysEnv), "a KRX holiday file replacing the shipped one (default $"+krx.HolidaysEnv+")")
	fromAgent := fs.Bool("agent", false, "list the accounts of the running agent (kauth serve) instead of the store")
	account := fs.String("account", "", "show this account of the running agent (implies --agent)")
	addr := fs.String("addr", "", "the agent's socket (unix:/path) or TCP address (HOST:PORT, with the agent key); default: its default socket")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *fromAgent || *account != "" || *addr != "" {
		return c.statusFromAgent(ctx, *account, *addr, *asJSON)
	}
	turn, err := c.turnover(*window, *holidays)
	if err != nil {
		return err
	}
	out := statusJSON{Tokens: []tokenStatusJSON{}}
	entries, name, err := c.cachedEntries(ctx, *verbose)
	if err != nil {
		return err
	}
	out.Store = name
	now := time.Now()
	for _, ke := range entries {
		t := describe(ke.key, ke.entry, now)
		t.history(ke.entry, kauth.MinIssueInterval(brokers.MustGet(ke.key.Broker).New("", nil, nil)), now)
		if turn != nil && t.State == "valid" {
			cfg := kauth.Config{Provider: brokers.MustGet(ke.key.Broker).New("", nil, nil), Turnover: turn}
			if at, ok := kauth.PlanRefresh(cfg, ke.entry.Token, now); ok {
				t.NextTurnover = at.In(kauth.KST).Format(time.RFC3339)
			}
		}
		out.Tokens = append(out.Tokens, t)
	}
	if *asJSON {
		return writeJSON(c.stdout, out)
	}
	fmt.Fprintf(c.stdout, "store: %s\n", out.Store)
	if len(out.Tokens) == 0 {
		fmt.Fprintln(c.stdout, "no cached tokens")
		return nil
	}
	zone, _ := now.Zone()
	tw := newTable(c.stdout)
	fmt.Fprintf(tw, "BROKER\tENV\tAPP\tTOKEN\tSTATE\tISSUED (KST)\tEXPIRES (KST)\tEXPIRES (%s)\tLEFT", zone)
	if turn != nil {
		fmt.Fprint(tw, "\tTURNOVER (KST)")
	}
	fmt.Fprintln(tw)
	for _, t := range out.Tokens {
		issued, expKST, expLoc, left := "-", "-", "-", "-"
		if t.IssuedAt != "" {
			issued = mustParse(t.IssuedAt).In(kauth.KST).Format(time.DateTime)
		}
		if t.ExpiresAt != "" {
			exp := mustParse(t.ExpiresAt)
			expKST = exp.In(kauth.KST).Format(time.DateTime)
			expLoc = exp.Local().Format(time.DateTime)
			left = humanLeft(time.Duration(t.SecondsLeft) * time.Second)
		}
		tok := t.Token
		if tok == "" {
			tok = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s",
			t.Broker, t.Env, t.App, tok, t.State, issued, expKST, expLoc, left)
		if turn != nil {
			next := "-"
			if t.NextTurnover != "" {
				next = mustParse(t.NextTurnover).In(kauth.KST).Format(time.DateTime)
			}
			fmt.Fprint(tw, "\t"+next)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return c.historyTable(out.Tokens)
}

// historyTable prints the issuance history of each app key.
func (c *cli) historyTable(tokens []tokenStatusJSON) error {
	fmt.Fprintln(c.stdout)
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "BROKER\tENV\tAPP\t"+historyHeader)
	for _, t := range tokens {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Broker, t.Env, t.App,
			historyCells(t.IssuedToday, t.SameToday, t.FailedToday, t.LastIssue, t.LastFailure, t.NextIssue))
	}
	return tw.Flush()
}

// historyHeader names the columns of historyCells.
const historyHeader = "TODAY (KST)\tLAST ISSUE (KST)\tBY\tNEXT ISSUE (KST)\tLAST FAILURE (KST)\tCODE\tBY"

// historyCells is an app key's issuance history as tab-separated cells:
// today's counts, the last issuance and its issuer, when the next is
// allowed ("now" if nextIssue is empty), and the last failure, its code
// and its issuer.
func historyCells(issued, same, failed int, lastIssue, lastFailure *agent.IssueInfo, nextIssue string) string {
	kst := func(s string) string { return mustParse(s).In(kauth.KST).Format(time.DateTime) }
	today := fmt.Sprintf("%d issued, %d same, %d failed", issued, same, failed)
	last, lastBy, next, failedAt, code, failedBy := "-", "-", "now", "-", "-", "-"
	if r := lastIssue; r != nil {
		last, lastBy = kst(r.At), fmt.Sprintf("%s pid %d", r.Host, r.PID)
		switch {
		case r.Outcome == kauth.OutcomeSame:
			last += " (same)"
		case r.Turnover:
			last += " (turnover)"
		}
	}
	if nextIssue != "" {
		next = kst(nextIssue)
	}
	if r := lastFailure; r != nil {
		failedAt, code, failedBy = kst(r.At), r.Code, fmt.Sprintf("%s pid %d", r.Host, r.PID)
	}
	return strings.Join([]string{today, last, lastBy, next, failedAt, code, failedBy}, "\t")
}

// turnover is the turnover window that status plans with, nil if window
// is empty.
func (c *cli) turnover(window, holidays string) (*kauth.Turnover, error) {
	if strings.TrimSpace(window) == "" {
		return nil, nil
	}
	from, to, err := krx.ParseWindow(window)
	if err != nil {
		return nil, usageErrorf("status", "%v", err)
	}
	cal := krx.Default()
	if holidays != "" {
		if cal, err = krx.Load(holidays); err != nil {
			return nil, usageErrorf("status", "%v", err)
		}
	}
	return &kauth.Turnover{From: from, To: to, Calendar: cal}, nil
}

// newTable returns the writer of kauth status's aligned columns.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

type keyedEntry struct {
	key   kauth.Key
	entry kauth.Entry
}

// cachedEntries reads every entry of the store, sorted by key. A file store
// whose directory does not exist yet is reported empty, not created.
func (c *cli) cachedEntries(ctx context.Context, verbose bool) ([]keyedEntry, string, error) {
	if kind := strings.TrimSpace(c.getenv("KAUTH_STORE")); kind == "" || kind == "file" {
		dir, err := c.cacheDir()
		if err != nil {
			return nil, "", err
		}
		if !fileExists(dir) {
			return nil, "file " + dir, nil
		}
	}
	st, err := c.openStore(context.Background(), c.logger(verbose))
	if err != nil {
		return nil, "", err
	}
	defer st.close()
	out, err := readEntries(ctx, st.Store, st.name)
	if err != nil {
		return nil, "", err
	}
	return out, st.name, nil
}

// readEntries reads every entry of st (named name in errors), sorted by
// key; a key whose entry is gone or unreadable is left out.
func readEntries(ctx context.Context, st kauth.Store, name string) ([]keyedEntry, error) {
	lister, ok := st.(kauth.Lister)
	if !ok {
		return nil, fmt.Errorf("kauth: status: the %s store cannot list its tokens", name)
	}
	keys, err := lister.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("kauth: status: listing the %s store: %w", name, err)
	}
	slices.SortFunc(keys, func(a, b kauth.Key) int { return strings.Compare(a.String(), b.String()) })
	// In one LoadBatch for a store that has it (Redis: a pipeline per 500
	// keys), not a round trip per key.
	entries, errs := kauth.LoadEntries(ctx, st, keys)
	var out []keyedEntry
	for i, k := range keys {
		if errors.Is(errs[i], kauth.ErrNotFound) {
			continue
		}
		if errs[i] != nil {
			return nil, fmt.Errorf("kauth: status: %s: %w", k, errs[i])
		}
		out = append(out, keyedEntry{k, entries[i]})
	}
	return out, nil
}

// describe summarizes one entry without its secrets.
func describe(k kauth.Key, e kauth.Entry, now time.Time) tokenStatusJSON {
	t := tokenStatusJSON{Broker: k.Broker, Env: k.Env, App: k.Fingerprint}
	tok := e.Token
	switch {
	case tok.AccessToken == "" && e.Rejected != "":
		t.State = "revoked"
	case tok.AccessToken != "" && tok.Fingerprint() == e.Revoking:
		// A revoke of it was started and may have reached the broker:
		// no process serves it.
		t.State = "revoked"
	case tok.AccessToken == "":
		t.State = "none"
	case now.Before(tok.ExpiresAt):
		t.State = "valid"
	default:
		t.State = "expired"
	}
	if tok.AccessToken == "" {
		return t
	}
	t.Token = tok.Fingerprint()
	if !tok.IssuedAt.IsZero() {
		t.IssuedAt = tok.IssuedAt.In(kauth.KST).Format(time.RFC3339)
	}
	t.ExpiresAt = tok.ExpiresAt.In(kauth.KST).Format(time.RFC3339)
	t.ExpiresLoc = tok.ExpiresAt.Local().Format(time.RFC3339)
	t.SecondsLeft = int64(tok.ExpiresAt.Sub(now) / time.Second)
	return t
}

func mustParse(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

// humanLeft formats the time left before expiry: "23h59m", "4m10s",
// "expired 3h ago".
func humanLeft(d time.Duration) string {
	if d <= 0 {
		return "expired " + roughly(-d) + " ago"
	}
	return roughly(d)
}

func roughly(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}
