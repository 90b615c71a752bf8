package budget_test

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth/budget"
	"github.com/kauth/kauth/internal/testredis"
)

// TestInUseIsTheSharedFigure: InUse reads the calls spent by every sharer
// of the budget, on whichever of them asks, without spending any; a
// budget whose Redis cannot be reached has no figure to give.
func TestInUseIsTheSharedFigure(t *testing.T) {
	prefix := testredis.Prefix(t)
	key := prefix + ":{kis/mock/1111111111aa}:budget"
	// 0.1 calls a second: a call takes 10 s to refill, so that the spend
	// is all there when the other sharer looks, however slow the machine.
	spender := newShared(t, testredis.Client(t), key, 0.1, 5)
	onlooker := newShared(t, testredis.Client(t), key, 0.1, 5)
	ctx := t.Context()
	if n, err := onlooker.InUse(ctx); err != nil || n != 0 {
		t.Fatalf("InUse of an untouched budget = %v, %v; want 0", n, err)
	}
	for range 3 {
		if err := spender.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if n, err := onlooker.InUse(ctx); err != nil || n < 2.5 || n > 3 {
			t.Errorf("InUse after another sharer's 3 calls = %v, %v; want about 3, and reading it spends nothing", n, err)
		}
	}

	dead := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { dead.Close() })
	cut, err := budget.NewShared(budget.Config{Client: dead, Key: key, PerSecond: 0.1, Burst: 5, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if n, err := cut.InUse(ctx); err == nil {
		t.Errorf("InUse with Redis out of reach = %v, no error; want an error", n)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("InUse with Redis out of reach took %v; want its timeout (100 ms) or so", took)
	}
}
