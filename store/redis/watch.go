package redis

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
)

// DefaultWatchPing is how long Watch waits for a message before it pings
// Redis, and then for the answer before it takes the connection as dead,
// unless WithWatchPing says otherwise.
const DefaultWatchPing = time.Second

// Backoff of Watch's resubscription after a lost connection.
const (
	watchRetryMin = 50 * time.Millisecond
	watchRetryMax = time.Second
)

// Watch implements kauth.Watcher with pub/sub: Save and Delete publish
// "<store id> <key>" on the changes channel, and Watch calls changed, from
// its own goroutine, for each key that another Store (in this process or
// another) published. It returns an error at once if it cannot subscribe,
// and nil when ctx is done.
//
// Pub/sub delivers nothing that was published while the connection was
// down, so Watch watches the connection itself: a read error, or silence
// past the ping interval with no answer to a PING (a half-open link; see
// WithWatchPing), ends the subscription. Watch then subscribes again, with
// a backoff of up to a second, and once the new subscription is confirmed
// reports kauth.Change{Resync: true} before any further key. A connection
// that the client replaced on its own is reported the same way.
func (s *Store) Watch(ctx context.Context, changed func(kauth.Change)) error {
	ps, err := s.subscribe(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return s.errorf("watch", nil, err)
	}
	for {
		err := s.listen(ctx, ps, changed)
		ps.Close()
		if ctx.Err() != nil {
			return nil
		}
		s.logger.Warn("kauth: redis store: the watch lost its connection; resubscribing (changes made meanwhile are caught up once it is back)",
			slog.String("err", err.Error()))
		wait := watchRetryMin
		for {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			if ps, err = s.subscribe(ctx); err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			wait = min(2*wait, watchRetryMax)
		}
		s.logger.Info("kauth: redis store: the watch is subscribed again")
		changed(kauth.Change{Resync: true})
	}
}

// subscribe subscribes to the changes channel and waits for Redis to
// confirm it.
func (s *Store) subscribe(ctx context.Context) (*goredis.PubSub, error) {
	ps := s.client.Subscribe(ctx, s.channel)
	msg, err := ps.ReceiveTimeout(ctx, 2*s.ping)
	if err == nil {
		if _, ok := msg.(*goredis.Subscription); !ok {
			err = errors.New("unexpected first reply to SUBSCRIBE")
		}
	}
	if err != nil {
		ps.Close()
		return nil, err
	}
	return ps, nil
}

// listen reports the changes that ps receives until ctx is done or the
// connection is found lost; it returns why.
func (s *Store) listen(ctx context.Context, ps *goredis.PubSub, changed func(kauth.Change)) error {
	// A read in progress does not watch ctx: closing ps ends it.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, s.ping)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if isTimeout(err) && !pinged {
				if err := ps.Ping(ctx); err != nil {
					return err
				}
				pinged = true
				continue
			}
			if isTimeout(err) {
				return errors.New("no answer to a ping")
			}
			return err
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Message:
			id, ks, ok := strings.Cut(m.Payload, " ")
			if !ok || id == s.id {
				continue
			}
			if k, ok := parseKey(ks); ok {
				changed(kauth.Change{Key: k})
			}
		case *goredis.Subscription:
			// The client reconnected and resubscribed by itself: what was
			// published in between is lost.
			if m.Kind == "subscribe" {
				changed(kauth.Change{Resync: true})
			}
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
