package main

import (
	"log/slog"
	"strings"

	"github.com/kauth/kauth/store/file"
	"github.com/kauth/kauth/store/redis"
)

// openRedis opens the Redis store at rawURL. Every host that shares it must
// seal entries with the same key, so KAUTH_KEY is required: a key file on
// one host would lock the others out.
func (c *cli) openRedis(rawURL string, log *slog.Logger) (*openedStore, error) {
	s := c.getenv("KAUTH_KEY")
	if s == "" {
		return nil, configErrorf("kauth: KAUTH_STORE is a Redis URL but KAUTH_KEY is not set; " +
			"every host sharing the store needs the same key (generate one with: openssl rand -base64 32)")
	}
	key, err := file.ParseKey(s)
	if err != nil {
		return nil, configErrorf("kauth: KAUTH_KEY: %v", strings.TrimPrefix(err.Error(), "kauth: "))
	}
	defer clear(key)
	st, err := redis.Open(rawURL, key, redis.WithLogger(log))
	if err != nil {
		return nil, &configError{err}
	}
	return &openedStore{Store: st, name: redactURL(rawURL), close: st.Close}, nil
}
