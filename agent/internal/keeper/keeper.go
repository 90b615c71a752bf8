// Package keeper keeps one account's token fresh in the background, so
// that the first call of the morning never waits for an issuance. A Keeper
// asks for a token at once and then every interval of its clock; what the
// asking does (an atomic load of a fresh token, a background refresh inside
// the refresh-ahead window, an issuance without a usable token) is the
// Manager's business. It logs a failure once, not at every look, and the
// first success after one.
package keeper

import (
	"context"
	"log/slog"
	"time"

	"github.com/kauth/kauth"
)

// Config is what a Keeper keeps and how.
type Config struct {
	// Account names the account in the log lines.
	Account string
	// Token asks for the account's token (the Manager's Token): the
	// Keeper wants only its error.
	Token func(ctx context.Context) error
	// Clock paces the looks; nil means the system clock.
	Clock kauth.Clock
	// Every is the time between two looks; it must be positive.
	Every time.Duration
	// Wait, if set, says how long to sleep after a look that ended with
	// err, in place of Every (a keeper with a fresh token may rest longer).
	Wait func(err error) time.Duration
	// Kind names an error's kind in the log line; nil leaves it out.
	Kind func(error) string
	// Log receives the keeper's lines; nil means slog.Default().
	Log *slog.Logger
	// Gate, if not nil, is shared by keepers started together: each holds
	// one of its cap(Gate) slots for its first look, so that thousands of
	// first issuances do not all wait on the store and the broker at once.
	// Later looks are spread by their schedules and not gated.
	Gate chan struct{}
}

// Keeper is one account's running keeper. Stop it with Stop.
type Keeper struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Start starts a keeper for c, which looks at the token right away.
func Start(c Config) *Keeper {
	if c.Clock == nil {
		c.Clock = kauth.SystemClock{}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Kind == nil {
		c.Kind = func(error) string { return "" }
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &Keeper{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(k.done)
		keep(ctx, c)
	}()
	return k
}

// Stop stops the keeper and returns once it has stopped: no look runs
// after Stop returns, and a look under way is canceled. A nil Keeper is
// stopped already.
func (k *Keeper) Stop() {
	if k == nil {
		return
	}
	k.cancel()
	<-k.done
}

func keep(ctx context.Context, c Config) {
	var lastErr string
	for first := true; ; first = false {
		gated := first && c.Gate != nil
		if gated {
			select {
			case c.Gate <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		tctx, cancel := context.WithTimeout(ctx, kauth.DefaultIssueTimeout)
		err := c.Token(tctx)
		cancel()
		if gated {
			<-c.Gate
		}
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && err.Error() != lastErr:
			// The Manager logged the failure itself; say once what the
			// keeper will do about it, not every minute.
			c.Log.Warn("agent: keeper could not get a token; will retry", "account", c.Account,
				"kind", c.Kind(err), "retry_in", c.Every, "err", err)
			lastErr = err.Error()
		case err == nil && lastErr != "":
			c.Log.Info("agent: keeper got a token again", "account", c.Account)
			lastErr = ""
		}
		wait := c.Every
		if c.Wait != nil {
			wait = c.Wait(err)
		}
		if c.Clock.Sleep(ctx, wait) != nil {
			return
		}
	}
}
