package realtime

import (
	"fmt"
	"time"
)

// Both brokers beat on an open session — KIS sends {"header":{"tr_id":
// "PINGPONG",…}}, Kiwoom {"trnm":"PING"} — and expect the frame echoed
// (koreainvestment/open-trading-api examples_user/kis_auth.py answers
// PINGPONG with ws.pong(raw); Kiwoom-Securities/Kiwoom-REST-API
// kiwoom/core/ws_client.py sends the PING back). Neither publishes the
// period, and neither official client keeps time of it, so a Session learns
// the beat from the broker itself: the gaps between the keep-alives it
// receives. A connection that then stays silent for a few beats is dead,
// whatever its socket says.
//
// A Session sends no WebSocket pings of its own: the Kiwoom client turns
// them off (ping_interval=None), and the broker's beat is what proves the
// feed alive — a socket can answer pings while the feed has stopped.

// DefaultKeepAliveMisses is how many of the broker's keep-alives may go
// missing before a connection is taken for dead.
const DefaultKeepAliveMisses = 3

// minSilence is the least silence that ends a connection. Real brokers beat
// every few seconds; a beat learned from a burst of queued keep-alives, or a
// pause of the process, must not make a healthy connection look dead.
const minSilence = time.Second

// beatWindow is how many of the latest gaps between keep-alives the beat is
// taken from (the longest of them).
const beatWindow = 4

// pulse follows the broker's keep-alives. The beat outlives a connection,
// so that a new one is watched from its first moment; the last keep-alive
// does not.
type pulse struct {
	last time.Time // the last keep-alive on this connection; zero before one
	gaps [beatWindow]time.Duration
	n    int // gaps seen, ever
}

// reset forgets the last keep-alive: a new connection begins.
func (p *pulse) reset() { p.last = time.Time{} }

// beat records a keep-alive received at now.
func (p *pulse) beat(now time.Time) {
	if !p.last.IsZero() && now.After(p.last) {
		p.gaps[p.n%beatWindow] = now.Sub(p.last)
		p.n++
	}
	p.last = now
}

// period is the broker's beat: the longest of the latest gaps, or 0 while
// fewer than two keep-alives have come.
func (p *pulse) period() time.Duration {
	var d time.Duration
	for _, g := range p.gaps {
		d = max(d, g)
	}
	return d
}

// silence is how long a connection may stay silent — no frame, no
// keep-alive — before it is taken for dead: misses beats and half of one
// more, at least minSilence, and never more than idle; idle alone while the
// beat is unknown.
func silence(beat time.Duration, misses int, idle time.Duration) time.Duration {
	if beat <= 0 {
		return idle
	}
	d := time.Duration(misses)*beat + beat/2
	return min(max(d, minSilence), idle)
}

// silentError is why a connection that stayed silent was ended.
type silentError struct {
	silence, beat time.Duration
}

func (e *silentError) Error() string {
	if e.beat <= 0 {
		return fmt.Sprintf("realtime: nothing from the broker for %s", e.silence)
	}
	return fmt.Sprintf("realtime: nothing from the broker for %s: %d keep-alives missed (it beats every %s)",
		e.silence, int(e.silence/e.beat), e.beat.Round(time.Millisecond))
}
