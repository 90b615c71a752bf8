package tcpproxy

import (
	"bufio"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// echo starts a line echo server and returns its address.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func start(t *testing.T) *Proxy {
	t.Helper()
	p, err := New(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

type client struct {
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, p *Proxy) *client {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{c, bufio.NewReader(c)}
}

// roundTrip sends a line and reads the answer, waiting at most wait.
func (c *client) roundTrip(line string, wait time.Duration) (string, error) {
	if _, err := c.c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	c.c.SetReadDeadline(time.Now().Add(wait))
	got, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return got[:len(got)-1], nil
}

func mustEcho(t *testing.T, c *client, line string) {
	t.Helper()
	got, err := c.roundTrip(line, 5*time.Second)
	if err != nil || got != line {
		t.Fatalf("round trip of %q = %q, %v", line, got, err)
	}
}

func TestForwards(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	mustEcho(t, c, "hello")
	mustEcho(t, c, "again")
}

func TestCutAndRestore(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	mustEcho(t, c, "before")
	p.Cut()
	if _, err := c.roundTrip("during", 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("round trip on a cut connection = %v; want it closed", err)
	}
	// New connections are closed at once while cut.
	d := dial(t, p)
	if _, err := d.roundTrip("new", 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("round trip on a connection made while cut = %v; want it closed", err)
	}
	p.Restore()
	mustEcho(t, dial(t, p), "after")
}

func TestStallAndRestore(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	mustEcho(t, c, "before")
	p.Stall()
	if _, err := c.roundTrip("held", 100*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("round trip on a stalled connection = %v; want no answer", err)
	}
	p.Restore()
	// The held line flows on once restored.
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := c.r.ReadString('\n')
	if err != nil || got != "held\n" {
		t.Fatalf("after Restore read %q, %v; want the held line", got, err)
	}
	mustEcho(t, c, "after")
}

func TestDelay(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	p.Delay(20 * time.Millisecond)
	mustEcho(t, c, "slow")
	p.Restore()
	mustEcho(t, c, "fast")
}

func TestClose(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	mustEcho(t, c, "x")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.roundTrip("y", 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("round trip after Close = %v; want it closed", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
