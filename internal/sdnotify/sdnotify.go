// Package sdnotify tells systemd how a Type=notify service is doing, by the
// datagram protocol of sd_notify(3): newline-separated VAR=value
// assignments sent to the unix datagram socket named by $NOTIFY_SOCKET.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// Notifier sends state changes to the service manager. Its zero value, and
// a Notifier made from an empty socket path, sends nothing: a process not
// started by systemd runs as before.
type Notifier struct {
	// Socket is the value of $NOTIFY_SOCKET: a path, or "@name" for an
	// abstract socket. Empty: Send does nothing.
	Socket string
	// Monotonic returns CLOCK_MONOTONIC in microseconds, for the
	// MONOTONIC_USEC that Reloading sends. Nil: the system's clock.
	Monotonic func() (uint64, error)
}

// New returns a Notifier for the socket that getenv("NOTIFY_SOCKET") names.
func New(getenv func(string) string) *Notifier {
	return &Notifier{Socket: getenv("NOTIFY_SOCKET")}
}

// Enabled reports whether a service manager listens.
func (n *Notifier) Enabled() bool { return n != nil && n.Socket != "" }

// Send sends the assignments ("READY=1", "STATUS=…") in one datagram. It
// returns nil without sending when no service manager listens.
func (n *Notifier) Send(state ...string) error {
	if !n.Enabled() {
		return nil
	}
	for _, s := range state {
		if !strings.Contains(s, "=") || strings.Contains(s, "\n") {
			return fmt.Errorf("sdnotify: %q is not one VAR=value line", s)
		}
	}
	addr := n.Socket
	// sd_notify(3): a leading @ names a socket in the abstract namespace,
	// which Go spells with a leading NUL.
	if strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:]
	} else if !strings.HasPrefix(addr, "/") {
		return fmt.Errorf("sdnotify: NOTIFY_SOCKET %q is neither a path nor @abstract", n.Socket)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(state, "\n") + "\n")); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}

// Ready says the service is up: READY=1 with a STATUS line.
func (n *Notifier) Ready(status string) error {
	return n.Send("READY=1", "STATUS="+oneLine(status))
}

// Reloading says a reload began: RELOADING=1 with MONOTONIC_USEC, the
// clock reading that Type=notify-reload in systemd 253 and later requires
// beside it. Send Ready when the reload is done, whatever its outcome.
func (n *Notifier) Reloading() error {
	if !n.Enabled() {
		return nil
	}
	mono := n.Monotonic
	if mono == nil {
		mono = monotonicUsec
	}
	usec, err := mono()
	if err != nil {
		return fmt.Errorf("sdnotify: reading CLOCK_MONOTONIC: %w", err)
	}
	return n.Send("RELOADING=1", fmt.Sprintf("MONOTONIC_USEC=%d", usec), "STATUS=reloading the config")
}

// Stopping says the service is shutting down.
func (n *Notifier) Stopping() error {
	return n.Send("STOPPING=1", "STATUS=stopping")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

var errNoMonotonic = errors.New("CLOCK_MONOTONIC is not available on this system")
