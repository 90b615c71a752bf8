package pacing

import (
	"context"
	"sync"
)

// Turns serves an app key's call budget fairly across clients: each
// client has at most per calls waiting for the budget at once, the others
// line up behind them, first come first served within the client. A client
// that floods the proxy then waits behind its own calls: the budget's line
// holds at most per calls of each client, so a client calling now and then
// finds its turn within a few slots. The zero value is unusable; use
// NewTurns.
type Turns struct {
	mu      sync.Mutex
	per     int
	clients map[string]*clientLine
}

// clientLine is one client's calls: held waiting for the budget, and the
// rest in line, each waiting for its channel to close.
type clientLine struct {
	held int
	line []chan struct{}
}

// NewTurns returns the turns of an app key whose clients may each have
// per calls waiting for its budget at once.
func NewTurns(per int) *Turns {
	return &Turns{per: per, clients: make(map[string]*clientLine)}
}

// SetPer changes how many calls of one client may wait for the budget.
func (t *Turns) SetPer(per int) {
	t.mu.Lock()
	t.per = per
	t.mu.Unlock()
}

// Take waits for the client's turn and returns the function that hands it
// on, which the caller must call once its wait for the budget is over. It
// returns ctx's error, holding nothing, if ctx ends first.
func (t *Turns) Take(ctx context.Context, client string) (func(), error) {
	t.mu.Lock()
	c := t.clients[client]
	if c == nil {
		c = new(clientLine)
		t.clients[client] = c
	}
	if c.held < t.per {
		c.held++
		t.mu.Unlock()
		return func() { t.give(client) }, nil
	}
	ch := make(chan struct{})
	c.line = append(c.line, ch)
	t.mu.Unlock()
	select {
	case <-ch:
		return func() { t.give(client) }, nil
	case <-ctx.Done():
		t.mu.Lock()
		for i, w := range c.line {
			if w == ch {
				c.line = append(c.line[:i], c.line[i+1:]...)
				t.mu.Unlock()
				return nil, ctx.Err()
			}
		}
		t.mu.Unlock()
		// The turn came as ctx ended: hand it on.
		t.give(client)
		return nil, ctx.Err()
	}
}

// give hands a turn of client to its next call in line, or frees it.
func (t *Turns) give(client string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.clients[client]
	if len(c.line) > 0 && c.held <= t.per {
		close(c.line[0])
		c.line = c.line[1:]
		return
	}
	c.held--
	if c.held == 0 && len(c.line) == 0 {
		delete(t.clients, client)
	}
}
