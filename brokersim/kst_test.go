package brokersim

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // so that the TZ re-executions below find their zones anywhere

	"github.com/kauth/kauth"
)

// kstInstants are clock readings whose KST dates differ from their UTC ones.
var kstInstants = []time.Time{
	epoch,
	time.Date(2024, 12, 31, 15, 30, 0, 0, time.UTC), // 2025-01-01 00:30 KST
	time.Date(2024, 2, 28, 20, 0, 59, 0, time.UTC),  // 2024-02-29 05:00:59 KST (leap day)
	time.Date(2025, 3, 9, 6, 59, 59, 0, time.UTC),   // the day New York moves to DST
}

// kstWall formats t as KST wall time without any zone machinery: shift the
// UTC reading by nine hours.
func kstWall(t time.Time, layout string) string {
	return t.UTC().Add(9 * time.Hour).Format(layout)
}

// issueAt issues a KIS and a Kiwoom token with the clock at now and returns
// the expiry strings the brokers printed.
func issueAt(t *testing.T, now time.Time) (kis, kiwoom string) {
	t.Helper()
	sim, ts := newSim(t)
	sim.Clock = func() time.Time { return now }
	return kisIssue(t, ts, DemoKISReal).str("access_token_token_expired"),
		kiwoomIssue(t, ts, kauth.Real, DemoKiwoomReal).str("expires_dt")
}

func TestExpiryPrintedInKST(t *testing.T) {
	for _, now := range kstInstants {
		kis, kiwoom := issueAt(t, now)
		if want := kstWall(now.Add(24*time.Hour), "2006-01-02 15:04:05"); kis != want {
			t.Errorf("at %v: access_token_token_expired = %q; want %q", now, kis, want)
		}
		if want := kstWall(now.Add(24*time.Hour), "20060102150405"); kiwoom != want {
			t.Errorf("at %v: expires_dt = %q; want %q", now, kiwoom, want)
		}
	}
}

const tzChildEnv = "BROKERSIM_TZ_CHILD"

// TestExpiryIndependentOfTZ re-runs the test binary under several TZ
// settings (time.Local is fixed at start-up, so t.Setenv cannot change it)
// and checks that every run prints the same expiry strings.
func TestExpiryIndependentOfTZ(t *testing.T) {
	if os.Getenv(tzChildEnv) == "1" {
		_, off := time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC).In(time.Local).Zone()
		fmt.Printf("TZCHILD local-offset %d\n", off)
		for _, now := range kstInstants {
			kis, kiwoom := issueAt(t, now)
			fmt.Printf("TZCHILD %s|%s\n", kis, kiwoom)
		}
		return
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	zones := []struct {
		tz     string
		offset int // the zone's UTC offset in January, to prove TZ took effect
	}{
		{"UTC", 0},
		{"America/New_York", -5 * 3600},
		{"Asia/Seoul", 9 * 3600},
	}
	var first string
	for _, z := range zones {
		cmd := exec.Command(os.Args[0], "-test.run=^TestExpiryIndependentOfTZ$", "-test.count=1")
		cmd.Env = append(os.Environ(), tzChildEnv+"=1", "TZ="+z.tz)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("TZ=%s: %v\n%s", z.tz, err, out)
		}
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "TZCHILD ") {
				lines = append(lines, strings.TrimPrefix(l, "TZCHILD "))
			}
		}
		if len(lines) != 1+len(kstInstants) {
			t.Fatalf("TZ=%s: child printed %q", z.tz, out)
		}
		if want := fmt.Sprintf("local-offset %d", z.offset); lines[0] != want {
			t.Fatalf("TZ=%s: child reports %q; want %q (TZ not in effect)", z.tz, lines[0], want)
		}
		got := strings.Join(lines[1:], "\n")
		for i, now := range kstInstants {
			want := kstWall(now.Add(24*time.Hour), "2006-01-02 15:04:05") + "|" + kstWall(now.Add(24*time.Hour), "20060102150405")
			if lines[1+i] != want {
				t.Errorf("TZ=%s: at %v printed %q; want %q", z.tz, now, lines[1+i], want)
			}
		}
		if first == "" {
			first = got
		} else if got != first {
			t.Errorf("TZ=%s printed\n%s\nbut TZ=%s printed\n%s", z.tz, got, zones[0].tz, first)
		}
	}
}
