package redis

import (
	"context"
	"strings"
	"testing"

	"github.com/kauth/kauth/internal/testlog"
)

func TestClientLogRepeats(t *testing.T) {
	var logs testlog.Buffer
	clientLogger.Store(logs.Logger())
	t.Cleanup(func() { clientLogger.Store(nil) })
	var c clientLog
	for range 3 {
		c.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 1, "refused")
	}
	c.Printf(context.Background(), "pubsub: reconnecting to new endpoint %s (was %s)", "a", "b")
	if n := len(logs.Warnings()); n != 2 {
		t.Fatalf("3 lines of one format and 1 of another gave %d warnings; want 2:\n%s", n, logs.String())
	}
	if out := logs.String(); !strings.Contains(out, "failed to dial after 1 attempts: refused") || !strings.Contains(out, "kauth: redis client") {
		t.Errorf("the line is not forwarded as written:\n%s", out)
	}
}
