package kauth

import (
	"fmt"
	"testing"
	"time"

	"github.com/kauth/kauth/krx"
)

// The turnover's table: when the Manager plans the next refresh of a token,
// for a token received at every hour of the KST day, read in any zone.

var (
	turnKIS = policy{ahead: 30 * time.Minute, margin: time.Minute, minInterval: 61 * time.Second, budget: 3 * time.Minute,
		turn: &Turnover{From: 7*time.Hour + 30*time.Minute, To: 8*time.Hour + 30*time.Minute, Calendar: krx.Default()}, fresh: 6 * time.Hour}
	// Monday 2026-12-07 and the days around it.
	monday = time.Date(2026, 12, 7, 0, 0, 0, 0, KST)
	zones  = []*time.Location{KST, time.UTC, time.FixedZone("EST", -5*3600), time.FixedZone("NPT", 5*3600+45*60)}
)

// at is the time hm ("15:04" or "15:04:05") of day.
func at(day time.Time, hm string) time.Time {
	var h, m, s int
	fmt.Sscanf(hm, "%d:%d:%d", &h, &m, &s)
	return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second)
}

// TestTurnoverEveryHour: a 24 h KIS token received on a Monday at every
// hour is turned over on Tuesday at 07:30 KST exactly when its refresh
// would otherwise come during Tuesday's session (received 10:00 to 15:00),
// and refreshed as usual otherwise; the same in every zone, and with the
// clock at every hour of its life.
func TestTurnoverEveryHour(t *testing.T) {
	tuesday := monday.AddDate(0, 0, 1)
	for h := range 24 {
		issued := monday.Add(time.Duration(h) * time.Hour)
		tok := tokAt("A", issued, 24*time.Hour)
		normal := tok.ExpiresAt.Add(-30 * time.Minute)
		want, wantTurn := normal, false
		if h >= 10 && h <= 15 {
			want, wantTurn = at(tuesday, "07:30"), true
		}
		for _, z := range zones {
			tz := tok
			tz.IssuedAt, tz.ExpiresAt = tok.IssuedAt.In(z), tok.ExpiresAt.In(z)
			// The plan holds at every hour of the token's life before the
			// window closes; after it, the refresh comes as usual.
			for now := issued; now.Before(tok.ExpiresAt); now = now.Add(time.Hour) {
				got, turn := turnKIS.plan(tz, now.In(z), false)
				w, wt := want, wantTurn
				if wantTurn && !now.Before(at(tuesday, "08:30")) {
					w, wt = normal, false
				}
				if !got.Equal(w) || turn != wt {
					t.Fatalf("received %s, now %s (%s): plan = %v, %v; want %v, %v",
						issued.Format("15:04"), now.In(KST).Format("Mon 15:04"), z, got.In(KST), turn, w.In(KST), wt)
				}
				if got.After(turnKIS.usableUntil(tok)) {
					t.Fatalf("received %s: refresh at %v, past the margin (%v)", issued.Format("15:04"), got, turnKIS.usableUntil(tok))
				}
			}
		}
		// Without a Turnover the plan is the usual one.
		plain := turnKIS
		plain.turn = nil
		if got, turn := plain.plan(tok, issued, false); !got.Equal(normal) || turn {
			t.Errorf("no Turnover, received %s: plan = %v, %v; want %v, false", issued.Format("15:04"), got, turn, normal)
		}
	}
}

