package main

import (
	"log/slog"
)

// openRedis opens the Redis store at rawURL.
func (c *cli) openRedis(rawURL string, log *slog.Logger) (*openedStore, error) {
	return nil, configErrorf("kauth: KAUTH_STORE=%s: the Redis store is not available in this build", redactURL(rawURL))
}
