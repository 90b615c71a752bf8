// Package krx knows the trading calendar of the Korea Exchange (KRX): which
// days the stock market trades, and its regular session (09:00–15:30 KST,
// or the hours of a day that trades at others). kauth uses it to place
// token turnovers outside trading hours.
//
// The holidays come from a file of one date a line (YYYY-MM-DD, in KST;
// '#' starts a comment). A date followed by a window of the day
// ("2026-11-19 10:00-16:30") is instead a trading day with those regular
// hours: KRX opens the first trading day of each year at 10:00 for its
// opening ceremony, and the day of the college entrance exam (수능) at
// 10:00 with the close moved to 16:30. The file for this year and the next
// ships with the package (Default); a user whose year changed, or whose
// exchange declared a temporary holiday, points HolidaysEnv or a path
// option at a file of their own.
package krx

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// HolidaysEnv names the environment variable that holds the path of a
// holiday file replacing the shipped one.
const HolidaysEnv = "KAUTH_KRX_HOLIDAYS"

// The regular session of an ordinary trading day, as offsets from
// midnight KST.
const (
	Open  = 9 * time.Hour
	Close = 15*time.Hour + 30*time.Minute
)

// KST is Korea Standard Time (UTC+09:00, no daylight saving).
var KST = time.FixedZone("KST", 9*60*60)

//go:embed holidays.txt
var shipped string

// Calendar is a set of KRX holidays; every other weekday is a trading
// day. Its zero value knows no holiday (weekends only). A Calendar is not
// changed once built and is safe for concurrent use.
type Calendar struct {
	holidays map[date]bool
	hours    map[date]hours // trading days whose regular session is not Open to Close
	first    int            // the first and last year the file covers (0: none)
	last     int
}

// hours is a day's regular session, as offsets from midnight KST.
type hours struct{ open, close time.Duration }

type date struct {
	y int
	m time.Month
	d int
}

// Default returns the calendar of the holidays shipped with the package.
func Default() *Calendar {
	c, err := Parse(strings.NewReader(shipped))
	if err != nil {
		panic("krx: shipped holidays: " + err.Error())
	}
	return c
}

// Load returns the calendar of the holiday file at path; an empty path
// means the file named by HolidaysEnv, or Default if that is unset.
func Load(path string) (*Calendar, error) {
	if path == "" {
		path = os.Getenv(HolidaysEnv)
	}
	if path == "" {
		return Default(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("krx: reading holidays: %w", err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("krx: %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a holiday file: one date a line (YYYY-MM-DD), blank lines
// and text after '#' ignored. A date followed by a window
// ("YYYY-MM-DD HH:MM-HH:MM") is a trading day whose regular session is
// that window. A date may be listed once.
func Parse(r io.Reader) (*Calendar, error) {
	c := &Calendar{holidays: map[date]bool{}, hours: map[date]hours{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) > 2 {
			return nil, fmt.Errorf("line %d: %q: want a date (YYYY-MM-DD), optionally followed by its hours (HH:MM-HH:MM)", n, strings.TrimSpace(line))
		}
		t, err := time.ParseInLocation(time.DateOnly, fields[0], KST)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q is not a date (YYYY-MM-DD)", n, fields[0])
		}
		d := dateOf(t)
		if _, ok := c.hours[d]; ok || c.holidays[d] {
			return nil, fmt.Errorf("line %d: %s is listed twice", n, fields[0])
		}
		if len(fields) == 2 {
			open, closing, err := ParseWindow(fields[1])
			if err != nil {
				return nil, fmt.Errorf("line %d: %s: the hours %q: want HH:MM-HH:MM in KST, open before close", n, fields[0], fields[1])
			}
			c.hours[d] = hours{open, closing}
		} else {
			c.holidays[d] = true
		}
		if c.first == 0 || t.Year() < c.first {
			c.first = t.Year()
		}
		c.last = max(c.last, t.Year())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading holidays: %w", err)
	}
	return c, nil
}

func dateOf(t time.Time) date {
	y, m, d := t.In(KST).Date()
	return date{y, m, d}
}

// Covers reports whether the calendar lists holidays for the KST year of
// t: a year it does not cover is taken as weekends only.
func (c *Calendar) Covers(t time.Time) bool {
	y := t.In(KST).Year()
	return c != nil && c.first != 0 && c.first <= y && y <= c.last
}

// TradingDay reports whether the market trades on the KST date of t.
func (c *Calendar) TradingDay(t time.Time) bool {
	t = t.In(KST)
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false
	}
	return c == nil || !c.holidays[dateOf(t)]
}

// Hours returns the regular session of the KST date of t, as offsets from
// midnight KST: Open and Close unless the calendar lists other hours for
// that day. ok is false if the market does not trade that day.
func (c *Calendar) Hours(t time.Time) (open, close time.Duration, ok bool) {
	if !c.TradingDay(t) {
		return 0, 0, false
	}
	if c != nil {
		if h, ok := c.hours[dateOf(t)]; ok {
			return h.open, h.close, true
		}
	}
	return Open, Close, true
}

// InSession reports whether t falls in the regular session of a trading
// day (09:00 to 15:30 KST, or the day's own hours).
func (c *Calendar) InSession(t time.Time) bool {
	open, closing, ok := c.Hours(t)
	if !ok {
		return false
	}
	since := t.Sub(Midnight(t))
	return since >= open && since < closing
}

// NextOpen returns the start of the first regular session that begins
// after t.
func (c *Calendar) NextOpen(t time.Time) time.Time {
	day := Midnight(t)
	for i := 0; i < 400; i++ {
		if open, _, ok := c.Hours(day); ok && day.Add(open).After(t) {
			return day.Add(open)
		}
		day = day.AddDate(0, 0, 1)
	}
	return time.Time{} // a calendar with no trading day in a year
}

// Midnight returns the start of the KST day of t.
func Midnight(t time.Time) time.Time {
	y, m, d := t.In(KST).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, KST)
}

// ParseWindow reads a window of the day written "HH:MM-HH:MM" (KST), such
// as "07:30-08:30", as offsets from midnight. The start must come before
// the end.
func ParseWindow(s string) (from, to time.Duration, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if ok {
		from, err = clock(a)
	}
	if ok && err == nil {
		to, err = clock(b)
	}
	if !ok || err != nil || from >= to {
		return 0, 0, fmt.Errorf("krx: window %q: want HH:MM-HH:MM in KST, start before end (e.g. 07:30-08:30)", s)
	}
	return from, to, nil
}

func clock(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "24:00" {
		return 24 * time.Hour, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, err
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// ClosedUntil returns, if the market is closed at t and will not open
// within lead, when it is lead before the next session's open; else zero.
// A realtime.Session uses it to reconnect quietly while nothing trades.
func (c *Calendar) ClosedUntil(t time.Time, lead time.Duration) time.Time {
	if c.InSession(t) {
		return time.Time{}
	}
	open := c.NextOpen(t)
	if open.IsZero() {
		return time.Time{}
	}
	if until := open.Add(-lead); t.Before(until) {
		return until
	}
	return time.Time{}
}
