package agent

import (
	"fmt"

	"golang.org/x/time/rate"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/config"
	"github.com/kauth/kauth/budget"
)

// DefaultBudgetShare is the share of an app key's call budget that one
// agent takes on its own while the shared budget cannot be reached.
const DefaultBudgetShare = 0.5

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
			OnFallback: func(on bool) { a.metrics.budgetFallback(name, on) }})
		if err != nil {
			return nil, fmt.Errorf("agent: shared call budget of %s: %w", name, err)
		}
		want.b = b
		out[bk] = want
	}
	return out, nil
}
