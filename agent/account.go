package agent

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/alerts"
	"github.com/kauth/kauth/agent/internal/config"
	"github.com/kauth/kauth/agent/internal/keeper"
	"github.com/kauth/kauth/agent/internal/metrics"
	"github.com/kauth/kauth/agent/internal/pacing"
	"github.com/kauth/kauth/agent/internal/proxy"
	"github.com/kauth/kauth/budget"
	"github.com/kauth/kauth/realtime"
)

// account is one served account. Its fields do not change once it is
// built; Reload replaces or removes whole accounts, and retunes limiters in
// place.
type account struct {
	name    string
	creds   kauth.Credentials
	baseURL *url.URL
	mgr     *kauth.Manager
	limiter *rate.Limiter // shared by every account of one app key
	turns   *pacing.Turns // the clients' turns at limiter or shared
	// shared, if not nil, is the app key's budget shared with other agents
	// (Options.SharedBudget); the proxy then waits on it instead of limiter.
	shared *budget.Shared
	// groups, if not nil, paces the calls of a broker that limits per API
	// group (Toss), in place of limiter and shared.
	groups *pacing.Groups
	proxy  *proxy.Relay
	// revokePass makes the facade's revoke endpoints revoke the shared
	// token (config revoke: pass).
	revokePass bool
	// wsClientMax is how many topics one WebSocket client of the account
	// may hold.
	wsClientMax int
	// wsControlRate paces the control frames of the app key's WebSocket
	// session (the first account of the app key to open it sets it).
	wsControlRate float64
	// turnover and wsQuiet are the account's turnover window and quiet
	// hours as configured; quiet tells its WebSocket session when the
	// market is closed (nil: never).
	turnover string
	wsQuiet  bool
	quiet    realtime.QuietFunc
	// onOutage alerts of an outage of the app key's WebSocket session
	// that lasted outageAfter (alert_options.ws_unavailable_after).
	onOutage    func(realtime.Outage)
	outageAfter func() time.Duration

	// keepFailure is why the keeper's last try to get a token failed
	// ("kind: error"), nil after a success: /readyz states it.
	keepFailure atomic.Pointer[string]

	keeper *keeper.Keeper // nil until startKeeper
	// inUse counts the requests using the account. lookup adds to it under
	// a.mu while the account is served, so once Reload has swapped it out
	// no request adds any more, and closeAccount can wait for the count to
	// drain before it closes the Manager.
	inUse sync.WaitGroup
}

// newAccount builds an account's Manager and proxy.
func (a *Agent) newAccount(r config.Resolved, lim *rate.Limiter, share float64) (*account, error) {
	u, err := url.Parse(r.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("agent: account %s: base_url: %w", r.Name, err)
	}
	name := r.Name
	spec, err := a.brokers.get(r.Creds.Broker)
	if err != nil {
		return nil, fmt.Errorf("agent: account %s: %w", r.Name, err)
	}
	p := spec.New(r.BaseURL, a.client, a.clock.Now)
	a.metrics.Account(name)
	watch := alerts.NewAccount(name, r.Creds.Fingerprint(), a.sendAlert, a.clock.Now)
	mgr, err := kauth.NewManager(kauth.Config{
		Credentials: r.Creds,
		Provider:    p,
		Store:       a.store,
		Group:       a.group,
		Clock:       a.clock,
		Turnover:    r.Turnover,
		Logger:      a.log.With("account", name),
		OnEvent: func(ev kauth.Event) {
			a.metrics.OnEvent(name, ev)
			watch.OnEvent(ev)
			a.events.add(a.clock.Now(), name, ev)
		},
		// Accounts started together are not refreshed together.
		RefreshJitter: kauth.DefaultRefreshAhead / 2,
	})
	if err != nil {
		return nil, fmt.Errorf("agent: account %s: %w", name, err)
	}
	acct := &account{name: name, creds: r.Creds, baseURL: u, mgr: mgr, limiter: lim, revokePass: r.Revoke == RevokePass,
		wsClientMax: r.WSClientMaxSubscriptions, wsControlRate: r.WSControlRate,
		turnover: r.Account.Turnover, wsQuiet: r.WSQuietOffHours}
	if cal := r.Calendar; r.WSQuietOffHours && cal != nil {
		acct.quiet = func(now time.Time) time.Time { return cal.ClosedUntil(now, 30*time.Minute) }
	}
	acct.onOutage = a.outageAlert(acct)
	acct.outageAfter = func() time.Duration { return time.Duration(a.wsOutageAfter.Load()) }
	acct.groups = pacing.NewGroups(p, u.Path, a.clock.Now, a.groupSharer(r.Creds, share))
	acct.proxy = a.px.Relay(acct, u)
	return acct, nil
}

