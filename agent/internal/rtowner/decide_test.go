package rtowner

import "testing"

func TestDecide(t *testing.T) {
	other := Record{Owner: "b", Addr: "10.0.0.2:8700", Fence: 5}
	tests := []struct {
		name string
		v    view
		want step
	}{
		{"keeps a lease", view{holding: true, self: "a"}, stepConfirm},
		{"keeps a lease past the deadline", view{holding: true, self: "a", overdue: true}, stepConfirm},
		{"nobody holds it", view{self: "a"}, stepAcquire},
		{"nobody holds it past the deadline", view{self: "a", overdue: true}, stepAcquire},
		{"another holds it", view{held: true, rec: other, self: "a"}, stepRelay},
		{"another holds it; an earlier holder failed", view{held: true, rec: other, self: "a", failed: 4}, stepRelay},
		{"its relay failed", view{held: true, rec: other, self: "a", failed: 5}, stepWait},
		{"its relay failed, past the deadline", view{held: true, rec: other, self: "a", failed: 5, overdue: true}, stepGiveUp},
		{"no address", view{held: true, rec: Record{Owner: "b", Fence: 5}, self: "a"}, stepWait},
		{"no address, past the deadline", view{held: true, rec: Record{Owner: "b", Fence: 5}, self: "a", overdue: true}, stepGiveUp},
		{"its own record, lease lost locally", view{held: true, rec: Record{Owner: "a", Addr: "10.0.0.1:8700", Fence: 6}, self: "a"}, stepWait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.v); got != tt.want {
				t.Errorf("decide(%+v) = %d; want %d", tt.v, got, tt.want)
			}
		})
	}
}
