// Package inittrace measures what a package's initialization costs, for
// tests that keep the quick commands' start cheap: every kauth command
// runs the init of every package the one binary links.
package inittrace

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

const childEnv = "KAUTH_INITTRACE_CHILD"

// Allocs runs the calling test again in a child process with
// GODEBUG=inittrace=1 and returns the allocations and bytes that pkg's
// init made there. In that child it returns ok false, and the test
// should return at once.
func Allocs(t *testing.T, pkg string) (allocs, bytes int, ok bool) {
	t.Helper()
	if os.Getenv(childEnv) == "1" {
		return 0, 0, false
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^"+regexp.QuoteMeta(t.Name())+"$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// "init github.com/kauth/kauth/agent/internal/config @1.2 ms, 0.44 ms clock, 144992 bytes, 1220 allocs"
	m := regexp.MustCompile(`(?m)^init ` + regexp.QuoteMeta(pkg) + ` @.* ([0-9]+) bytes, ([0-9]+) allocs$`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no init line for %s in:\n%s", pkg, out)
	}
	bytes, _ = strconv.Atoi(m[1])
	allocs, _ = strconv.Atoi(m[2])
	return allocs, bytes, true
}
