package kauth

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestRefreshJitterSpreadsKeys: tokens issued together for many app keys
// (an agent starting thousands of accounts) are not all refreshed at the
// same moment. Each key's refresh-ahead window starts later by its own
// share of RefreshJitter, the same for every Manager of that key, never
// before RefreshAhead nor later than half of it; no jitter by default.
func TestRefreshJitterSpreadsKeys(t *testing.T) {
	issued := time.Date(2026, 12, 7, 8, 0, 0, 0, KST)
	tok := Token{AccessToken: "made-up", Type: "Bearer", IssuedAt: issued, ExpiresAt: issued.Add(24 * time.Hour)}
	const ahead, jitter = 30 * time.Minute, 12 * time.Minute
	windowStart := tok.ExpiresAt.Add(-ahead)
	refreshAt := func(key string, jitter time.Duration) time.Time {
		t.Helper()
		m, err := NewManager(Config{
			Credentials:  Credentials{Broker: KIS, Env: Mock, AppKey: key, AppSecret: "made-up-secret"},
			Provider:     unusedProvider{},
			RefreshAhead: ahead, RefreshJitter: jitter,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		return m.newState(tok, issued, false).refreshAt
	}

	if at := refreshAt("PSkeyNoJitter", 0); !at.Equal(windowStart) {
		t.Errorf("without jitter the refresh starts at %v; want %v", at, windowStart)
	}
	minutes := map[int64]bool{}
	for i := range 1000 {
		key := fmt.Sprintf("PSmadeupkey%05d", i)
		at := refreshAt(key, jitter)
		if at.Before(windowStart) || at.After(windowStart.Add(jitter)) {
			t.Fatalf("key %d refreshes at %v, outside [%v, %v]", i, at, windowStart, windowStart.Add(jitter))
		}
		if again := refreshAt(key, jitter); !again.Equal(at) {
			t.Fatalf("key %d: two Managers refresh at %v and %v; want the same time", i, at, again)
		}
		minutes[int64(at.Sub(windowStart)/time.Minute)] = true
	}
	if len(minutes) < int(jitter/time.Minute)*9/10 {
		t.Errorf("1,000 keys refresh in %d distinct minutes of the %v jitter; want them spread over it", len(minutes), jitter)
	}
	// Capped at half the window: a refresh keeps room to finish.
	for i := range 100 {
		if at := refreshAt(fmt.Sprintf("PScapped%03d", i), 10*time.Hour); at.After(windowStart.Add(ahead / 2)) {
			t.Fatalf("refresh at %v, later than half the refresh-ahead window", at)
		}
	}
}

// unusedProvider is a Provider the test never calls.
type unusedProvider struct{}

func (unusedProvider) Issue(context.Context, Credentials) (Token, error) {
	return Token{}, errors.New("not called")
}
func (unusedProvider) Revoke(context.Context, Credentials, string) error { return nil }
