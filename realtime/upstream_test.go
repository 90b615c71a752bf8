package realtime_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/realtime"
)

// routes is an Upstream that hands out scripted routes, one per call, and
// records how each ended.
type routes struct {
	mu    sync.Mutex
	next  []realtime.Route
	calls int
	ended []bool
}

func (r *routes) Route(ctx context.Context) (realtime.Route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if len(r.next) == 0 {
		return realtime.Route{}, errors.New("no route scripted")
	}
	rt := r.next[0]
	if len(r.next) > 1 {
		r.next = r.next[1:]
	}
	rt.Ended = func(opened bool) {
		r.mu.Lock()
		r.ended = append(r.ended, opened)
		r.mu.Unlock()
	}
	return rt, nil
}

func (r *routes) endings() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.ended...)
}

// A route whose Done closes (its lease was lost) ends the connection at
// once; the members hear Interrupted and then Restored for every topic on
// the next route, exactly as after a dropped connection.
func TestSessionUpstreamDoneSwitchesRoute(t *testing.T) {
	e := newEnv(t, kauth.KIS, nil)
	lost := make(chan struct{})
	up := &routes{next: []realtime.Route{{Done: lost}, {Header: http.Header{"X-Second": {"1"}}}}}
	s := e.session(t, func(c *realtime.Config) { c.Upstream = up })
	m := s.Join(64)
	subscribe(t, m, samsung)
	subscribe(t, m, hynix)
	close(lost)
	if msg := next(t, m); msg.Kind != realtime.Interrupted {
		t.Fatalf("first message after Done = %v; want Interrupted", msg.Kind)
	}
	restored := map[realtime.Topic]bool{}
	for len(restored) < 2 {
		msg := next(t, m)
		if msg.Kind == realtime.Unavailable || msg.Kind == realtime.Available {
			// The simulator may not have seen the first socket close yet
			// (OPSP8996): the Session says so and tries again.
			continue
		}
		if msg.Kind != realtime.Restored {
			t.Fatalf("got %v; want Restored", msg.Kind)
		}
		restored[msg.Topic] = true
	}
	if !restored[samsung] || !restored[hynix] {
		t.Errorf("restored %v; want both topics", restored)
	}
	if st := e.stats(); st.Opened != 2 || st.Live != 1 || len(st.Topics) != 2 {
		t.Errorf("simulator: %+v; want a second session with both topics", st)
	}
	if got := up.endings(); len(got) != 1 || !got[0] {
		t.Errorf("Ended calls = %v; want [true] for the first route", got)
	}
}

// A route whose far end fails Check is not used: the members hear why,
// and the next route is asked for.
func TestSessionUpstreamCheckRefuses(t *testing.T) {
	e := newEnv(t, kauth.KIS, nil)
	bad := errors.New("relay did not prove itself")
	up := &routes{next: []realtime.Route{{Check: func(*http.Response) error { return bad }}, {}}}
	s := e.session(t, func(c *realtime.Config) { c.Upstream = up })
	m := s.Join(64)
	done := make(chan error, 1)
	go func() {
		_, err := m.Subscribe(ctx(t), samsung)
		done <- err
	}()
	msg := next(t, m)
	if msg.Kind != realtime.Unavailable || msg.Err == nil || !strings.Contains(msg.Err.Error(), bad.Error()) {
		t.Fatalf("first message = %v (%v); want Unavailable naming the refusal", msg.Kind, msg.Err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Subscribe on the next route: %v", err)
	}
	if got := up.endings(); len(got) != 1 || got[0] {
		t.Errorf("Ended calls = %v; want the refused route not opened", got)
	}
}
