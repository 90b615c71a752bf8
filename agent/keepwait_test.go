package agent_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
)

// countingClock counts the sleeps that end by time passing: each is a
// wakeup of the goroutine that slept.
type countingClock struct {
	*fakeClock
	woke atomic.Int64
}

func (c *countingClock) Sleep(ctx context.Context, d time.Duration) error {
	err := c.fakeClock.Sleep(ctx, d)
	if err == nil {
		c.woke.Add(1)
	}
	return err
}

// TestKeepersRestWhileTokensAreFresh: an agent whose tokens are fresh does
// not wake its keepers every KeepEvery (thousands of accounts made that a
// steady stream of wakeups at rest): a keeper sleeps until its token's
// refresh window, looking at most every keeperRestMax meanwhile, and
// still refreshes in the window.
func TestKeepersRestWhileTokensAreFresh(t *testing.T) {
	fake := newFakeClock(time.Now())
	clock := &countingClock{fakeClock: fake}
	h := newHarness(t, setup{
		sim:  func(s *brokersim.Server) { s.Clock = fake.Now },
		opts: func(o *agent.Options) { o.Clock = clock; o.KeepEvery = time.Minute },
	})
	issued := func() int { return h.sim.Issued(kauth.KIS, kauth.Mock, kisMock.AppKey) }
	eventually(t, "the keepers got their tokens and sleep", func() bool {
		return issued() == 1 && fake.Sleepers() == 3
	})
	before := clock.woke.Load()
	// An hour at rest, a minute at a time.
	for range 60 {
		fake.Advance(time.Minute)
		eventually(t, "the keepers sleep again", func() bool { return fake.Sleepers() == 3 })
	}
	if n := clock.woke.Load() - before; n > 3*int64(time.Hour/agent.KeeperRestMax)+3 {
		t.Errorf("3 keepers woke %d times in an hour with fresh tokens; want at most one look per %v each", n, agent.KeeperRestMax)
	}
	// The refresh still happens in the window, with no bot calling.
	for i := 0; issued() < 2 && i < 24*60; i++ {
		fake.Advance(time.Minute)
		eventually(t, "the keepers sleep again", func() bool { return fake.Sleepers() == 3 || issued() >= 2 })
	}
	if n := issued(); n != 2 {
		t.Fatalf("issued %d tokens in a day; want the refresh: 2", n)
	}
}