func TestTurnoverEdges(t *testing.T) {
	tuesday := monday.AddDate(0, 0, 1)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name string
		pol  policy
		tok  Token
		now  time.Time
		same bool
		want time.Time // zero: the usual refresh, ExpiresAt - 30 min
		turn bool
	}{
		{name: "Friday 14:00: expires Saturday, no session in the way", tok: tokAt("A", at(monday.AddDate(0, 0, 4), "14:00"), day)},
		{name: "Thursday 14:00 before Christmas: the market is closed on Friday", tok: tokAt("A", time.Date(2026, 12, 24, 14, 0, 0, 0, KST), day)},
		{name: "2026-12-30 14:00: the year-end closure", tok: tokAt("A", time.Date(2026, 12, 30, 14, 0, 0, 0, KST), day)},
		{name: "Sunday 14:00: Monday's session, turned over Monday 07:30", tok: tokAt("A", at(monday.AddDate(0, 0, -1), "14:00"), day),
			want: at(monday, "07:30"), turn: true},
		{name: "asked inside the window: the turnover is due", tok: tokAt("A", at(monday, "14:00"), day), now: at(tuesday, "08:00"),
			want: at(tuesday, "07:30"), turn: true},
		{name: "asked once the window closed: the usual refresh", tok: tokAt("A", at(monday, "14:00"), day), now: at(tuesday, "08:30")},
		{name: "issued 03:00, 8 h life: 6 h after it falls past the window", tok: tokAt("A", at(tuesday, "03:00"), 8*time.Hour)},
		{name: "issued 02:00, 10 h life: turned over 6 h after it, at 08:00", tok: tokAt("A", at(tuesday, "02:00"), 10*time.Hour),
			want: at(tuesday, "08:00"), turn: true},
		{name: "issued 01:00, 10 h life: the window's start", tok: tokAt("A", at(tuesday, "01:00"), 10*time.Hour),
			want: at(tuesday, "07:30"), turn: true},
		{name: "a broker with no same-token window: never within the spacing of the issue", pol: withFresh(turnKIS, 0),
			tok: tokAt("A", at(tuesday, "08:00"), 2*time.Hour+40*time.Minute), want: at(tuesday, "08:01:01"), turn: true},
		{name: "received at the window's end, due in the session: no turnover within the spacing", pol: withFresh(turnKIS, 0),
			tok: tokAt("A", at(tuesday, "08:29:30"), 80*time.Minute), want: at(tuesday, "09:29:30")},
		{name: "the broker just handed this token back: no turnover", tok: tokAt("A", at(monday, "14:00"), day), now: at(tuesday, "07:40"), same: true,
			want: at(tuesday, "13:30")},
		{name: "unknown IssuedAt: no turnover", tok: Token{AccessToken: "A", ExpiresAt: at(tuesday, "14:00")}},
		{name: "a window after the session is no turnover", pol: withWindow(turnKIS, 16*time.Hour, 17*time.Hour), tok: tokAt("A", at(monday, "14:00"), day)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := tc.pol
			if pol.turn == nil {
				pol = turnKIS
			}
			now := tc.now
			if now.IsZero() {
				now = tc.tok.IssuedAt
				if now.IsZero() {
					now = tc.tok.ExpiresAt.Add(-10 * time.Hour)
				}
			}
			want := tc.want
			if want.IsZero() {
				want = tc.tok.ExpiresAt.Add(-30 * time.Minute)
			}
			if got, turn := pol.plan(tc.tok, now, tc.same); !got.Equal(want) || turn != tc.turn {
				t.Errorf("plan = %v, %v; want %v, %v", got.In(KST), turn, want.In(KST), tc.turn)
			}
		})
	}
}

func withFresh(p policy, d time.Duration) policy { p.fresh = d; return p }

func withWindow(p policy, from, to time.Duration) policy {
	w := *p.turn
	w.From, w.To = from, to
	p.turn = &w
	return p
}

// TestTurnoverRefresh: the refresh that the turnover starts issues inside
// the window, and one started before it adopts what the store holds.
func TestTurnoverRefresh(t *testing.T) {
	tuesday := monday.AddDate(0, 0, 1)
	tok := tokAt("A", at(monday, "14:00"), 24*time.Hour)
	for _, tc := range []struct {
		now  time.Time
		want verb
	}{
		{at(tuesday, "07:00"), adopt},
		{at(tuesday, "07:30"), issue},
		{at(tuesday, "08:29"), issue},
		{at(tuesday, "09:00"), adopt},
	} {
		d := turnKIS.beforeIssue(before{now: tc.now, stored: Entry{Token: tok, LastIssue: tok.IssuedAt}, ahead: true})
		if d.verb != tc.want {
			t.Errorf("refresh ahead at %s: %v; want %v", tc.now.Format("15:04"), d.verb, tc.want)
		}
	}
}

