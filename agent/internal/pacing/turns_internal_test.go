package pacing

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A client's calls past its turns line up in order; a call that gives up
// in line leaves it without taking a turn; a turn that comes as its call
// gives up goes to the next in line; other clients never wait on the line.
func TestTurnsLineUpPerClient(t *testing.T) {
	tu := NewTurns(1)
	ctx := context.Background()
	give1, err := tu.Take(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	// Another client is not held up by a's turn.
	giveB, err := tu.Take(ctx, "b")
	if err != nil {
		t.Fatalf("take(b) beside a's turn = %v", err)
	}
	giveB()

	got := make(chan string, 3)
	take := func(name string, ctx context.Context) {
		give, err := tu.Take(ctx, "a")
		if err != nil {
			got <- name + " gave up"
			return
		}
		got <- name
		give()
	}
	go take("second", ctx)
	waitLine(t, tu, "a", 1)
	quit, cancel := context.WithCancel(ctx)
	go take("quitter", quit)
	waitLine(t, tu, "a", 2)
	go take("third", ctx)
	waitLine(t, tu, "a", 3)
	cancel()
	if g := <-got; g != "quitter gave up" {
		t.Fatalf("first news = %q; want the quitter giving up in line", g)
	}
	give1()
	if a, b := <-got, <-got; a != "second" || b != "third" {
		t.Errorf("turns went to %q then %q; want second then third", a, b)
	}
	tu.mu.Lock()
	left := len(tu.clients)
	tu.mu.Unlock()
	if left != 0 {
		t.Errorf("%d clients left in the turns after every call ended; want 0", left)
	}
	// A call whose context has ended gets no turn when one is held.
	give, _ := tu.Take(ctx, "c")
	done, cancel2 := context.WithCancel(ctx)
	cancel2()
	if _, err := tu.Take(done, "c"); !errors.Is(err, context.Canceled) {
		t.Errorf("take with an ended context while the turn is held = %v; want context.Canceled", err)
	}
	give()
}

// waitLine waits until client has n calls in line.
func waitLine(t *testing.T, tu *Turns, client string, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		tu.mu.Lock()
		c := tu.clients[client]
		l := 0
		if c != nil {
			l = len(c.line)
		}
		tu.mu.Unlock()
		if l == n {
			return
		}
	}
	t.Fatalf("%s never had %d calls in line", client, n)
}
