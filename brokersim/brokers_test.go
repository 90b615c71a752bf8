package brokersim

import (
	"slices"
	"testing"

	"github.com/kauth/kauth/brokers"
)

// TestServesEveryListedBroker checks that the simulator's own table and the
// broker list name the same brokers in the same order: a broker added to
// the list needs its simulator family.
func TestServesEveryListedBroker(t *testing.T) {
	if got, want := Brokers(), brokers.Names(); !slices.Equal(got, want) {
		t.Errorf("brokersim serves %v; the list is %v", got, want)
	}
	for _, sb := range simBrokers {
		if sb.expiry == nil || sb.family == "" {
			t.Errorf("%s: incomplete entry %+v", sb.name, sb)
		}
		if sb.family == familyIGW && (sb.call == "" || len(sb.callHeaders) == 0 || sb.callsPerSecond <= 0) {
			t.Errorf("%s: igw entry without its protected call", sb.name)
		}
	}
}
