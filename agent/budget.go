package agent

import (
	"fmt"
	"strings"

	"golang.org/x/time/rate"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/config"
	"github.com/kauth/kauth/budget"
)

// DefaultBudgetShare is the share of an app key's call budget that one
// agent takes on its own while the shared budget cannot be reached.
const DefaultBudgetShare = 0.5

// DefaultClientTurns is how many proxied calls of one client may wait for
// an app key's call budget at once; the client's other calls line up
// behind them.
const DefaultClientTurns = 1

// sharedBudget is an app key's shared budget with the settings it was
// built for, so that a Reload that keeps them keeps it.
type sharedBudget struct {
	b         *budget.Shared
	perSecond float64
	burst     int
	share     float64
}

// budgetKey names an app key's budget: the broker counts calls per app
// key, whatever egress or account they come through.
func budgetKey(c kauth.Credentials) kauth.Key {
	return kauth.Key{Broker: c.Broker, Env: c.Env, Fingerprint: c.Fingerprint()}
}

// budgetKeys maps each app key's budget to the limiter key of one of its
// accounts, whose limiter holds the strictest rate of them.
func budgetKeys(rs []config.Resolved) map[kauth.Key]kauth.Key {
	m := make(map[kauth.Key]kauth.Key, len(rs))
	for _, r := range rs {
		m[budgetKey(r.Creds)] = r.Creds.Key()
	}
	return m
}

// sharedBudgets builds (or keeps, where nothing changed) the shared budget
// of every app key, at its limiter's rate. It returns none without
// Options.SharedBudget. Called with a.mu held.
func (a *Agent) sharedBudgets(keys map[kauth.Key]kauth.Key, limiters map[kauth.Key]*rate.Limiter, share float64) (map[kauth.Key]sharedBudget, error) {
	out := make(map[kauth.Key]sharedBudget, len(keys))
	if a.shareBudget == nil {
		return out, nil
	}
	if share == 0 {
		share = DefaultBudgetShare
	}
	for bk, lk := range keys {
		l := limiters[lk]
		want := sharedBudget{perSecond: float64(l.Limit()), burst: l.Burst(), share: share}
		if old, ok := a.budgets[bk]; ok && old.perSecond == want.perSecond && old.burst == want.burst && old.share == want.share {
			out[bk] = old
			continue
		}
		name := bk.String()
		b, err := a.shareBudget(BudgetSpec{Key: bk, PerSecond: want.perSecond, Burst: want.burst, LocalShare: share,
			OnFallback: func(on bool) { a.metrics.BudgetFallback(name, on) }})
		if err != nil {
			return nil, fmt.Errorf("agent: shared call budget of %s: %w", name, err)
		}
		want.b = b
		out[bk] = want
	}
	return out, nil
}

// groupSharer returns how an account of c builds the budget of one API
// group shared with the app key's other agents (Options.SharedBudget) —
// keyed by the app key and the group, at perSecond — or nil without
// Options.SharedBudget. A budget that cannot be built leaves the group on
// the agent's own pacing, and says so.
func (a *Agent) groupSharer(c kauth.Credentials, share float64) func(group string, perSecond float64) *budget.Shared {
	if a.shareBudget == nil {
		return nil
	}
	if share == 0 {
		share = DefaultBudgetShare
	}
	return func(group string, perSecond float64) *budget.Shared {
		k := budgetKey(c)
		k.Fingerprint += "." + strings.ToLower(group)
		name := k.String()
		b, err := a.shareBudget(BudgetSpec{Key: k, PerSecond: perSecond, Burst: 1, LocalShare: share,
			OnFallback: func(on bool) { a.metrics.BudgetFallback(name, on) }})
		if err != nil {
			a.log.Warn("agent: the shared budget of an API group could not be built; pacing it on this agent alone", "budget", name, "err", err)
			return nil
		}
		return b
	}
}
