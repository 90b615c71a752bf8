package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth/store/redis"
)

// redisCommands are the calls kauth's Redis store makes, each tried on a
// key of kauth's own under the default prefix: the ACL a kauth user needs
// (the README's Stores section lists it) allows every one.
var redisCommands = []struct {
	name string
	run  func(ctx context.Context, c goredis.UniversalClient, key string) error
}{
	{"SET", func(ctx context.Context, c goredis.UniversalClient, key string) error {
		return c.Set(ctx, key, "doctor", 0).Err()
	}},
	{"GET", func(ctx context.Context, c goredis.UniversalClient, key string) error {
		return c.Get(ctx, key).Err()
	}},
	{"PEXPIRE", func(ctx context.Context, c goredis.UniversalClient, key string) error {
		return c.PExpire(ctx, key, 60_000_000_000).Err()
	}},
	{"INCR", func(ctx context.Context, c goredis.UniversalClient, key string) error {
		return c.Incr(ctx, key+":n").Err()
	}},
	{"DEL", func(ctx context.Context, c goredis.UniversalClient, key string) error {
		return c.Del(ctx, key, key+":n").Err()
	}},
	{"EVAL", func(ctx context.Context, c goredis.UniversalClient, key string) error {
		return c.Eval(ctx, "return redis.call('EXISTS', KEYS[1])", []string{key}).Err()
	}},
	{"SCAN", func(ctx context.Context, c goredis.UniversalClient, key string) error {
		return c.Scan(ctx, 0, redis.DefaultPrefix+":*", 10).Err()
	}},
	{"PUBLISH", func(ctx context.Context, c goredis.UniversalClient, key string) error {
		return c.Publish(ctx, redis.DefaultPrefix+":doctor", "").Err()
	}},
}

// redis checks the Redis behind st: its version, and that this user may
// run every command the store needs. It reports nothing for another store.
func (d *doctor) redis(ctx context.Context, st *openedStore) (reachable bool) {
	rs, ok := st.Store.(*redis.Store)
	if !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	c := rs.Client()
	if err := c.Ping(ctx).Err(); err != nil {
		d.add("redis", checkFail, fmt.Sprintf("%s does not answer: %v", st.name, innermost(err)), "start Redis or correct KAUTH_STORE (host, port, password, database)")
		return false
	}
	version := "an unknown version"
	if info, err := c.Info(ctx, "server").Result(); err == nil {
		for _, l := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "redis_version:"); ok {
				version = "Redis " + v
			}
		}
	}
	// A hash tag keeps both keys in one slot of a cluster.
	key := redis.DefaultPrefix + ":{doctor}:probe"
	var denied []string
	var names []string
	for _, rc := range redisCommands {
		names = append(names, rc.name)
		if err := rc.run(ctx, c, key); err != nil && !errors.Is(err, goredis.Nil) {
			denied = append(denied, fmt.Sprintf("%s (%v)", rc.name, err))
		}
	}
	if len(denied) > 0 {
		d.add("redis", checkFail, fmt.Sprintf("%s at %s refuses %s", version, st.name, strings.Join(denied, ", ")),
			"allow the user the commands, keys and channels listed in the README's Stores section (ACL SETUSER … ~kauth:* &kauth:* +…), or make the server writable")
		return true
	}
	d.add("redis", checkOK, fmt.Sprintf("%s at %s allows %s", version, st.name, strings.Join(names, ", ")), "")
	return true
}
