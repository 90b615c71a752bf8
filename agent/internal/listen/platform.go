package listen

import "errors"

// DefaultSocket reports whether the agent serves a unix socket when
// listen.socket is not set. On windows it does not: there it listens on
// loopback TCP with its key (listen.tcp, kauth serve --addr), and its key
// file and secret files are kept private by their access lists.
func DefaultSocket(goos string) bool { return goos != "windows" }

// CheckSocket refuses a listen.socket the agent does not serve on goos:
// any path on windows, where it offers TCP with its key instead.
func CheckSocket(goos, socket string) error {
	if goos == "windows" && socket != "" && socket != "off" {
		return errors.New("agent: listen.socket: kauth serve on windows listens on loopback TCP with the agent key, not a unix socket; remove listen.socket and set listen.tcp (or --addr 127.0.0.1:PORT)")
	}
	return nil
}
