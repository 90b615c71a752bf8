package agent

import "time"

// keeperRestMax is the longest a keeper sleeps while its token is fresh:
// it looks again by then even if the refresh window is further off, so
// that a token dropped meanwhile (revoked or reported rejected elsewhere)
// is replaced before a bot asks for it.
const keeperRestMax = 15 * time.Minute

// keepWait is how long acct's keeper sleeps after a look that ended with
// err: keepEvery after a failure or near the refresh window; with a fresh
// token, until its next refresh (at most keeperRestMax). Thousands of
// keepers looking every minute woke an idle agent dozens of times a second.
func (a *Agent) keepWait(acct *account, err error) time.Duration {
	if err != nil {
		return a.keepEvery
	}
	if _, usable := acct.mgr.Cached(); !usable {
		return a.keepEvery
	}
	at, _ := acct.mgr.NextRefresh()
	if at.IsZero() {
		return a.keepEvery
	}
	return max(a.keepEvery, min(at.Sub(a.clock.Now()), keeperRestMax))
}
