package pacing_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/pacing"
)

// groupProvider is a Provider whose broker limits calls per API group:
// /slow is group SLOW at 1 call a second, /fast group FAST at 10, anything
// else no group.
type groupProvider struct{ kauth.Provider }

func (groupProvider) RateGroup(method, path string, now time.Time) (string, float64) {
	switch path {
	case "/slow":
		return "SLOW", 1
	case "/fast":
		return "FAST", 10
	}
	return "", 0
}

func newGroups(t *testing.T) *pacing.Groups {
	t.Helper()
	now := func() time.Time { return time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC) }
	g := pacing.NewGroups(groupProvider{}, "/base/", now, nil)
	if g == nil {
		t.Fatal("NewGroups of a broker with groups = nil")
	}
	return g
}

func req(path string) *http.Request {
	r, _ := http.NewRequest("GET", "http://broker.example/base"+path, nil)
	return r
}

func TestGroupsOf(t *testing.T) {
	if g := pacing.NewGroups(struct{ kauth.Provider }{}, "", time.Now, nil); g != nil {
		t.Errorf("NewGroups of a broker without groups = %v; want nil", g)
	}
	g := newGroups(t)
	if b := g.Of(req("/other")); b != nil {
		t.Errorf("Of(a call of no group) = %v; want nil", b)
	}
	slow, fast := g.Of(req("/slow")), g.Of(req("/fast"))
	if slow == nil || fast == nil || slow == fast {
		t.Fatalf("Of(/slow), Of(/fast) = %p, %p; want two budgets", slow, fast)
	}
	if again := g.Of(req("/slow")); again != slow {
		t.Errorf("Of(/slow) again = %p; want the same budget %p", again, slow)
	}
}

// A group told to hold its calls refuses at once a call whose deadline
// comes first, saying when to retry, and leaves the other groups alone.
func TestGroupHoldsWhatTheBrokerSays(t *testing.T) {
	c := kauth.Credentials{Broker: "toss", Env: kauth.Real}
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		hold   time.Duration
	}{
		{"429 with Retry-After", http.StatusTooManyRequests, http.Header{"Retry-After": {"30"}}, 30 * time.Second},
		{"429 without Retry-After", http.StatusTooManyRequests, http.Header{}, time.Second},
		{"nothing remaining", http.StatusOK, http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"20"}}, 20 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGroups(t)
			slow := g.Of(req("/slow"))
			slow.Observe(&http.Response{StatusCode: tc.status, Header: tc.header})

			ctx, cancel := context.WithTimeout(context.Background(), tc.hold/2)
			defer cancel()
			start := time.Now()
			err := slow.Wait(ctx, c)
			var ke *kauth.Error
			if !errors.Is(err, kauth.ErrRateLimited) || !errors.As(err, &ke) || ke.RetryAfter <= tc.hold/2 || ke.RetryAfter > tc.hold {
				t.Fatalf("Wait = %v; want a rate-limit error with RetryAfter in (%v, %v]", err, tc.hold/2, tc.hold)
			}
			if d := time.Since(start); d > tc.hold/4 {
				t.Errorf("Wait took %v; want an answer at once", d)
			}
			if err := g.Of(req("/fast")).Wait(context.Background(), c); err != nil {
				t.Errorf("another group's Wait = %v; want nil", err)
			}
		})
	}
}
