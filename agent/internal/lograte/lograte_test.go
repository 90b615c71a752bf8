package lograte_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth/agent/internal/lograte"
	"github.com/kauth/kauth/internal/fakeclock"
)

// TestLimiterLogsFirstThenOneAMinuteWithTheCount: the first line of a key
// is logged, the next ones within Every are held back, and the first line
// after Every says how many were held back since when; each key counts
// apart, and a clock that steps back never holds a line back.
func TestLimiterLogsFirstThenOneAMinuteWithTheCount(t *testing.T) {
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	clk := fakeclock.New(start)
	l := lograte.New(0, clk.Now)
	if l.Every != time.Minute {
		t.Fatalf("Every = %v; want the default of a minute", l.Every)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	warn := func(key string) {
		if ok, held := l.Allow(key); ok {
			log.Warn("refused", "account", key, slog.Any("suppressed", held))
		}
	}
	lines := func() []string { return strings.Split(strings.TrimSpace(buf.String()), "\n") }

	warn("a")
	clk.Advance(time.Second)
	for range 532 {
		warn("a")
	}
	warn("b") // another key: its own first line
	clk.Advance(58 * time.Second)
	warn("a") // 59 s after the first: held back
	if got := lines(); len(got) != 2 || !strings.Contains(got[0], "account=a") || strings.Contains(got[0], "suppressed") ||
		!strings.Contains(got[1], "account=b") {
		t.Fatalf("lines within the first minute:\n%s\nwant a's first and b's first", buf.String())
	}
	clk.Advance(time.Second)
	warn("a")
	got := lines()
	if len(got) != 3 || !strings.Contains(got[2], "account=a suppressed.count=533 suppressed.since=2026-01-05T09:00:01.000Z") {
		t.Fatalf("line after a minute = %q; want a's line with suppressed=533 since the first held back", got[len(got)-1])
	}
	// The count starts again.
	clk.Advance(time.Minute)
	warn("a")
	if got := lines(); len(got) != 4 || strings.Contains(got[3], "suppressed") {
		t.Fatalf("line a minute after a quiet minute = %q; want no count", got[len(got)-1])
	}
	// A step back of the clock is no reason to hold a line back.
	clk.Advance(-time.Hour)
	warn("a")
	if got := lines(); len(got) != 5 {
		t.Fatalf("after the clock stepped back: %d lines; want 5", len(got))
	}
}

// TestHeldInJSON: in JSON, a line after held-back ones carries
// "suppressed": {"count", "since"}, and a line after none carries no
// suppressed field at all.
func TestHeldInJSON(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	since := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	log.Warn("refused", "account", "a", slog.Any("suppressed", lograte.Held{}))
	log.Warn("refused", "account", "a", slog.Any("suppressed", lograte.Held{Count: 7, Since: since}))
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(got) != 2 || strings.Contains(got[0], "suppressed") ||
		!strings.Contains(got[1], `"account":"a","suppressed":{"count":7,"since":"2026-01-05T09:00:00Z"}`) {
		t.Errorf("JSON lines:\n%s\nwant no suppressed field, then suppressed with count and since", buf.String())
	}
}