func TestTurnoverValidate(t *testing.T) {
	cal := krx.Default()
	for _, tc := range []struct {
		w  *Turnover
		ok bool
	}{
		{nil, true},
		{&Turnover{From: 7 * time.Hour, To: 8 * time.Hour, Calendar: cal}, true},
		{&Turnover{From: 7 * time.Hour, To: 8 * time.Hour}, false},
		{&Turnover{From: 8 * time.Hour, To: 7 * time.Hour, Calendar: cal}, false},
		{&Turnover{From: -time.Hour, To: 7 * time.Hour, Calendar: cal}, false},
		{&Turnover{From: 7 * time.Hour, To: 25 * time.Hour, Calendar: cal}, false},
	} {
		if err := tc.w.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v; want ok %v", tc.w, err, tc.ok)
		}
	}
}

func TestSameTokenWindow(t *testing.T) {
	if got := SameTokenWindow(nil); got != 0 {
		t.Errorf("SameTokenWindow(nil) = %v; want 0", got)
	}
}

// TestPlanRefresh: what a tool reading the store is told is what the
// Manager plans.
func TestPlanRefresh(t *testing.T) {
	cfg := Config{Provider: sameWindowProvider{}, Turnover: turnKIS.turn}
	tok := tokAt("A", at(monday, "14:00"), 24*time.Hour)
	if got, turn := PlanRefresh(cfg, tok, at(monday, "14:00")); !got.Equal(at(monday.AddDate(0, 0, 1), "07:30")) || !turn {
		t.Errorf("PlanRefresh = %v, %v; want Tuesday 07:30, a turnover", got, turn)
	}
	cfg.Turnover = nil
	if got, turn := PlanRefresh(cfg, tok, at(monday, "14:00")); !got.Equal(at(monday.AddDate(0, 0, 1), "13:30")) || turn {
		t.Errorf("PlanRefresh without Turnover = %v, %v; want Tuesday 13:30", got, turn)
	}
}

type sameWindowProvider struct{ Provider }

func (sameWindowProvider) SameTokenWindow() time.Duration { return 6 * time.Hour }

// TestTurnoverLateOpenings: on the days KRX opens at 10:00 (the first
// trading day of a year, the 수능 day) a refresh due between 09:00 and
// 10:00 is outside the session and comes as usual, where on an ordinary
// day it is turned over; and on the 수능 day, which closes at 16:30, a
// refresh due at 16:00 is in the session and turned over.
func TestTurnoverLateOpenings(t *testing.T) {
	day := func(s string) time.Time {
		d, err := time.ParseInLocation(time.DateOnly, s, KST)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct {
		name     string
		refresh  time.Time // when the token's refresh is due
		turnover bool
	}{
		{"ordinary day 09:30", at(day("2026-11-20"), "09:30"), true},
		{"수능 09:30", at(day("2026-11-19"), "09:30"), false},
		{"수능 16:00", at(day("2026-11-19"), "16:00"), true},
		{"ordinary day 16:00", at(day("2026-11-20"), "16:00"), false},
		{"first trading day 09:30", at(day("2027-01-04"), "09:30"), false},
		{"first trading day 15:00", at(day("2027-01-04"), "15:00"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A 24 h token whose refresh (30 min ahead) falls at tc.refresh.
			issued := tc.refresh.Add(30*time.Minute - 24*time.Hour)
			tok := tokAt("A", issued, 24*time.Hour)
			got, turn := turnKIS.plan(tok, issued, false)
			want := tc.refresh
			if tc.turnover {
				want = at(midnightKST(tc.refresh), "07:30")
			}
			if turn != tc.turnover || !got.Equal(want) {
				t.Errorf("plan = %v, %v; want %v, %v", got.In(KST), turn, want.In(KST), tc.turnover)
			}
		})
	}
}
