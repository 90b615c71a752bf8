package brokersim

import (
	"github.com/kauth/kauth/internal/inittrace"
	"testing"
)

// TestInitIsCheap: the kauth binary links the simulator (kauth demo), so
// its initialization runs before every `kauth token`. The fake portfolio
// is made on first use: its 60 holdings' names were 156 of the 215
// allocations the package's init made in the kauth binary (this test's
// binary adds about 40 of its own variables).
func TestInitIsCheap(t *testing.T) {
	allocs, bytes, ok := inittrace.Allocs(t, "github.com/kauth/kauth/brokersim")
	if !ok {
		return
	}
	if allocs > 150 {
		t.Errorf("the package's init made %d allocations (%d bytes); want at most 150", allocs, bytes)
	}
}
