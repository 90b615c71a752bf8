package redis_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/store/redis"
)

// TestWatchScopedByDatabaseAndPrefix: Redis pub/sub ignores the selected
// database, so a changes channel named by the prefix alone woke every
// kauth on the server. A change on another database, or under another
// prefix, must not reach a Watch; one on its own database and prefix does.
func TestWatchScopedByDatabaseAndPrefix(t *testing.T) {
	prefix := testredis.Prefix(t)
	key := newKey()
	onDB := func(db int) *goredis.Client {
		o := testredis.Options(t)
		o.DB = db
		c := goredis.NewClient(o)
		t.Cleanup(func() { c.Close() })
		return c
	}
	other := 14
	if testredis.Options(t).DB == 14 {
		other = 15
	}
	mine := onDB(testredis.Options(t).DB)
	watcher := newStore(t, mine, key, redis.WithPrefix(prefix))
	peer := newStore(t, mine, key, redis.WithPrefix(prefix))
	otherDB := newStore(t, onDB(other), key, redis.WithPrefix(prefix))
	otherPrefix := newStore(t, mine, key, redis.WithPrefix(prefix+"x"))
	t.Cleanup(func() {
		ctx := context.Background()
		otherDB.Delete(ctx, keyMock)
		otherPrefix.Delete(ctx, keyMock)
	})

	ctx, cancel := context.WithCancel(t.Context())
	changes := make(chan kauth.Change, 100)
	done := make(chan error, 1)
	go func() { done <- watcher.Watch(ctx, func(c kauth.Change) { changes <- c }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch = %v", err)
		}
	}()

	// Wait until the watch is subscribed: a change through peer arrives.
	marker := kauth.Key{Broker: kauth.KIS, Env: kauth.Mock, Fingerprint: "000000000001"}
	last := kauth.Key{Broker: kauth.KIS, Env: kauth.Mock, Fingerprint: "000000000002"}
	awaitMarker := func() []kauth.Change {
		t.Helper()
		var before []kauth.Change
		deadline := time.After(10 * time.Second)
		for {
			select {
			case c := <-changes:
				switch c.Key {
				case last:
					return before
				case marker: // a late answer to the subscription's probes
				default:
					before = append(before, c)
				}
			case <-deadline:
				t.Fatal("Watch did not report a change on its own database and prefix within 10s")
			}
		}
	}
	subscribed := false
	for i := 0; !subscribed && i < 200; i++ {
		if err := peer.Save(ctx, marker, entry()); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-changes:
			subscribed = c.Key == marker
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !subscribed {
		t.Fatal("Watch never reported a change on its own database and prefix")
	}

	// Changes elsewhere, then one of its own: pub/sub keeps the order of
	// publications, so anything from elsewhere would arrive before it.
	for _, s := range []*redis.Store{otherDB, otherPrefix} {
		if err := s.Save(ctx, keyMock, entry()); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, keyMock); err != nil {
			t.Fatal(err)
		}
	}
	if err := peer.Delete(ctx, marker); err != nil {
		t.Fatal(err)
	}
	if err := peer.Delete(ctx, last); err != nil {
		t.Fatal(err)
	}
	if before := awaitMarker(); len(before) != 0 {
		t.Fatalf("Watch was woken by changes on another database or prefix: %+v", before)
	}
}
