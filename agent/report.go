package agent

import (
	"context"
	"time"

	"github.com/kauth/kauth/agent/internal/probe"
)

// ProbeEvery is the least time between two probes of one app key's token
// on behalf of clients' reports: however many clients report however
// often, reports cause at most one upstream call a minute per app key.
const ProbeEvery = probe.Every

// reasonConfirmed is the verdict of a report that drops the token.
const reasonConfirmed = probe.Confirmed

// checkReport decides what a client's report that token was rejected
// means, and acts on it (see package probe): only the token being served
// is considered, and only the broker's own rejection of it in one probe
// call, at most one a minute per app key, makes the agent drop it. The
// proxy path needs no report: kauth.Transport sees the broker's answer.
func (a *Agent) checkReport(ctx context.Context, acct *account, token string) (reason string, retryAfter time.Duration) {
	return a.probes.Check(ctx, probe.Target{
		Account: acct.name,
		Key:     acct.creds.Key(),
		Current: func() string {
			cur, _ := acct.mgr.Cached()
			return cur.AccessToken
		},
		Probe: func(ctx context.Context, token string) (bool, error) {
			// The probe takes its turn at the app key's rate limit like
			// any call.
			lt := a.px.Paced(acct, a.base)
			return probe.Call(ctx, lt, acct.mgr.Provider(), acct.creds, acct.baseURL, token)
		},
		Invalidate: func(token string) { acct.mgr.Invalidate(token) },
	}, token)
}
