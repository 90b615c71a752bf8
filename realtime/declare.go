package realtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/coder/websocket"
)

// A Session over a Declarer keeps the set the broker holds (declared) and
// the set its members want (the topics with members). Subscribe and
// Unsubscribe change the wanted set and wake the declarer, which sends the
// wanted set whenever it differs from the declared one, at the control
// rate: changes made while a declaration waits its turn go out together.

// retryAfter is how long a declaration refused for the broker's pace
// waits before it is sent again (Toss: "rate-limit-exceeded 를 받으면 약
// 1초 대기 후 재선언하세요", AsyncAPI channels.connection).
const retryAfter = time.Second

func isClosed(ch chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// wakeDeclarer tells the declarer that the wanted set changed.
func (s *Session) wakeDeclarer() {
	select {
	case s.declWake <- struct{}{}:
	default:
	}
}

// awaitDeclared waits until a declaration has decided t, which m has just
// joined.
func (s *Session) awaitDeclared(ctx context.Context, m *Member, t Topic, ts *topicState) (Ack, error) {
	s.mu.Lock()
	settled := ts.settled
	s.mu.Unlock()
	s.wakeDeclarer()
	select {
	case <-settled:
	case <-ctx.Done():
		s.dropDeclared(m, t)
		return Ack{}, ctx.Err()
	case <-s.ctx.Done():
		return Ack{}, ErrClosed
	}
	s.mu.Lock()
	err := ts.err
	s.mu.Unlock()
	if err != nil {
		return Ack{}, err
	}
	return Ack{}, nil
}

// dropDeclared removes m from t, and t from the wanted set if m was its
// last member.
func (s *Session) dropDeclared(m *Member, t Topic) {
	s.mu.Lock()
	delete(m.topics, t)
	ts := s.topics[t]
	if ts != nil {
		delete(ts.members, m)
		ts.rebuild()
		if len(ts.members) == 0 {
			delete(s.topics, t)
		}
	}
	s.mu.Unlock()
	s.wakeDeclarer()
}

// wantedLocked returns the topics with members, sorted. The caller holds
// s.mu.
func (s *Session) wantedLocked() []Topic {
	set := make([]Topic, 0, len(s.topics))
	for t, ts := range s.topics {
		if len(ts.members) > 0 {
			set = append(set, t)
		}
	}
	slices.SortFunc(set, func(a, b Topic) int {
		if a.ID != b.ID {
			if a.ID < b.ID {
				return -1
			}
			return 1
		}
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	return set
}

// declarer sends the wanted set each time it changes, until the session
// closes.
func (s *Session) declarer() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.declWake:
		}
		for s.ctx.Err() == nil && !s.declareOnce() {
		}
	}
}

// declareOnce declares the wanted set on the connection if the broker does
// not hold it, and reports whether it is done; false means try again (the
// connection changed, or the broker asked for a pause).
func (s *Session) declareOnce() bool {
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	select {
	case <-ready:
	case <-s.ctx.Done():
		return true
	}
	s.ctl.Lock()
	defer s.ctl.Unlock()
	s.mu.Lock()
	same := s.ready == ready && s.conn != nil && sameSet(s.wantedLocked(), s.declared)
	if same {
		s.settleLocked(s.wantedLocked())
	}
	s.mu.Unlock()
	if same {
		return true
	}
	undo, err := s.turn(s.ctx)
	if err != nil {
		return true
	}
	s.mu.Lock()
	if s.ready != ready || s.conn == nil {
		s.mu.Unlock()
		undo()
		return false // a new connection: its restore declares the set
	}
	set := s.wantedLocked()
	if sameSet(set, s.declared) {
		s.settleLocked(set)
		s.mu.Unlock()
		undo()
		return true
	}
	conn, down := s.conn, s.down
	s.mu.Unlock()
	a, err := s.declare(conn, down, set)
	if err != nil {
		return false
	}
	if !a.p.OK {
		if a.p.Retry {
			s.log.Warn("realtime: broker refused the declaration for its pace; declaring again", "code", a.p.Code, "in", retryAfter)
			return s.clock.Sleep(s.ctx, retryAfter) != nil
		}
		// The broker keeps the set declared before: the topics this
		// declaration added are refused.
		e := &Error{Broker: s.Broker(), Env: s.Env(), Code: a.p.Code, Message: a.p.Msg, Raw: a.raw, limit: a.p.Limit}
		refused := 0
		s.mu.Lock()
		for _, t := range set {
			if !s.declared[t] {
				s.refuseLocked(t, e)
				refused++
			}
		}
		s.mu.Unlock()
		if refused == 0 {
			// It only left topics out: nothing to blame, so wait before
			// the broker sees it again.
			s.log.Warn("realtime: broker refused the declaration", "code", a.p.Code, "message", a.p.Msg, "retry in", retryAfter)
			return s.clock.Sleep(s.ctx, retryAfter) != nil
		}
		return false
	}
	s.mu.Lock()
	s.acceptLocked(set, a)
	s.mu.Unlock()
	return false // the set may have changed meanwhile
}

