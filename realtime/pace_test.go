package realtime_test

import (
	"strings"
	"testing"

	"github.com/kauth/kauth"
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
