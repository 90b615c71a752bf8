package redis

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// clientLogRepeat is how long a line of the Redis client is not logged
// again: while Redis is down, the client logs each failed dial.
const clientLogRepeat = time.Minute

var (
	clientLogger  atomic.Pointer[slog.Logger]
	clientLogOnce sync.Once
)

// routeClientLog makes l the receiver of go-redis's log lines.
func routeClientLog(l *slog.Logger) {
	clientLogger.Store(l)
	clientLogOnce.Do(func() { goredis.SetLogger(new(clientLog)) })
}

// clientLog is go-redis's logger: it forwards each line to the logger of
// the last Store made, and drops lines of a format already logged within
// clientLogRepeat, counting them.
type clientLog struct {
	mu   sync.Mutex
	seen map[string]*clientLine
}

type clientLine struct {
	at      time.Time
	dropped int
}

// Printf implements go-redis's internal logging interface.
func (c *clientLog) Printf(ctx context.Context, format string, v ...any) {
	now := time.Now()
	c.mu.Lock()
	if c.seen == nil {
		c.seen = make(map[string]*clientLine)
	}
	line, ok := c.seen[format]
	if ok && now.Sub(line.at) < clientLogRepeat {
		line.dropped++
		c.mu.Unlock()
		return
	}
	dropped := 0
	if ok {
		dropped = line.dropped
	}
	c.seen[format] = &clientLine{at: now}
	c.mu.Unlock()
	l := clientLogger.Load()
	if l == nil {
		l = slog.Default()
	}
	attrs := []any{slog.String("line", fmt.Sprintf(format, v...))}
	if dropped > 0 {
		attrs = append(attrs, slog.Int("repeats_not_logged", dropped))
	}
	l.WarnContext(ctx, "kauth: redis client", attrs...)
}
