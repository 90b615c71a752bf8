package realtime

import (
	"math/rand/v2"
	"time"
)

// DefaultQuietBackoff bounds the wait between reconnection attempts while
// the market is closed (Config.Quiet).
const DefaultQuietBackoff = 5 * time.Minute

// QuietFunc tells whether the market a session serves is closed at now,
// and until when: it returns the time the session is needed again (the
// next session's open, or a while before it), or zero if it is needed now.
type QuietFunc func(now time.Time) (until time.Time)

// reconnectWait decides how long the session waits before reconnecting,
// with backoff reached, at now: quietUntil is when a quiet spell ends
// (zero: none). A quiet wait never runs past quietUntil, and once the
// spell is over the backoff falls back within maxBackoff, so that the
// session is back promptly when the market opens. It returns the next
// backoff too: doubled, up to maxBackoff, or quietBackoff while quiet.
func reconnectWait(backoff, maxBackoff, quietBackoff time.Duration, now, quietUntil time.Time) (wait, next time.Duration) {
	if quietUntil.IsZero() || !now.Before(quietUntil) {
		backoff = min(backoff, maxBackoff)
		return jitter(backoff), min(backoff*2, maxBackoff)
	}
	return min(jitter(backoff), quietUntil.Sub(now)), min(backoff*2, max(quietBackoff, maxBackoff))
}

// jitter is a wait between half of d and d.
func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }
