package realtime

import (
	"context"
	"time"
)

// Outage is what Config.OnOutage is told of an upstream outage that
// outlasted Config.OutageAfter.
type Outage struct {
	// Since is when the outage began: the first failed attempt to open
	// the connection while the market was open.
	Since time.Time
	// Restored is false for the report that the outage outlasted
	// OutageAfter, true for the report that the session opened again
	// after it.
	Restored bool
	// At is when the report was made: Since plus OutageAfter, or when the
	// session opened again.
	At time.Time
	// Err is why the last attempt failed (for the first report).
	Err error
}

// outageWatch times one outage for OnOutage.
type outageWatch struct {
	since    time.Time
	cancel   context.CancelFunc
	reported bool
}

// outageBegan starts timing an outage noticed at now, unless one is timed
// already. Only the run goroutine calls it.
func (s *Session) outageBegan(now time.Time) {
	if s.cfg.OnOutage == nil {
		return
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.outage != nil {
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	w := &outageWatch{since: now, cancel: cancel}
	s.outage = w
	due := w.since.Add(s.cfg.OutageAfter)
	go func() {
		if s.clock.Sleep(ctx, due.Sub(s.clock.Now())) != nil {
			return
		}
		s.outMu.Lock()
		defer s.outMu.Unlock()
		if s.outage != w || ctx.Err() != nil {
			return
		}
		now := s.clock.Now()
		if s.cfg.Quiet != nil && !s.cfg.Quiet(now).IsZero() {
			// The market closed meanwhile: no one needs an alarm. An
			// outage still on once it opens is timed afresh.
			s.outage = nil
			return
		}
		s.mu.Lock()
		err := s.unavail
		s.mu.Unlock()
		if err == nil {
			return // opened: outageEnded ends the watch
		}
		w.reported = true
		// Under outMu, so that a restore is never reported before it.
		s.cfg.OnOutage(Outage{Since: w.since, At: now, Err: err})
	}()
}

// outageEnded ends the timed outage, if any: the session opened. A
// reported outage is reported restored.
func (s *Session) outageEnded() {
	if s.cfg.OnOutage == nil {
		return
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	w := s.outage
	if w == nil {
		return
	}
	s.outage = nil
	w.cancel()
	if w.reported {
		s.cfg.OnOutage(Outage{Since: w.since, Restored: true, At: s.clock.Now()})
	}
}
