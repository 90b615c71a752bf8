package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/store/file"
	"github.com/kauth/kauth/store/redis"
)

// openRedis opens the Redis store at rawURL. Every host that shares it must
// seal entries with the same key, so KAUTH_KEY is required: a key file on
// one host would lock the others out.
func (c *cli) openRedis(ctx context.Context, rawURL string, log *slog.Logger) (*openedStore, error) {
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
	// One ping finds the mistakes that no retry cures (a database the
	// server does not have, a wrong password) before anything is issued.
	// An unreachable Redis is not one of them: the command goes on, and
	// says so if the token could not be kept. The ping counts against the
	// command's own deadline (ctx), so a stalled path never makes a
	// command outlast its --timeout.
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := st.Ping(ctx); err != nil {
		if msg := redisConfigMistake(err); msg != "" {
			st.Close()
			return nil, configErrorf("kauth: KAUTH_STORE=%s: %s", redactURL(rawURL), msg)
		}
	}
	name := redactURL(rawURL)
	share := &agent.RealtimeShare{Client: st.Client(), Prefix: st.Prefix(), Secret: agent.RealtimeSecret(key)}
	return &openedStore{Store: st, name: name, close: st.Close, realtime: share,
		hint: func(err error) string {
			var op *net.OpError
			if errors.As(err, &op) || errors.Is(err, context.DeadlineExceeded) {
				return "; is Redis running and reachable at " + name + " (KAUTH_STORE)?"
			}
			return ""
		}}, nil
}

// redisConfigMistake says what to fix when Redis refused a connection for
// a reason of the configuration, or "" for any other error.
func redisConfigMistake(err error) string {
	msg := err.Error()
	switch {
	// Redis answers SELECT of a database past its "databases" setting
	// (16 by default) with "ERR DB index is out of range"; servers before
	// 6.0 with "ERR invalid DB index".
	case strings.Contains(msg, "DB index is out of range"), strings.Contains(msg, "invalid DB index"):
		return "Redis has no such database; the number after the host must be below the server's \"databases\" setting (16 by default)"
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "invalid password"), strings.Contains(msg, "invalid username-password"):
		return "Redis refused the user name or password in the URL"
	case strings.Contains(msg, "NOAUTH"):
		return "Redis requires a password: put it in the URL (redis://:PASSWORD@host:port/db)"
	}
	return ""
}
