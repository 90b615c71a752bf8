package realtime_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/fakeclock"
	"github.com/kauth/kauth/kis"
	"github.com/kauth/kauth/realtime"
)

// TestUnwantedTopicYieldsItsSlot: a topic whose last member left stays
// upstream until its release; a new topic that needs its slot meanwhile
// releases it at once rather than fail with ErrLimit, and one taken again
// costs the broker nothing.
func TestUnwantedTopicYieldsItsSlot(t *testing.T) {
	e := newEnv(t, kauth.KIS, nil)
	s := e.session(t, func(c *realtime.Config) {
		c.MaxSubscriptions = 1
		c.ControlRate, c.ControlBurst = 1, 3 // a release lingers for a second
	})
	m := s.Join(16)
	defer m.Close()
	samsung, hynix := realtime.Topic{ID: "H0STCNT0", Key: "005930"}, realtime.Topic{ID: "H0STCNT0", Key: "000660"}
	first := subscribe(t, m, samsung)
	if err := m.Unsubscribe(ctx(t), samsung); err != nil {
		t.Fatal(err)
	}
	if again := subscribe(t, m, samsung); string(again.Raw) != string(first.Raw) {
		t.Errorf("taken again: ack %s; want the first answer %s", again.Raw, first.Raw)
	}
	if st := e.stats(); st.Controls != 1 {
		t.Errorf("upstream saw %d control frames; want 1", st.Controls)
	}
	if err := m.Unsubscribe(ctx(t), samsung); err != nil {
		t.Fatal(err)
	}
	subscribe(t, m, hynix)
	if st := e.stats(); strings.Join(st.Topics, ",") != "H0STCNT0|000660" || st.Unsubscribes != 1 {
		t.Errorf("upstream: %+v; want 005930 released and 000660 subscribed", st)
	}
}

// TestSubscribeUndoneBeforeItsTurn: a Subscribe waiting for its turn,
// whose topic the member unsubscribes meanwhile, sends nothing and returns
// ErrCanceled.
func TestSubscribeUndoneBeforeItsTurn(t *testing.T) {
	e := newEnv(t, kauth.KIS, nil)
	clock := fakeclock.New(time.Now())
	s := e.session(t, func(c *realtime.Config) { c.ControlRate, c.Clock = 1, clock })
	m := s.Join(16)
	defer m.Close()
	subscribe(t, m, realtime.Topic{ID: "H0STCNT0", Key: "005930"})
	hynix := realtime.Topic{ID: "H0STCNT0", Key: "000660"}
	done := make(chan error, 1)
	go func() {
		_, err := m.Subscribe(ctx(t), hynix)
		done <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); clock.Sleepers() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second Subscribe never waited for its turn")
		}
	}
	if err := m.Unsubscribe(ctx(t), hynix); err != nil {
		t.Fatalf("Unsubscribe while waiting: %v", err)
	}
	clock.Advance(time.Second)
	if err := <-done; !errors.Is(err, realtime.ErrCanceled) {
		t.Errorf("Subscribe = %v; want ErrCanceled", err)
	}
	if st := e.stats(); st.Controls != 1 || len(st.Topics) != 1 {
		t.Errorf("upstream: %+v; want only the first subscribe", st)
	}
}

// pacedKIS is KIS's protocol with a published control rate.
type pacedKIS struct{ kis.Realtime }

func (pacedKIS) ControlRate() float64 { return 0.5 }

// TestProtocolSetsControlRate: with no Config.ControlRate, a Session paces
// its subscribe frames at the rate its Protocol publishes (Pacer).
func TestProtocolSetsControlRate(t *testing.T) {
	e := newEnv(t, kauth.KIS, nil)
	clock := fakeclock.New(time.Now())
	s := e.session(t, func(c *realtime.Config) { c.Protocol, c.Clock = pacedKIS{}, clock })
	m := s.Join(16)
	defer m.Close()
	subscribe(t, m, realtime.Topic{ID: "H0STCNT0", Key: "005930"})
	done := make(chan error, 1)
	go func() {
		_, err := m.Subscribe(ctx(t), realtime.Topic{ID: "H0STCNT0", Key: "000660"})
		done <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); clock.Sleepers() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second Subscribe never waited for its turn")
		}
	}
	clock.Advance(time.Second) // DefaultControlRate would have let it go
	select {
	case err := <-done:
		t.Fatalf("Subscribe = %v after 1 s; want it to wait 2 s at the protocol's 0.5/s", err)
	case <-time.After(200 * time.Millisecond):
	}
	clock.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Subscribe = %v", err)
	}
}
