package realtime

import (
	"testing"
	"time"
)

func TestSilence(t *testing.T) {
	const idle = 2 * time.Minute
	for _, tc := range []struct {
		name   string
		beat   time.Duration
		misses int
		idle   time.Duration
		want   time.Duration
	}{
		{"beat unknown: idle alone", 0, 3, idle, idle},
		{"three beats and a half", 10 * time.Second, 3, idle, 35 * time.Second},
		{"one beat and a half", 10 * time.Second, 1, idle, 15 * time.Second},
		{"a fast beat stops at the floor", 20 * time.Millisecond, 3, idle, time.Second},
		{"a slow beat stops at idle", time.Minute, 3, idle, idle},
		{"idle below the floor wins", 20 * time.Millisecond, 3, 200 * time.Millisecond, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := silence(tc.beat, tc.misses, tc.idle); got != tc.want {
				t.Errorf("silence(%v, %d, %v) = %v; want %v", tc.beat, tc.misses, tc.idle, got, tc.want)
			}
		})
	}
}

func TestPulse(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	const s = time.Second
	for _, tc := range []struct {
		name string
		// beats are the keep-alives' times; a negative one starts a new
		// connection first.
		beats []time.Duration
		want  time.Duration
	}{
		{"none", nil, 0},
		{"one keep-alive says nothing", []time.Duration{0}, 0},
		{"steady", []time.Duration{0, 10 * s, 20 * s, 30 * s}, 10 * s},
		{"a queued burst does not shorten it", []time.Duration{0, 10 * s, 20 * s, 20*s + 1, 20*s + 2}, 10 * s},
		{"the longest of the latest four", []time.Duration{0, 30 * s, 35 * s, 40 * s, 45 * s, 50 * s}, 5 * s},
		{"a new connection keeps the beat", []time.Duration{0, 10 * s, -1, 100 * s}, 10 * s},
		{"no gap across connections", []time.Duration{0, 5 * s, -1, 100 * s, 105 * s}, 5 * s},
		{"a clock that steps back adds no gap", []time.Duration{10 * s, 5 * s, 15 * s}, 10 * s},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p pulse
			for _, b := range tc.beats {
				if b < 0 {
					p.reset()
					continue
				}
				p.beat(at(b))
			}
			if got := p.period(); got != tc.want {
				t.Errorf("period() after %v = %v; want %v", tc.beats, got, tc.want)
			}
		})
	}
}

func TestSilentError(t *testing.T) {
	for _, tc := range []struct {
		err  silentError
		want string
	}{
		{silentError{silence: 2 * time.Minute}, "realtime: nothing from the broker for 2m0s"},
		{silentError{silence: 35 * time.Second, beat: 10 * time.Second}, "realtime: nothing from the broker for 35s: 3 keep-alives missed (it beats every 10s)"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q; want %q", got, tc.want)
		}
	}
}
