package bench_test

import (
	"os"
	"testing"

	"github.com/kauth/kauth/internal/reliability"
)

// TestMain lets the storm benchmarks re-execute this binary as their child
// processes.
func TestMain(m *testing.M) {
	if reliability.IsChild() {
		os.Exit(reliability.ChildMain())
	}
	os.Exit(m.Run())
}
