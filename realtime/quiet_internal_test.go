package realtime

import (
	"testing"
	"time"
)

func TestReconnectWait(t *testing.T) {
	now := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	const minute = time.Minute
	for _, tc := range []struct {
		name           string
		backoff        time.Duration
		quietUntil     time.Time
		waitLo, waitHi time.Duration
		next           time.Duration
	}{
		{"open market: doubled up to MaxBackoff", 20 * time.Second, time.Time{}, 10 * time.Second, 20 * time.Second, 30 * time.Second},
		{"quiet: doubled up to QuietBackoff", 20 * time.Second, now.Add(10 * time.Hour), 10 * time.Second, 20 * time.Second, 40 * time.Second},
		{"quiet, at QuietBackoff", 5 * minute, now.Add(10 * time.Hour), 150 * time.Second, 5 * minute, 5 * minute},
		{"quiet: never past the open", 5 * minute, now.Add(30 * time.Second), 30 * time.Second, 30 * time.Second, 5 * minute},
		{"the spell is over: back within MaxBackoff at once", 5 * minute, now, 15 * time.Second, 30 * time.Second, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 100 {
				wait, next := reconnectWait(tc.backoff, 30*time.Second, 5*minute, now, tc.quietUntil)
				if wait < tc.waitLo || wait > tc.waitHi || next != tc.next {
					t.Fatalf("reconnectWait = %v, %v; want a wait in [%v, %v], next %v", wait, next, tc.waitLo, tc.waitHi, tc.next)
				}
			}
		})
	}
}
