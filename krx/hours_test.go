package krx_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth/krx"
)

// TestLateOpenings: the shipped calendar opens the first trading day of
// the year at 10:00 and closes it at 15:30, and opens the CSAT (수능) day
// at 10:00 and closes it at 16:30; other days keep 09:00 to 15:30.
func TestLateOpenings(t *testing.T) {
	c := krx.Default()
	for _, tc := range []struct {
		at   string
		want bool
	}{
		{"2026-01-02 09:00", false}, // the first trading day of 2026: 10:00
		{"2026-01-02 09:59", false},
		{"2026-01-02 10:00", true},
		{"2026-01-02 15:29", true},
		{"2026-01-02 15:30", false}, // closes as usual
		{"2026-11-19 09:30", false}, // 수능: 10:00 to 16:30
		{"2026-11-19 10:00", true},
		{"2026-11-19 16:00", true},
		{"2026-11-19 16:29", true},
		{"2026-11-19 16:30", false},
		{"2026-11-20 09:00", true}, // the day after: as usual
		{"2026-11-20 16:00", false},
		{"2027-01-04 09:30", false}, // the first trading day of 2027
		{"2027-01-04 10:00", true},
		{"2027-11-18 09:30", false}, // 수능 of 2027
		{"2027-11-18 16:15", true},
	} {
		if got := c.InSession(kst(tc.at)); got != tc.want {
			t.Errorf("InSession(%s) = %v; want %v", tc.at, got, tc.want)
		}
	}
	for _, tc := range []struct{ from, want string }{
		{"2025-12-31 20:00", "2026-01-02 10:00"},
		{"2026-01-02 09:30", "2026-01-02 10:00"},
		{"2026-11-18 15:30", "2026-11-19 10:00"},
		{"2026-11-19 16:00", "2026-11-20 09:00"},
		{"2026-12-30 16:00", "2027-01-04 10:00"},
	} {
		if got := c.NextOpen(kst(tc.from)); !got.Equal(kst(tc.want)) {
			t.Errorf("NextOpen(%s) = %v; want %s", tc.from, got.In(krx.KST), tc.want)
		}
	}
	// The quiet reconnection holds until 30 minutes before the late open.
	if got := c.ClosedUntil(kst("2026-11-19 08:00"), 30*time.Minute); !got.Equal(kst("2026-11-19 09:30")) {
		t.Errorf("ClosedUntil(수능 08:00) = %v; want 09:30", got.In(krx.KST))
	}
	if got := c.ClosedUntil(kst("2026-11-19 16:00"), 30*time.Minute); !got.IsZero() {
		t.Errorf("ClosedUntil(수능 16:00) = %v; want zero: the market is open", got.In(krx.KST))
	}
}

// TestParseHours: a date followed by HH:MM-HH:MM is a trading day with
// those hours; a date alone is still a holiday; a bad window is refused
// with its line.
func TestParseHours(t *testing.T) {
	c, err := krx.Parse(strings.NewReader("2030-01-02 10:00-15:30 # 개장식\n2030-01-03\n2030-11-14 10:00-16:30\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   string
		want bool
	}{
		{"2030-01-02 09:30", false}, {"2030-01-02 10:00", true}, {"2030-01-02 15:30", false},
		{"2030-01-03 10:00", false}, // a holiday
		{"2030-11-14 16:00", true}, {"2030-11-14 09:00", false},
		{"2030-11-15 09:00", true},
	} {
		if got := c.InSession(kst(tc.at)); got != tc.want {
			t.Errorf("InSession(%s) = %v; want %v", tc.at, got, tc.want)
		}
	}
	if !c.TradingDay(kst("2030-01-02 00:00")) {
		t.Errorf("a day with hours is not a trading day")
	}
	if !c.Covers(kst("2030-06-01 00:00")) {
		t.Errorf("a file of 2030 does not cover 2030")
	}
	for _, bad := range []string{
		"2030-01-02 10:00",             // no end
		"2030-01-02 16:00-10:00",       // backwards
		"2030-01-02 10:00-15:30 extra", // trailing words
		"2030-01-02 25:00-26:00",
		"2030-01-02 10:00-15:30\n2030-01-02 10:00-16:30", // twice
		"2030-01-02\n2030-01-02 10:00-16:30",             // holiday and hours
	} {
		if _, err := krx.Parse(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line ") {
			t.Errorf("Parse(%q) = %v; want an error naming the line", bad, err)
		}
	}
}
