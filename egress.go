package kauth

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ResolveEgress turns an egress setting into the name that Credentials.Egress
// holds:
//
//   - "" means no egress identity (every host shares one entry);
//   - "auto" means the local address this host uses to reach baseURL's host,
//     found by asking the routing table (a UDP "connect", which sends no
//     packet). Hosts behind one NAT have different local addresses, so with
//     "auto" they keep tokens apart even though the broker sees one IP: safe,
//     at the cost of an issuance per host. Name the egress to share;
//   - anything else is taken as the egress's name (e.g. the public IP, or
//     "office-nat"), the same on every host that leaves through it.
func ResolveEgress(ctx context.Context, setting, baseURL string) (string, error) {
	setting = strings.TrimSpace(setting)
	if setting != "auto" {
		if strings.ContainsAny(setting, "\x00\r\n") {
			return "", fmt.Errorf("kauth: egress %q: control characters are not allowed", setting)
		}
		return setting, nil
	}
	u, err := url.Parse(baseURL)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("kauth: egress auto: the broker URL has no host")
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return "", fmt.Errorf("kauth: egress auto: no route to %s: %w", u.Hostname(), err)
	}
	defer c.Close()
	ip := c.LocalAddr().(*net.UDPAddr).IP
	return ip.String(), nil
}
