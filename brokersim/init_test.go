package brokersim

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

// TestInitIsCheap: the kauth binary links the simulator (kauth demo), so
// its initialization runs before every `kauth token`. The fake portfolio
// is made on first use: its 60 holdings' names were 156 of the 215
// allocations the package's init made in the kauth binary (this test's
// binary adds about 40 of its own variables).
func TestInitIsCheap(t *testing.T) {
	if os.Getenv("KAUTH_INITTRACE_CHILD") == "1" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestInitIsCheap$")
	cmd.Env = append(os.Environ(), "KAUTH_INITTRACE_CHILD=1", "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	m := regexp.MustCompile(`(?m)^init github\.com/kauth/kauth/brokersim @.* ([0-9]+) bytes, ([0-9]+) allocs$`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no init line for the package in:\n%s", out)
	}
	if allocs, _ := strconv.Atoi(m[2]); allocs > 150 {
		t.Errorf("the package's init made %s allocations (%s bytes); want at most 150", m[2], m[1])
	}
}
