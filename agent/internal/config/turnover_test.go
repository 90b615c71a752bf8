package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/config"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/krx"
)

const turnoverConfig = `
krx_holidays: holidays.txt
accounts:
  - name: kis-real
    broker: kis
    env: real
    appkey: {env: K}
    appsecret: {env: S}
    base_url: http://127.0.0.1:9/kis/real
    turnover: 07:30-08:30
  - name: kis-plain
    broker: kis
    env: mock
    appkey: {env: K}
    appsecret: {env: S}
    base_url: http://127.0.0.1:9/kis/mock
`

func turnoverEnv(k string) string {
	return map[string]string{"K": "made-up-kis-appkey", "S": "made-up-kis-appsecret"}[k]
}

// TestAccountTurnover: an account's turnover window reaches its Resolved
// account with the KRX holidays of krx_holidays, read relative to the
// config file; an account without one has none.
func TestAccountTurnover(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "holidays.txt", "2026-12-08 # a made-up closure", 0o644)
	cfg, err := config.Load(writeFile(t, dir, "kauth.yaml", turnoverConfig, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := config.Resolve(cfg, turnoverEnv, brokers.All())
	if err != nil {
		t.Fatal(err)
	}
	w := rs[0].Turnover
	if w == nil || w.From != 7*time.Hour+30*time.Minute || w.To != 8*time.Hour+30*time.Minute {
		t.Fatalf("kis-real Turnover = %+v; want 07:30 to 08:30", w)
	}
	if w.Calendar.InSession(time.Date(2026, 12, 8, 10, 0, 0, 0, kauth.KST)) {
		t.Errorf("the holiday of krx_holidays is in session: the file was not read")
	}
	if !w.Calendar.InSession(time.Date(2026, 12, 9, 10, 0, 0, 0, kauth.KST)) {
		t.Errorf("a Wednesday morning is not in session")
	}
	if rs[1].Turnover != nil {
		t.Errorf("kis-plain Turnover = %+v; want none", rs[1].Turnover)
	}
}

// TestAccountTurnoverHolidaysEnv: without krx_holidays the file of
// KAUTH_KRX_HOLIDAYS is read, and without either the shipped holidays.
func TestAccountTurnoverHolidaysEnv(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "closures.txt", "2026-12-08", 0o644)
	cfg, err := config.Parse([]byte(strings.Replace(turnoverConfig, "krx_holidays: holidays.txt\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == krx.HolidaysEnv {
			return path
		}
		return turnoverEnv(k)
	}
	rs, err := config.Resolve(cfg, getenv, brokers.All())
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Turnover.Calendar.InSession(time.Date(2026, 12, 8, 10, 0, 0, 0, kauth.KST)) {
		t.Errorf("%s was not read", krx.HolidaysEnv)
	}
	rs, err = config.Resolve(cfg, turnoverEnv, brokers.All())
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Turnover.Calendar.InSession(time.Date(2026, 12, 25, 10, 0, 0, 0, kauth.KST)) {
		t.Errorf("the shipped holidays were not used: Christmas is in session")
	}
}

func TestAccountTurnoverRefused(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		want           []string
	}{
		{"a window backwards", "turnover: 07:30-08:30", "turnover: 08:30-07:30", []string{"kis-real", "turnover"}},
		{"not a window", "turnover: 07:30-08:30", "turnover: early", []string{"kis-real", "turnover"}},
		{"a holiday file that is not there", "krx_holidays: holidays.txt", "krx_holidays: /nonexistent/holidays.txt", []string{"krx_holidays"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(strings.Replace(turnoverConfig, tc.old, tc.new, 1)))
			if err != nil {
				t.Fatal(err)
			}
			_, err = config.Resolve(cfg, turnoverEnv, brokers.All())
			if err == nil {
				t.Fatal("Resolve succeeded; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestAccountWSQuietOffHours: ws_quiet_off_hours gives the account the KRX
// calendar of krx_holidays, without a turnover window.
func TestAccountWSQuietOffHours(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "holidays.txt", "2026-12-08", 0o644)
	doc := strings.Replace(turnoverConfig, "    turnover: 07:30-08:30\n", "    ws_quiet_off_hours: true\n", 1)
	cfg, err := config.Load(writeFile(t, dir, "kauth.yaml", doc, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := config.Resolve(cfg, turnoverEnv, brokers.All())
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Turnover != nil || rs[0].Calendar == nil || !rs[0].WSQuietOffHours {
		t.Fatalf("kis-real: Turnover %v, Calendar %v, WSQuietOffHours %v; want a calendar only", rs[0].Turnover, rs[0].Calendar, rs[0].WSQuietOffHours)
	}
	if got := rs[0].Calendar.ClosedUntil(time.Date(2026, 12, 8, 10, 0, 0, 0, kauth.KST), 30*time.Minute); got.IsZero() {
		t.Errorf("the holiday of krx_holidays is not closed")
	}
	if rs[1].Calendar != nil {
		t.Errorf("kis-plain has a calendar")
	}
}

// TestFromEnvTurnover: in the environment-only mode KAUTH_TURNOVER is every
// account's turnover window.
func TestFromEnvTurnover(t *testing.T) {
	env := map[string]string{"KIS_APPKEY": "made-up-kis-appkey", "KIS_APPSECRET": "made-up-kis-appsecret",
		"KIS_BASE_URL": "http://127.0.0.1:9/kis/real", "KAUTH_TURNOVER": "07:00-08:00"}
	getenv := func(k string) string { return env[k] }
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := config.Resolve(cfg, getenv, brokers.All())
	if err != nil {
		t.Fatal(err)
	}
	if w := rs[0].Turnover; w == nil || w.From != 7*time.Hour || w.To != 8*time.Hour {
		t.Errorf("kis-real Turnover = %+v; want 07:00 to 08:00", w)
	}
}
