// Package probe checks a client's report that the broker rejected a token.
// A report is a claim, not a fact: a client that reads a valid token and
// reports it rejected would otherwise take it away from every client, and
// a broker that hands the same token back would leave the account with
// none. So a Checker considers only the token being served, and only the
// broker's own rejection of it in one probe call — at most one each Every
// per app key — makes it drop the token. Call makes that probe call, a
// harmless authenticated request the broker's Provider builds (Prober).
package probe

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/wire"
)

// Every is the least time between two probes of one app key's token on
// behalf of clients' reports: however many clients report however often,
// reports cause at most one upstream call a minute per app key.
const Every = time.Minute

// timeout bounds one probe call.
const timeout = 10 * time.Second

// Verdicts of a client's report.
const (
	// NotCurrent: the reported token is not the one being served; a late
	// report about an old token changes nothing.
	NotCurrent = "not_current"
	// Confirmed: the broker rejected the token in the probe; the token was
	// dropped.
	Confirmed = "confirmed"
	// Accepted: the broker accepted the token in the probe; it stays.
	Accepted = "accepted"
	// Unverified: the report could not be checked now (a probe ran less
	// than Every ago, or the broker did not answer); the token stays. The
	// retry duration says when a new probe may run.
	Unverified = "unverified"
)

// Prober is what a broker's Provider implements to have reports checked:
// it builds a harmless call that every app key may make (a price quote),
// and tells a success from the broker's JSON answer with status 2xx: only
// a success proves the token good. base is the account's domain.
type Prober interface {
	Probe(ctx context.Context, base *url.URL) (*http.Request, error)
	ProbeOK(body []byte) bool
}

// Target is the account a report is about, as a Checker needs it.
type Target struct {
	// Account names it in the log lines.
	Account string
	// Key is its app key: reports of the accounts of one app key share
	// their probes.
	Key kauth.Key
	// Current returns the token being served, "" if none.
	Current func() string
	// Probe makes the probe call with token (see Call).
	Probe func(ctx context.Context, token string) (rejected bool, err error)
	// Invalidate drops token (the Manager's Invalidate).
	Invalidate func(token string)
}

// state is the report checking of one app key: when it last probed, which
// token, and what the broker said.
type state struct {
	mu      sync.Mutex // held during a probe: concurrent reports wait for it
	at      time.Time  // on the checker's clock; zero before the first probe
	token   string     // the token probed
	verdict string     // Confirmed, Accepted or Unverified
}

// Checker decides what reports mean, per app key. The zero value is
// unusable; use NewChecker. It is safe for concurrent use.
type Checker struct {
	now func() time.Time
	log *slog.Logger

	mu     sync.Mutex
	states map[kauth.Key]*state
}

// NewChecker returns a Checker reading the time from now and logging to
// log (nil: slog.Default()).
func NewChecker(now func() time.Time, log *slog.Logger) *Checker {
	if log == nil {
		log = slog.Default()
	}
	return &Checker{now: now, log: log, states: make(map[kauth.Key]*state)}
}

func (c *Checker) state(k kauth.Key) *state {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.states[k]
	if p == nil {
		p = &state{}
		c.states[k] = p
	}
	return p
}

// Check decides what a client's report that token was rejected means, and
// acts on it: it returns the verdict and, with Unverified or an Accepted
// from an earlier probe, the time until a new probe may run.
func (c *Checker) Check(ctx context.Context, t Target, token string) (verdict string, retryAfter time.Duration) {
	if cur := t.Current(); cur == "" || cur != token {
		return NotCurrent, 0
	}
	p := c.state(t.Key)
	p.mu.Lock()
	defer p.mu.Unlock()
	now := c.now()
	if !p.at.IsZero() && now.Sub(p.at) < Every {
		if p.token == token && p.verdict == Accepted {
			// The broker accepted it moments ago; if the client's calls
			// still fail, it may report again when a probe may run.
			return Accepted, Every - now.Sub(p.at)
		}
		if p.token == token && p.verdict == Confirmed {
			// Confirmed a moment ago; the served token is that one only
			// if the Manager could not get another yet.
			return Confirmed, 0
		}
		return Unverified, Every - now.Sub(p.at)
	}
	p.at, p.token = now, token
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rejected, err := t.Probe(pctx, token)
	switch {
	case err != nil:
		p.verdict = Unverified
		c.log.Warn("agent: could not check a reported token with the broker; keeping it", "account", t.Account,
			"token", kauth.Fingerprint(token), "err", err)
		return Unverified, Every
	case !rejected:
		p.verdict = Accepted
		return Accepted, 0
	}
	p.verdict = Confirmed
	t.Invalidate(token)
	return Confirmed, 0
}

// Call makes one cheap authenticated call with token to the account of
// creds at base, through rt, and reports whether the broker rejected the
// token. prov must be a kauth.Authorizer and a Prober. An answer that is
// neither a success nor a rejection of the token (a rate limit, an outage,
// a redirect) is an error: it proves nothing.
func Call(ctx context.Context, rt http.RoundTripper, prov kauth.Provider, creds kauth.Credentials, base *url.URL, token string) (rejected bool, err error) {
	auth, ok := prov.(kauth.Authorizer)
	if !ok {
		return false, errors.New("agent: the provider cannot authorize calls")
	}
	pr, ok := prov.(Prober)
	if !ok {
		return false, errors.New("agent: no probe call for broker " + string(creds.Broker))
	}
	req, err := pr.Probe(ctx, base)
	if err != nil {
		return false, err
	}
	auth.Authorize(req, creds, kauth.Token{AccessToken: token, Type: "Bearer"})
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return false, err
	}
	defer closeBody(resp)
	if re := wire.Redirect(resp); re != nil {
		// The probe carries the token, app key and secret: a transport
		// follows no redirect, and the 3xx proves nothing of the token.
		return false, &kauth.Error{Broker: creds.Broker, Env: creds.Env, Op: "call", Kind: kauth.ErrUnavailable,
			Code: wire.HTTPCode(re.StatusCode), StatusCode: re.StatusCode, Err: re}
	}
	if auth.Rejected(resp) {
		return true, nil
	}
	if resp.StatusCode != http.StatusOK {
		return false, errors.New("agent: probe answered " + resp.Status)
	}
	// Brokers answer errors, rate limits included, with HTTP 200 and a
	// code in the body: only what the broker's ProbeOK calls a success
	// proves the token good.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || !json.Valid(body) {
		return false, errors.New("agent: probe answer is not the broker's JSON")
	}
	if pr.ProbeOK(body) {
		return false, nil
	}
	return false, errors.New("agent: probe answered with an error code")
}

// closeBody drains a little of a response and closes it.
func closeBody(resp *http.Response) {
	var buf [4096]byte
	for i := 0; i < 16; i++ {
		if _, err := resp.Body.Read(buf[:]); err != nil {
			break
		}
	}
	resp.Body.Close()
}
