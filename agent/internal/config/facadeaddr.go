package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// CheckFacadeAddrs refuses a facade_addr that is not a loopback HOST:PORT,
// one used by two accounts, and one that is the agent's own listen.tcp.
// Each error is one line that names the account.
func CheckFacadeAddrs(cfg Config) []error {
	var errs []error
	used := map[string]string{}
	if cfg.Listen.TCP != "" {
		used[CanonicalAddr(cfg.Listen.TCP)] = "listen.tcp"
	}
	for i, acc := range cfg.Accounts {
		addr := strings.TrimSpace(acc.FacadeAddr)
		if addr == "" {
			continue
		}
		name := acc.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i+1)
		}
		if err := checkFacadeAddr(addr); err != nil {
			errs = append(errs, fmt.Errorf("agent: account %s: %w", name, err))
			continue
		}
		c := CanonicalAddr(addr)
		if strings.HasSuffix(c, ":0") {
			continue // a free port each: never the same one
		}
		if other, dup := used[c]; dup {
			errs = append(errs, fmt.Errorf("agent: account %s: facade_addr %s is already %s's; give each account its own port", name, addr, other))
			continue
		}
		used[c] = "account " + name
	}
	return errs
}

// checkFacadeAddr refuses an address that is not HOST:PORT with a loopback
// host: the port hands out the account's token to whoever holds its key.
func checkFacadeAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("facade_addr %q: want a loopback HOST:PORT, such as 127.0.0.1:8701", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port {
		return fmt.Errorf("facade_addr %q: the port must be a number from 0 to 65535", addr)
	}
	if ip, err := netip.ParseAddr(host); (err != nil || !ip.IsLoopback()) && !strings.EqualFold(host, "localhost") {
		return fmt.Errorf("facade_addr %q is not a loopback address; a facade port serves this machine only: use 127.0.0.1:PORT", addr)
	}
	return nil
}

// CanonicalAddr spells a loopback HOST:PORT one way, so that localhost:8701
// and 127.0.0.1:8701 count as one port.
func CanonicalAddr(addr string) string {
	host, port, err := net.SplitHostPort(strings.TrimSpace(addr))
	if err != nil {
		return addr
	}
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	}
	return net.JoinHostPort(host, port)
}