// maxFirstLooks is how many keepers take their first look for a token at
// once. Thousands of accounts starting together otherwise all wait at once
// on the store (file locks and fsyncs, Redis round trips) and the broker,
// each issuance behind all the others (11 s each at 5,000 accounts on a
// loaded machine, where some were refused with KIS's EGW00133, a second
// request inside its issuance minute, and waited a minute); 64 at a time
// keep the store and a broker over the network busy.
const maxFirstLooks = 64

// startKeeper starts acct's keeper. The caller holds a.mu.
func (a *Agent) startKeeper(acct *account) {
	acct.keeper = keeper.Start(keeper.Config{
		Account: acct.name,
		Token: func(ctx context.Context) error {
			_, err := acct.mgr.Token(ctx)
			switch {
			case ctx.Err() != nil: // stopped: no verdict
			case err != nil:
				why := errorKind(err) + ": " + err.Error()
				acct.keepFailure.Store(&why)
			default:
				acct.keepFailure.Store(nil)
			}
			return err
		},
		Clock: a.clock,
		Every: a.keepEvery,
		Wait:  func(err error) time.Duration { return a.keepWait(acct, err) },
		Kind:  errorKind,
		Log:   a.log,
		Gate:  a.firstLooks,
	})
}

// closeAccount stops acct's keeper, waits (up to the shutdown timeout) for
// the requests still using it, and closes its Manager, so that no request
// in flight finds its Manager closed.
func (a *Agent) closeAccount(acct *account) {
	acct.keeper.Stop()
	drained := make(chan struct{})
	go func() {
		acct.inUse.Wait()
		close(drained)
	}()
	t := time.NewTimer(a.shutdownTimeout())
	defer t.Stop()
	select {
	case <-drained:
	case <-t.C:
		a.log.Warn("agent: closing a removed account with requests still in flight", "account", acct.name)
	}
	acct.mgr.Close()
}

// lookup returns the account called name, or nil. The caller must call
// done on a non-nil account when its request no longer uses it.
func (a *Agent) lookup(name string) *account {
	a.mu.RLock()
	defer a.mu.RUnlock()
	acct := a.accounts[name]
	if acct != nil {
		acct.inUse.Add(1)
	}
	return acct
}

// done ends a request's use of acct (see lookup).
func (acct *account) done() { acct.inUse.Done() }

// snapshot returns the accounts sorted by name. The slice is shared: read
// it, never change it.
func (a *Agent) snapshot() []*account {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.sorted
}

// sortedAccounts returns the accounts of m sorted by name, for snapshot:
// sorted once when the accounts change rather than at every request of
// /readyz, /v1/accounts or the metrics.
func sortedAccounts(m map[string]*account) []*account {
	out := make([]*account, 0, len(m))
	for _, acct := range m {
		out = append(out, acct)
	}
	slices.SortFunc(out, func(x, y *account) int { return strings.Compare(x.name, y.name) })
	return out
}

// metricAccounts says what the scrape-time series show of each account.
func (a *Agent) metricAccounts() []metrics.Account {
	accts := a.snapshot()
	out := make([]metrics.Account, 0, len(accts))
	for _, acct := range accts {
		m := metrics.Account{Name: acct.name, Broker: string(acct.creds.Broker), Env: string(acct.creds.Env),
			App: acct.creds.Fingerprint(), InFlight: acct.proxy.InFlight()}
		if tok, _ := acct.mgr.Cached(); tok.AccessToken != "" {
			m.Expires = tok.ExpiresAt
		}
		out = append(out, m)
	}
	return out
}

// revokeAll revokes each app key's token once.
func (a *Agent) revokeAll(accts []*account) []error {
	var errs []error
	done := map[kauth.Key]bool{}
	for _, acct := range accts {
		k := acct.creds.Key()
		if done[k] {
			continue
		}
		done[k] = true
		if fe, ok := acct.mgr.Provider().(facadeEndpoints); ok {
			if _, rev := fe.FacadePaths(); rev == "" {
				// Marking the token revoked would only make the next
				// start issue, which kills it for every holder (Toss).
				a.log.Info("agent: the broker has no revoke endpoint; the token is left to expire", "account", acct.name, "app", acct.creds.Fingerprint())
				continue
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := acct.mgr.Revoke(ctx)
		cancel()
		if err != nil {
			a.log.Error("agent: revoking on shutdown failed", "account", acct.name, "err", err)
			errs = append(errs, fmt.Errorf("agent: account %s: revoke: %w", acct.name, err))
			continue
		}
		a.log.Info("agent: revoked token on shutdown", "account", acct.name, "app", acct.creds.Fingerprint())
	}
	return errs
}
