package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strings"

	"github.com/kauth/kauth/agent/internal/config"
	"github.com/kauth/kauth/agent/internal/listen"
	"github.com/kauth/kauth/agent/internal/proxy"
)

// Facade ports: an account with facade_addr gets a loopback port of its
// own that looks like its broker at the root of the broker's domain, REST
// and WebSocket on the same port. Package proxy serves it (its port.go says
// how a request is authenticated); this file opens the ports and checks
// the first frame of a port's WebSocket client.

// facadeAddrsChanged reports whether next gives any account another
// facade_addr than cur does (ports open only when the agent starts).
func facadeAddrsChanged(cur, next Config) bool {
	addrs := func(c Config) map[string]string {
		m := map[string]string{}
		for _, acc := range c.Accounts {
			if a := strings.TrimSpace(acc.FacadeAddr); a != "" {
				m[acc.Name] = config.CanonicalAddr(a)
			}
		}
		return m
	}
	return !maps.Equal(addrs(cur), addrs(next))
}

// hasFacadeAddr reports whether an account of cfg has a facade port: a
// listener, even with neither the socket nor TCP.
func hasFacadeAddr(cfg Config) bool {
	for _, acc := range cfg.Accounts {
		if strings.TrimSpace(acc.FacadeAddr) != "" {
			return true
		}
	}
	return false
}

// portListener is an account's open facade port.
type portListener struct {
	account string
	ln      net.Listener
}

// openPorts opens the facade ports of cfg's accounts, once checkFacadeAddrs
// has found nothing wrong. On an error it closes what it opened.
func openPorts(cfg Config) ([]portListener, error) {
	if err := errors.Join(config.CheckFacadeAddrs(cfg)...); err != nil {
		return nil, &ConfigError{Err: err}
	}
	var out []portListener
	for _, acc := range cfg.Accounts {
		addr := strings.TrimSpace(acc.FacadeAddr)
		if addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			// A name such as localhost could resolve elsewhere.
			if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
				ln.Close()
				err = &ConfigError{Err: fmt.Errorf("agent: account %s: facade_addr %s is not a loopback address", acc.Name, addr)}
			}
		} else if listen.AddrInUse(err) {
			err = &ConfigError{Err: fmt.Errorf("agent: account %s: facade_addr %s is in use; choose another port", acc.Name, addr)}
		} else {
			err = fmt.Errorf("agent: account %s: facade_addr: %w", acc.Name, err)
		}
		if err != nil {
			for _, p := range out {
				p.ln.Close()
			}
			return nil, err
		}
		out = append(out, portListener{account: acc.Name, ln: ln})
	}
	return out, nil
}

// portHandler serves the facade port of the account called name.
func (a *Agent) portHandler(name string) http.Handler {
	return a.px.Port(name, proxyHost{a}, a.handler)
}

// wsGateKey marks a WebSocket upgrade that came through a facade port; its
// value checks the client's first frame (wsGate).
type wsGateKey struct{}

// wsGate returns the check of the first frame of a WebSocket client of the
// port of the account called name: its approval_key (KIS, in the frame's
// header) or token (Kiwoom's LOGIN) must be a credential of the account.
func (a *Agent) wsGate(name string) func([]byte) bool {
	return func(data []byte) bool {
		acct := a.lookup(name)
		if acct == nil {
			return false
		}
		defer acct.done()
		var f struct {
			Header struct {
				ApprovalKey string `json:"approval_key"`
			} `json:"header"`
			Token string `json:"token"`
		}
		if json.Unmarshal(data, &f) != nil {
			return false
		}
		_, ok := proxy.Credential(proxyHost{a}, acct, "", []string{f.Header.ApprovalKey, f.Token}, a.ws.cachedApproval(acct))
		return ok
	}
}
