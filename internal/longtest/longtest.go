// Package longtest puts the tests that are long by nature — real Redis
// Sentinel and Cluster topologies, failovers under load, thirty virtual
// days, the release build — behind one switch, so that `go test -race
// ./...` stays within a few minutes on two cores. CI (.ci/run) sets the
// switch and runs them all, with two of the reliability suite's soak
// variants. (The others have their own switch, KAUTH_SOAK: see
// internal/reliability.)
package longtest

import (
	"os"
	"testing"
)

// EnvVar names the switch: set to anything but "" or "0", the long tests
// run.
const EnvVar = "KAUTH_LONG"

// Enabled reports whether the long tests are asked for.
func Enabled() bool { return Set(os.Getenv(EnvVar)) }

// Set reports whether v turns a switch on: anything but "" or "0".
func Set(v string) bool { return v != "" && v != "0" }

// Skip skips t unless the long tests are asked for, naming what is long
// and how to run it.
func Skip(t testing.TB, why string) {
	t.Helper()
	if !Enabled() {
		t.Skipf("long test (%s): set %s=1 to run it", why, EnvVar)
	}
}
