package budget

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// On the way out of Redis the local share begins only after the slots the
// shared budget may have handed out: the last one this process was told
// of and, while the budget was saturated, one more per emission for the
// others until the request that failed.
func TestLocalShareBeginsAfterTheSharedSlots(t *testing.T) {
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { c.Close() })
	// Times an hour ahead, so that the test's own pace does not matter.
	t0 := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name      string
		saturated bool
		sent      time.Time
		want      time.Time // the first local slot
	}{
		{"idle budget", false, t0.Add(300 * time.Millisecond), t0.Add(100*time.Millisecond + 200*time.Millisecond)},
		{"saturated, failed at once", true, t0, t0.Add(100*time.Millisecond + 200*time.Millisecond)},
		{"saturated, failed 300ms later", true, t0.Add(300 * time.Millisecond), t0.Add(400*time.Millisecond + 200*time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewShared(Config{Client: c, Key: "k", PerSecond: 10, LocalShare: 0.5, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			s.sharedEnd, s.lastReply, s.saturated = t0.Add(100*time.Millisecond), t0, tc.saturated
			s.fallDown(errors.New("gone"), tc.sent)
			slot, _ := s.local.reserve(time.Now(), time.Time{})
			if !slot.Equal(tc.want) {
				t.Errorf("first local slot = t0+%v; want t0+%v", slot.Sub(t0), tc.want.Sub(t0))
			}
		})
	}
}
