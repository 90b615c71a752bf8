package realtime_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/fakeclock"
	"github.com/kauth/kauth/realtime"
)

// outageLog keeps what a session's OnOutage was told.
type outageLog struct {
	mu  sync.Mutex
	got []realtime.Outage
}

func (l *outageLog) add(o realtime.Outage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, o)
}

func (l *outageLog) all() []realtime.Outage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]realtime.Outage(nil), l.got...)
}

// TestSessionOutageAfter: an upstream that stays unavailable for
// OutageAfter (on the session's clock) is reported once, with its cause
// and start; one back sooner is not; and once it opens again after a
// report, that is reported too. While Quiet says the market is closed
// when the time is up, nothing is reported.
func TestSessionOutageAfter(t *testing.T) {
	t.Run("long outage", func(t *testing.T) {
		e := newEnv(t, kauth.KIS, nil)
		o := e.outage(t)
		o.down.Store(true)
		start := time.Date(2026, 12, 7, 10, 0, 0, 0, kauth.KST)
		clock := fakeclock.New(start)
		var log outageLog
		s := e.session(t, func(c *realtime.Config) {
			c.URL, c.Clock = o.url, clock
			c.OutageAfter, c.OnOutage = time.Minute, log.add
		})
		m := s.Join(64)
		go m.Subscribe(ctx(t), samsung)
		if msg := next(t, m); msg.Kind != realtime.Unavailable {
			t.Fatalf("got %v; want Unavailable", msg.Kind)
		}
		eventually(t, "the outage timer", func() bool { return clock.Sleepers() >= 1 })
		clock.Advance(59 * time.Second)
		time.Sleep(50 * time.Millisecond)
		if got := log.all(); len(got) != 0 {
			t.Fatalf("after 59s: %+v; want nothing yet", got)
		}
		clock.Advance(time.Second)
		eventually(t, "the outage report", func() bool { return len(log.all()) == 1 })
		if got := log.all()[0]; got.Restored || !got.Since.Equal(start) || got.Err == nil || !strings.Contains(got.Err.Error(), "404") {
			t.Fatalf("report %+v; want the outage since %v naming the 404", got, start)
		}
		clock.Advance(2 * time.Minute)
		o.down.Store(false)
		if msg := next(t, m); msg.Kind != realtime.Available {
			t.Fatalf("got %v; want Available", msg.Kind)
		}
		eventually(t, "the restore report", func() bool { return len(log.all()) == 2 })
		if got := log.all()[1]; !got.Restored || !got.Since.Equal(start) || !got.At.Equal(start.Add(3*time.Minute)) || got.Err != nil {
			t.Fatalf("report %+v; want restored at %v after the outage since %v", got, start.Add(3*time.Minute), start)
		}
	})
	t.Run("short outage", func(t *testing.T) {
		e := newEnv(t, kauth.KIS, nil)
		o := e.outage(t)
		o.down.Store(true)
		clock := fakeclock.New(time.Date(2026, 12, 7, 10, 0, 0, 0, kauth.KST))
		var log outageLog
		s := e.session(t, func(c *realtime.Config) {
			c.URL, c.Clock = o.url, clock
			c.OutageAfter, c.OnOutage = time.Minute, log.add
		})
		m := s.Join(64)
		go m.Subscribe(ctx(t), samsung)
		if msg := next(t, m); msg.Kind != realtime.Unavailable {
			t.Fatalf("got %v; want Unavailable", msg.Kind)
		}
		clock.Advance(30 * time.Second)
		o.down.Store(false)
		if msg := next(t, m); msg.Kind != realtime.Available {
			t.Fatalf("got %v; want Available", msg.Kind)
		}
		clock.Advance(time.Hour)
		time.Sleep(50 * time.Millisecond)
		if got := log.all(); len(got) != 0 {
			t.Fatalf("an outage of 30s: %+v; want no report", got)
		}
	})
	t.Run("market closed by then", func(t *testing.T) {
		e := newEnv(t, kauth.KIS, nil)
		o := e.outage(t)
		o.down.Store(true)
		start := time.Date(2026, 12, 7, 15, 29, 30, 0, kauth.KST)
		closes := start.Add(30 * time.Second)
		clock := fakeclock.New(start)
		var log outageLog
		s := e.session(t, func(c *realtime.Config) {
			c.URL, c.Clock = o.url, clock
			c.OutageAfter, c.OnOutage = time.Minute, log.add
			c.Quiet = func(now time.Time) time.Time {
				if now.Before(closes) {
					return time.Time{}
				}
				return now.Add(17 * time.Hour)
			}
		})
		m := s.Join(64)
		go m.Subscribe(ctx(t), samsung)
		if msg := next(t, m); msg.Kind != realtime.Unavailable {
			t.Fatalf("got %v; want Unavailable", msg.Kind)
		}
		eventually(t, "the outage timer", func() bool { return clock.Sleepers() >= 1 })
		clock.Advance(2 * time.Minute)
		time.Sleep(50 * time.Millisecond)
		o.down.Store(false)
		eventually(t, "the session back", func() bool { return s.Stats().Connected })
		time.Sleep(50 * time.Millisecond)
		if got := log.all(); len(got) != 0 {
			t.Fatalf("an outage that ran into the close: %+v; want no report", got)
		}
	})
}
