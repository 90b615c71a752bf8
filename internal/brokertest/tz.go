package brokertest

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // so that TZ=America/New_York loads on any machine
)

// tzChildEnv marks a re-executed test binary that should print its report.
const tzChildEnv = "KAUTH_BROKERTEST_TZ_CHILD"

// tzOffsets are the zones the report is checked under, with the offsets
// each may run at.
var tzOffsets = map[string][]string{"UTC": {"0"}, "America/New_York": {"-18000", "-14400"}, "Asia/Seoul": {"32400"}}

// SameUnderTZ checks that report, which computes expiries one per line,
// gives want in this process and in re-executions of the test binary under
// TZ=UTC, TZ=America/New_York and TZ=Asia/Seoul: expiries must not depend on
// the local time zone. Call it from the top-level test t; in the
// re-executed binary it prints the report for the parent to compare.
func SameUnderTZ(t *testing.T, report func(t *testing.T) string, want string) {
	t.Helper()
	if os.Getenv(tzChildEnv) != "" {
		_, off := time.Now().Zone()
		fmt.Printf("OFFSET %d\n", off)
		for _, line := range strings.Split(strings.TrimSpace(report(t)), "\n") {
			fmt.Println("REPORT " + line)
		}
		return
	}
	if got := strings.TrimSpace(report(t)); got != want {
		t.Errorf("expiries in this process:\n%s\nwant:\n%s", got, want)
	}
	run := "-test.run=^" + t.Name() + "$"
	for _, tz := range []string{"UTC", "America/New_York", "Asia/Seoul"} {
		t.Run(tz, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], run, "-test.count=1")
			// GORACE: a race-enabled child would otherwise linger 1 s at exit.
			cmd.Env = append(os.Environ(), "TZ="+tz, tzChildEnv+"=1", "GORACE=atexit_sleep_ms=0")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("re-executing under TZ=%s: %v\n%s", tz, err, out)
			}
			var report []string
			offset := ""
			for _, line := range strings.Split(string(out), "\n") {
				if r, ok := strings.CutPrefix(line, "REPORT "); ok {
					report = append(report, r)
				}
				if o, ok := strings.CutPrefix(line, "OFFSET "); ok {
					offset = o
				}
			}
			if wantOffset := tzOffsets[tz]; !slices.Contains(wantOffset, offset) {
				t.Errorf("child under TZ=%s runs at offset %q; want one of %v (is the zone applied?)", tz, offset, wantOffset)
			}
			if got := strings.Join(report, "\n"); got != want {
				t.Errorf("expiries under TZ=%s:\n%s\nwant:\n%s", tz, got, want)
			}
		})
	}
}
