// Package tcpproxy is a TCP proxy that tests and fault harnesses put
// between a client and a server (Redis) to break the link on command: cut
// every connection, stall them (open but silent, as a half-open link),
// delay them, and restore them.
//
//	p, err := tcpproxy.New("127.0.0.1:6379")
//	client := redis.NewClient(&redis.Options{Addr: p.Addr()})
//	p.Cut()     // connections reset; new ones closed at once
//	p.Restore() // new connections pass again
package tcpproxy

import (
	"errors"
	"net"
	"sync"
	"time"
)

// Proxy forwards connections made to Addr to its target. It is safe for
// concurrent use.
type Proxy struct {
	target string
	ln     net.Listener

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every state change
	conns   map[*link]struct{}
	cut     bool
	stalled bool
	delay   time.Duration
	closed  bool
	wg      sync.WaitGroup
}

// link is one proxied connection: the client's and the target's ends.
type link struct {
	client, server net.Conn
	once           sync.Once
}

func (l *link) close() {
	l.once.Do(func() {
		l.client.Close()
		l.server.Close()
	})
}

// New listens on a free port of 127.0.0.1 and forwards to target
// (host:port).
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, ln: ln, changed: make(chan struct{}), conns: make(map[*link]struct{})}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr returns the address that clients dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every connection, and closes new ones as soon as they are
// accepted, until Restore: to the client the server is down.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	conns := p.take()
	p.notify()
	p.mu.Unlock()
	for _, l := range conns {
		l.close()
	}
}

// Stall keeps every connection open but lets no byte through, either way,
// until Restore: a half-open link, which only a timeout can detect. New
// connections are accepted and stalled too.
func (p *Proxy) Stall() {
	p.mu.Lock()
	p.stalled = true
	p.notify()
	p.mu.Unlock()
}

// Delay holds every chunk of data for d before forwarding it; 0 forwards
// at once.
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.notify()
	p.mu.Unlock()
}

// Restore ends a Cut, a Stall and a Delay. Stalled data flows on.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut, p.stalled, p.delay = false, false, 0
	p.notify()
	p.mu.Unlock()
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	conns := p.take()
	p.notify()
	p.mu.Unlock()
	err := p.ln.Close()
	for _, l := range conns {
		l.close()
	}
	p.wg.Wait()
	return err
}

// take empties the connection set and returns what it held. p.mu is held.
func (p *Proxy) take() []*link {
	conns := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		conns = append(conns, l)
		delete(p.conns, l)
	}
	return conns
}

// notify wakes whoever waits for a state change. p.mu is held.
func (p *Proxy) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.mu.Lock()
		refuse := p.cut || p.closed
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		l := &link{client: c, server: s}
		p.mu.Lock()
		if p.cut || p.closed {
			p.mu.Unlock()
			l.close()
			continue
		}
		p.conns[l] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(l, l.server, l.client)
		go p.pipe(l, l.client, l.server)
	}
}

// pipe copies src to dst, chunk by chunk, holding each chunk while the
// link is stalled or delayed. Either end failing closes the link.
func (p *Proxy) pipe(l *link, dst, src net.Conn) {
	defer p.wg.Done()
	defer func() {
		l.close()
		p.mu.Lock()
		delete(p.conns, l)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.hold() {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a reset: the other side goes too
		}
	}
}

// hold waits while the link is stalled, then for the delay. It reports
// false if the connection must be dropped (cut or closed meanwhile).
func (p *Proxy) hold() bool {
	for {
		p.mu.Lock()
		stalled, delay, gone, changed := p.stalled, p.delay, p.cut || p.closed, p.changed
		p.mu.Unlock()
		if gone {
			return false
		}
		if stalled {
			<-changed
			continue
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-changed:
				continue
			}
		}
		return true
	}
}
