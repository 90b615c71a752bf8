package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/wire"
)

// ProbeEvery is the least time between two probes of one app key's token
// on behalf of clients' reports: however many clients report however
// often, reports cause at most one upstream call a minute per app key.
const ProbeEvery = time.Minute

// probeTimeout bounds one probe call.
const probeTimeout = 10 * time.Second

// Verdicts of a client's report, the Reason of an InvalidateResponse.
const (
	// reasonNotCurrent: the reported token is not the one being served; a
	// late report about an old token changes nothing.
	reasonNotCurrent = "not_current"
	// reasonConfirmed: the broker rejected the token in the agent's own
	// probe; the agent dropped it and gets another.
	reasonConfirmed = "confirmed"
	// reasonAccepted: the broker accepted the token in the agent's own
	// probe; the agent keeps serving it.
	reasonAccepted = "accepted"
	// reasonUnverified: the agent could not check the report now (a probe
	// ran less than ProbeEvery ago, or the broker did not answer); it
	// keeps serving the token. RetryAfter says when a new probe may run.
	reasonUnverified = "unverified"
)

// probeState is the report checking of one app key: when it last probed,
// which token, and what the broker said.
type probeState struct {
	mu      sync.Mutex // held during a probe: concurrent reports wait for it
	at      time.Time  // on the agent's clock; zero before the first probe
	token   string     // the token probed
	verdict string     // reasonConfirmed, reasonAccepted or reasonUnverified
}

// prober returns the probe state of acct's app key.
func (a *Agent) prober(acct *account) *probeState {
	a.probeMu.Lock()
	defer a.probeMu.Unlock()
	k := acct.creds.Key()
	p := a.probes[k]
	if p == nil {
		p = &probeState{}
		a.probes[k] = p
	}
	return p
}

// checkReport decides what a client's report that token was rejected
// means, and acts on it. A report is a claim, not a fact: a
// client that reads a valid token and reports it rejected would otherwise
// take it away from every client, and a broker that hands the same token
// back would leave the account with none. So only the token being served
// is considered, and only the broker's own rejection of it in one probe
// call — at most one a minute per app key — makes the agent drop it. The
// proxy path needs no report: kauth.Transport sees the broker's answer.
func (a *Agent) checkReport(ctx context.Context, acct *account, token string) (reason string, retryAfter time.Duration) {
	if cur, _ := acct.mgr.Cached(); cur.AccessToken == "" || cur.AccessToken != token {
		return reasonNotCurrent, 0
	}
	p := a.prober(acct)
	p.mu.Lock()
	defer p.mu.Unlock()
	now := a.clock.Now()
	if !p.at.IsZero() && now.Sub(p.at) < ProbeEvery {
		if p.token == token && p.verdict == reasonAccepted {
			// The broker accepted it moments ago; if the client's calls
			// still fail, it may report again when a probe may run.
			return reasonAccepted, ProbeEvery - now.Sub(p.at)
		}
		if p.token == token && p.verdict == reasonConfirmed {
			// Confirmed a moment ago; the served token is that one only
			// if the Manager could not get another yet.
			return reasonConfirmed, 0
		}
		return reasonUnverified, ProbeEvery - now.Sub(p.at)
	}
	p.at, p.token = now, token
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	rejected, err := a.probe(pctx, acct, token)
	switch {
	case err != nil:
		p.verdict = reasonUnverified
		a.log.Warn("agent: could not check a reported token with the broker; keeping it", "account", acct.name,
			"token", kauth.Fingerprint(token), "err", err)
		return reasonUnverified, ProbeEvery
	case !rejected:
		p.verdict = reasonAccepted
		return reasonAccepted, 0
	}
	p.verdict = reasonConfirmed
	acct.mgr.Invalidate(token)
	return reasonConfirmed, 0
}

// probe makes one cheap authenticated call with token and reports whether
// the broker rejected the token. An answer that is neither a success nor a
// rejection of the token (a rate limit, an outage) is an error: it proves
// nothing.
func (a *Agent) probe(ctx context.Context, acct *account, token string) (rejected bool, err error) {
	auth, ok := acct.mgr.Provider().(kauth.Authorizer)
	if !ok {
		return false, errors.New("agent: the provider cannot authorize calls")
	}
	pr, ok := acct.mgr.Provider().(prober)
	if !ok {
		return false, errors.New("agent: no probe call for broker " + string(acct.creds.Broker))
	}
	req, err := pr.Probe(ctx, acct.baseURL)
	if err != nil {
		return false, err
	}
	auth.Authorize(req, acct.creds, kauth.Token{AccessToken: token, Type: "Bearer"})
	// The probe takes its turn at the app key's rate limit like any call.
	lt := &limitedTransport{a: a, acct: acct, base: a.base}
	resp, err := lt.RoundTrip(req)
	if err != nil {
		return false, err
	}
	defer closeBody(resp)
	if re := wire.Redirect(resp); re != nil {
		// The probe carries the token, app key and secret: a transport
		// follows no redirect, and the 3xx proves nothing of the token.
		return false, &kauth.Error{Broker: acct.creds.Broker, Env: acct.creds.Env, Op: "call", Kind: kauth.ErrUnavailable,
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
