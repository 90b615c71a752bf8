package longtest

import (
	"fmt"
	"testing"
)

func TestEnabled(t *testing.T) {
	for _, tc := range []struct {
		long string
		want bool
	}{
		{"", false},
		{"0", false},
		{"1", true},
		{"yes", true},
	} {
		t.Run(tc.long, func(t *testing.T) {
			t.Setenv(EnvVar, tc.long)
			if got := Enabled(); got != tc.want {
				t.Errorf("Enabled() with %s=%q = %v; want %v", EnvVar, tc.long, got, tc.want)
			}
		})
	}
}

// recorder captures what Skip does to a test.
type recorder struct {
	testing.TB
	skipped string
}

func (r *recorder) Helper()                          {}
func (r *recorder) Skipf(format string, args ...any) { r.skipped = fmt.Sprintf(format, args...) }

func TestSkip(t *testing.T) {
	t.Setenv(EnvVar, "")
	r := &recorder{TB: t}
	Skip(r, "a Sentinel failover")
	if want := "long test (a Sentinel failover): set KAUTH_LONG=1 to run it"; r.skipped != want {
		t.Errorf("Skip without %s said %q; want %q", EnvVar, r.skipped, want)
	}
	t.Setenv(EnvVar, "1")
	r = &recorder{TB: t}
	Skip(r, "a Sentinel failover")
	if r.skipped != "" {
		t.Errorf("Skip with %s=1 skipped: %q", EnvVar, r.skipped)
	}
}
