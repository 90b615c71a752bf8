package kauth_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// watchCounter is a shared store whose Watch counts how many run at once.
type watchCounter struct {
	*kauth.MemoryStore
	running, most atomic.Int32
	started       atomic.Int32
}

func (s *watchCounter) Watch(ctx context.Context, changed func(kauth.Change)) error {
	s.started.Add(1)
	n := s.running.Add(1)
	for {
		m := s.most.Load()
		if n <= m || s.most.CompareAndSwap(m, n) {
			break
		}
	}
	defer s.running.Add(-1)
	<-ctx.Done()
	return nil
}

// TestThousandManagersOneWatch: a thousand Managers on one Store value (an
// agent's accounts) run one Watch between them, not one each, and closing
// them all, at once, stops it.
func TestThousandManagersOneWatch(t *testing.T) {
	r := newRig(t)
	st := &watchCounter{MemoryStore: kauth.NewMemoryStore()}
	const n = 1000
	g := kauth.NewGroup()
	ms := make([]*kauth.Manager, n)
	for i := range ms {
		app := brokersim.DemoKiwoomMock
		creds := app.Credentials()
		creds.AppKey = fmt.Sprintf("%s%04d", creds.AppKey[:len(creds.AppKey)-4], i)
		ms[i] = r.manager(t, app, func(c *kauth.Config) {
			c.Credentials = creds
			c.Store, c.Group = st, g
		})
	}
	if got := st.most.Load(); got != 1 {
		t.Errorf("%d Managers on one Store ran %d watches at once; want 1", n, got)
	}
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() { m.Close() })
	}
	wg.Wait()
	if got := st.running.Load(); got != 0 {
		t.Errorf("after every Close, %d watches still run", got)
	}
	if got := st.started.Load(); got != 1 {
		t.Errorf("watches started = %d; want 1", got)
	}
}
