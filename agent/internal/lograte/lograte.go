// Package lograte thins out a log line that anyone who can reach a port can
// make the agent write: a neighbour refused in a loop must not fill the log.
package lograte

import (
	"log/slog"
	"sync"
	"time"
)

// DefaultEvery is how often a Limiter logs a line of one key at most.
const DefaultEvery = time.Minute

// Limiter logs the first line of each key, then at most one per Every,
// which says how many it held back since when. Its zero value is not
// usable: fill Every and Now. It is safe for concurrent use.
type Limiter struct {
	// Every is the least time between two lines of one key.
	Every time.Duration
	// Now is the limiter's clock.
	Now func() time.Time

	mu   sync.Mutex
	keys map[string]*state
}

// state is what a Limiter keeps of one key.
type state struct {
	last time.Time // the last line logged
	held Held      // since
}

// New returns a Limiter logging a key's line at most once per every (zero
// means DefaultEvery), on the clock now (nil means time.Now).
func New(every time.Duration, now func() time.Time) *Limiter {
	if every <= 0 {
		every = DefaultEvery
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{Every: every, Now: now}
}

// Allow reports whether the line of key is to be logged now; if so, held
// says how many lines of key it held back before it, and since when.
func (l *Limiter) Allow(key string) (ok bool, held Held) {
	now := l.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = map[string]*state{}
	}
	st := l.keys[key]
	if st == nil {
		l.keys[key] = &state{last: now}
		return true, Held{}
	}
	// A clock that stepped back counts as time passed: the next line is
	// never held back longer than Every.
	if d := now.Sub(st.last); d >= 0 && d < l.Every {
		if st.held.Count == 0 {
			st.held.Since = now
		}
		st.held.Count++
		return false, Held{}
	}
	held = st.held
	*st = state{last: now}
	return true, held
}

// Held is what a Limiter held back of a key before the line it lets
// through: log it as slog.Any("suppressed", held), which writes
// suppressed.count and suppressed.since, or nothing if it held none back.
type Held struct {
	Count int       // lines held back
	Since time.Time // the time of the first
}

// LogValue is the count and the time of the first, or an empty group
// (which a handler leaves out) if none was held back.
func (h Held) LogValue() slog.Value {
	if h.Count == 0 {
		return slog.GroupValue()
	}
	return slog.GroupValue(slog.Int("count", h.Count), slog.Time("since", h.Since))
}
