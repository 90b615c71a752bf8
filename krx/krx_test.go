package krx_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth/krx"
)

func kst(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, krx.KST)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDefaultTradingDays(t *testing.T) {
	c := krx.Default()
	for _, tc := range []struct {
		day  string
		want bool
	}{
		{"2026-12-07 10:00", true},  // a Monday
		{"2026-12-05 10:00", false}, // Saturday
		{"2026-12-06 10:00", false}, // Sunday
		{"2026-12-25 10:00", false}, // 성탄절
		{"2026-12-31 10:00", false}, // year-end closure
		{"2026-12-30 10:00", true},  // the last trading day of 2026
		{"2026-06-03 10:00", false}, // local elections
		{"2026-09-24 10:00", false}, // 추석 연휴
		{"2026-09-28 10:00", true},  // no substitute for a Saturday 추석
		{"2027-01-01 10:00", false},
		{"2027-02-09 10:00", false}, // 설날 substitute
		{"2027-12-27 10:00", false}, // Christmas substitute
		{"2027-12-31 10:00", false},
		{"2027-12-30 10:00", true},
	} {
		if got := c.TradingDay(kst(tc.day)); got != tc.want {
			t.Errorf("TradingDay(%s) = %v; want %v", tc.day, got, tc.want)
		}
	}
	if !c.Covers(kst("2026-03-01 00:00")) || !c.Covers(kst("2027-03-01 00:00")) || c.Covers(kst("2028-03-01 00:00")) {
		t.Errorf("Covers: want 2026 and 2027 only")
	}
}

// TestDatesAreKST: the KST date decides, whatever zone the time is in.
func TestDatesAreKST(t *testing.T) {
	c := krx.Default()
	// 2026-12-24 16:00 UTC is 2026-12-25 01:00 KST: Christmas.
	if c.TradingDay(time.Date(2026, 12, 24, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("2026-12-25 01:00 KST taken as a trading day")
	}
	ny := time.FixedZone("EST", -5*3600)
	// 2026-12-07 23:30 EST is 2026-12-08 13:30 KST, a Tuesday session.
	if !c.InSession(time.Date(2026, 12, 7, 23, 30, 0, 0, ny)) {
		t.Errorf("2026-12-08 13:30 KST not in session")
	}
}

func TestInSessionAndNextOpen(t *testing.T) {
	c := krx.Default()
	for _, tc := range []struct {
		at   string
		in   bool
		next string
	}{
		{"2026-12-07 08:59", false, "2026-12-07 09:00"},
		{"2026-12-07 09:00", true, "2026-12-08 09:00"},
		{"2026-12-07 15:29", true, "2026-12-08 09:00"},
		{"2026-12-07 15:30", false, "2026-12-08 09:00"},
		{"2026-12-04 16:00", false, "2026-12-07 09:00"}, // Friday evening to Monday
		{"2026-12-24 16:00", false, "2026-12-28 09:00"}, // over Christmas and the weekend
		{"2026-12-30 16:00", false, "2027-01-04 10:00"}, // over the year-end closure, to the first trading day's late open
	} {
		if got := c.InSession(kst(tc.at)); got != tc.in {
			t.Errorf("InSession(%s) = %v; want %v", tc.at, got, tc.in)
		}
		if got := c.NextOpen(kst(tc.at)); !got.Equal(kst(tc.next)) {
			t.Errorf("NextOpen(%s) = %v; want %s", tc.at, got, tc.next)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "holidays.txt")
	if err := os.WriteFile(path, []byte("# ours\n\n2026-12-08 # a temporary holiday\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := krx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.TradingDay(kst("2026-12-08 10:00")) {
		t.Errorf("the file's holiday is a trading day")
	}
	if !c.TradingDay(kst("2026-12-25 10:00")) {
		t.Errorf("the file replaces the shipped holidays; 2026-12-25 is not in it")
	}

	t.Setenv(krx.HolidaysEnv, path)
	if c, err := krx.Load(""); err != nil || c.TradingDay(kst("2026-12-08 10:00")) {
		t.Errorf("Load(\"\") with %s set: the file was not read (err %v)", krx.HolidaysEnv, err)
	}
	t.Setenv(krx.HolidaysEnv, "")
	if c, err := krx.Load(""); err != nil || c.TradingDay(kst("2026-12-25 10:00")) {
		t.Errorf("Load(\"\") without %s: want the shipped holidays (err %v)", krx.HolidaysEnv, err)
	}

	if _, err := krx.Load(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("Load of a missing file: no error")
	}
	if _, err := krx.Parse(strings.NewReader("2026-13-01\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("Parse of a bad date: err = %v; want one naming line 1", err)
	}
}

func TestParseWindow(t *testing.T) {
	for _, tc := range []struct {
		in       string
		from, to time.Duration
		ok       bool
	}{
		{"07:30-08:30", 7*time.Hour + 30*time.Minute, 8*time.Hour + 30*time.Minute, true},
		{" 06:00 - 08:59 ", 6 * time.Hour, 8*time.Hour + 59*time.Minute, true},
		{"22:00-24:00", 22 * time.Hour, 24 * time.Hour, true},
		{"08:30-07:30", 0, 0, false},
		{"08:30-08:30", 0, 0, false},
		{"07:30", 0, 0, false},
		{"7h-8h", 0, 0, false},
		{"25:00-26:00", 0, 0, false},
		{"", 0, 0, false},
	} {
		from, to, err := krx.ParseWindow(tc.in)
		if (err == nil) != tc.ok || from != tc.from || to != tc.to {
			t.Errorf("ParseWindow(%q) = %v, %v, %v; want %v, %v, ok %v", tc.in, from, to, err, tc.from, tc.to, tc.ok)
		}
	}
}

func TestClosedUntil(t *testing.T) {
	c := krx.Default()
	for _, tc := range []struct {
		at, want string // want "": open, or opening within the lead
	}{
		{"2026-12-07 10:00", ""},                 // in session
		{"2026-12-07 08:40", ""},                 // within 30 min of the open
		{"2026-12-07 08:29", "2026-12-07 08:30"}, // closed until 30 min before the open
		{"2026-12-07 15:30", "2026-12-08 08:30"}, // the close
		{"2026-12-04 20:00", "2026-12-07 08:30"}, // Friday night to Monday
		{"2026-12-24 20:00", "2026-12-28 08:30"}, // over Christmas
	} {
		got := c.ClosedUntil(kst(tc.at), 30*time.Minute)
		if (tc.want == "" && !got.IsZero()) || (tc.want != "" && !got.Equal(kst(tc.want))) {
			t.Errorf("ClosedUntil(%s) = %v; want %q", tc.at, got, tc.want)
		}
	}
}