// declare sends set on conn and waits for the broker's answer.
func (s *Session) declare(conn *websocket.Conn, down chan struct{}, set []Topic) (answer, error) {
	s.mu.Lock()
	s.declSeq++
	seq := s.declSeq
	s.mu.Unlock()
	return s.exchange(s.ctx, conn, down, s.decl.Declare(set, seq), func(f Frame) bool { return s.decl.Declared(f, seq) })
}

// acceptLocked records that the broker holds set less the topics its answer
// a refused, and settles them. The caller holds s.mu.
func (s *Session) acceptLocked(set []Topic, a answer) {
	refused := map[Topic]*Error{}
	for _, r := range a.p.Refused {
		refused[r.Topic] = &Error{Broker: s.Broker(), Env: s.Env(), Topic: r.Topic, Code: r.Code, Message: r.Msg, Raw: a.raw}
	}
	s.declared = make(map[Topic]bool, len(set))
	var held []Topic
	for _, t := range set {
		if e := refused[t]; e != nil {
			s.refuseLocked(t, e)
			continue
		}
		s.declared[t] = true
		held = append(held, t)
	}
	s.settleLocked(held)
}

// settleLocked marks the topics of set live and wakes those who wait for
// them. The caller holds s.mu.
func (s *Session) settleLocked(set []Topic) {
	for _, t := range set {
		ts := s.topics[t]
		if ts == nil {
			continue
		}
		ts.live, ts.was = true, true
		if !isClosed(ts.settled) {
			close(ts.settled)
		}
	}
}

// refuseLocked ends t with the broker's refusal e: its members lose it, and
// those who wait for it get e. The caller holds s.mu.
func (s *Session) refuseLocked(t Topic, e *Error) {
	ts := s.topics[t]
	if ts == nil {
		return
	}
	delete(s.topics, t)
	for _, m := range ts.list {
		delete(m.topics, t)
	}
	ts.err = e
	if ts.settled == nil {
		ts.settled = make(chan struct{})
	}
	if !isClosed(ts.settled) {
		close(ts.settled)
	}
}

// restoreDeclared declares every wanted topic on a new connection in one
// declaration and opens it to Subscribe.
func (s *Session) restoreDeclared(conn *websocket.Conn, _ string, down chan struct{}) error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	for {
		s.mu.Lock()
		set := s.wantedLocked()
		s.mu.Unlock()
		if len(set) == 0 {
			break
		}
		undo, err := s.turn(s.ctx)
		if err != nil {
			return fmt.Errorf("restoring: %w", err)
		}
		s.mu.Lock()
		set = s.wantedLocked()
		s.mu.Unlock()
		if len(set) == 0 {
			undo()
			break
		}
		a, err := s.declare(conn, down, set)
		if err != nil {
			return fmt.Errorf("restoring: %w", err)
		}
		if !a.p.OK && a.p.Retry {
			if err := s.clock.Sleep(s.ctx, retryAfter); err != nil {
				return err
			}
			continue
		}
		type note struct {
			m   *Member
			msg Message
		}
		var notes []note
		s.mu.Lock()
		was := map[Topic][]*Member{}
		for _, t := range set {
			if ts := s.topics[t]; ts != nil && ts.was {
				was[t] = ts.list
			}
		}
		if a.p.OK {
			s.acceptLocked(set, a)
		} else {
			e := &Error{Broker: s.Broker(), Env: s.Env(), Code: a.p.Code, Message: a.p.Msg, Raw: a.raw, limit: a.p.Limit}
			for _, t := range set {
				s.refuseLocked(t, e)
			}
		}
		for t, list := range was {
			kind := Restored
			if !s.declared[t] {
				kind = Lost
			}
			for _, m := range list {
				notes = append(notes, note{m, Message{Kind: kind, Topic: t, Raw: a.raw}})
			}
		}
		s.mu.Unlock()
		if a.p.OK && !s.opened {
			// The broker holds the set again: members that heard the
			// session was unavailable hear it is back.
			s.opened = true
			s.available()
		}
		for _, n := range notes {
			s.deliver(n.m, n.msg)
		}
		break
	}
	if !s.opened {
		s.opened = true // nothing to declare: the connection is open
		s.available()
	}
	s.mu.Lock()
	close(s.ready)
	s.mu.Unlock()
	s.wakeDeclarer() // anything that changed while it restored
	return nil
}

// ping sends the Pinger's keep-alive on conn every period until the
// connection ends.
func (s *Session) ping(conn *websocket.Conn, down chan struct{}, msg []byte, every time.Duration) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	go func() {
		select {
		case <-down:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		if err := s.clock.Sleep(ctx, every); err != nil {
			return
		}
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		err := conn.Write(wctx, websocket.MessageText, msg)
		wcancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			conn.CloseNow()
			return
		}
	}
}

// sameSet reports whether set holds exactly the topics of held.
func sameSet(set []Topic, held map[Topic]bool) bool {
	if len(set) != len(held) {
		return false
	}
	for _, t := range set {
		if !held[t] {
			return false
		}
	}
	return true
}
