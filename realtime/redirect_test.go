package realtime_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/brokertest"
	"github.com/kauth/kauth/realtime"
)

// TestSessionRefusesRedirect checks that the WebSocket handshake follows
// no redirect: the approval key (KIS) or token (Kiwoom) sent on the
// connection would go to the host the Location names. The session keeps
// redialing the broker's URL instead, and that host gets nothing.
func TestSessionRefusesRedirect(t *testing.T) {
	topics := map[kauth.Broker]realtime.Topic{
		kauth.KIS:    samsung,
		kauth.Kiwoom: {ID: "0B", Key: "005930"},
	}
	for _, b := range []kauth.Broker{kauth.KIS, kauth.Kiwoom} {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b, nil)
			other := brokertest.NewCatcherFor(t, e.sim) // the same simulator: it would take the login
			red, hits := brokertest.NewRedirector(t, http.StatusTemporaryRedirect, other)
			s := e.session(t, func(c *realtime.Config) {
				c.URL = wsURL(b, kauth.Mock, brokersim.BaseURL(red.URL, b, kauth.Mock))
			})
			m := s.Join(8)
			sctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { _, err := m.Subscribe(sctx, topics[b]); done <- err }()
			defer func() { cancel(); <-done }()

			// Wait for a redial, or for the subscription to go through.
			deadline := time.Now().Add(5 * time.Second)
			for hits() < 2 && time.Now().Before(deadline) {
				select {
				case err := <-done:
					done <- err
					deadline = time.Now()
				case <-time.After(2 * time.Millisecond):
				}
			}
			other.Check(t)
			if st := e.stats(); st.Live != 0 || st.Subscribes != 0 {
				t.Errorf("simulator behind %s: %+v; want no session, no subscription", other.Host, st)
			}
			if hits() < 2 {
				t.Errorf("the broker's URL was dialed %d times; want the session to keep redialing it", hits())
			}
		})
	}
}
