package redis

import (
	"context"
	"strings"

	"github.com/kauth/kauth"
)

// Watch implements kauth.Watcher with pub/sub: Save and Delete publish
// "<store id> <key>" on the changes channel, and Watch calls changed, from
// its own goroutine, for each key that another Store (in this process or
// another) published. It returns an error at once if it cannot subscribe,
// and nil when ctx is done. If the connection drops, the client
// resubscribes; changes made while it was down are not reported.
func (s *Store) Watch(ctx context.Context, changed func(kauth.Change)) error {
	ps := s.client.Subscribe(ctx, s.channel)
	defer ps.Close()
	// The first reply confirms the subscription, or says why it failed.
	if _, err := ps.Receive(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return s.errorf("watch", nil, err)
	}
	msgs := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-msgs:
			if !ok {
				return nil
			}
			id, ks, ok := strings.Cut(m.Payload, " ")
			if !ok || id == s.id {
				continue
			}
			if k, ok := parseKey(ks); ok {
				changed(kauth.Change{Key: k})
			}
		}
	}
}
