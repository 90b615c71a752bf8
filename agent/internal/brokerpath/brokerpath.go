// Package brokerpath decides which broker paths the agent forwards: only
// canonical ones, that no gateway in front of the broker would read as
// another path, under the broker's API prefixes.
package brokerpath

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotCanonical marks a broker path refused for its form, as opposed to
// one outside the allow-list.
var ErrNotCanonical = errors.New("not a canonical path")

// Canonical checks the broker path of a proxied request, in its
// escaped form as the client sent it, and returns the path to forward.
//
// A gateway in front of the broker (nginx, Spring, a cloud load balancer)
// may normalize a path the agent forwarded — resolve dot segments, decode
// %2e or %2f, merge slashes, drop ;parameters — and so turn
// /uapi/%2e%2e/oauth2/tokenP into the token endpoint, with the app secret
// attached. So the agent forwards only paths that every such normalization
// leaves alone: it decodes percent-escapes once, refuses escapes of
// anything but letters, digits, '-', '_' and '~' (an escaped '/', '.', '\',
// '%' or ';' has no business in a broker path), allows only those
// characters and '.' in segments, refuses empty segments and segments made
// of dots only, and then requires one of prefixes (the broker's API paths,
// see the APIPrefixes method of a broker's Provider) on the result.
func Canonical(prefixes []string, escaped string) (string, error) {
	if !strings.HasPrefix(escaped, "/") {
		return "", fmt.Errorf("%w: it must start with /", ErrNotCanonical)
	}
	var sb strings.Builder
	sb.Grow(len(escaped))
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		switch {
		case c == '%':
			if i+2 >= len(escaped) || unhex(escaped[i+1]) < 0 || unhex(escaped[i+2]) < 0 {
				return "", fmt.Errorf("%w: a bad percent-escape", ErrNotCanonical)
			}
			d := byte(unhex(escaped[i+1])<<4 | unhex(escaped[i+2]))
			if d == '.' || !segmentChar(d) {
				return "", fmt.Errorf("%w: the escape %s is refused (no encoded slashes, dots, percents or parameters)", ErrNotCanonical, escaped[i:i+3])
			}
			sb.WriteByte(d)
			i += 2
		case c == '/' || segmentChar(c):
			sb.WriteByte(c)
		case c == ';':
			return "", fmt.Errorf("%w: ';' parameters are refused", ErrNotCanonical)
		default:
			return "", fmt.Errorf("%w: the character %q is refused", ErrNotCanonical, c)
		}
	}
	p := sb.String()
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" {
			return "", fmt.Errorf("%w: empty segments (//) are refused", ErrNotCanonical)
		}
		if strings.Trim(seg, ".") == "" {
			return "", fmt.Errorf("%w: dot segments are refused", ErrNotCanonical)
		}
	}
	if len(prefixes) == 0 {
		return "", errors.New("the broker names no API paths to proxy")
	}
	for _, pre := range prefixes {
		if strings.HasPrefix(p, pre) {
			return p, nil
		}
	}
	return "", fmt.Errorf("only %s paths are proxied", strings.Join(prefixes, "…, ")+"…")
}

// segmentChar reports whether c may appear in a canonical path segment.
func segmentChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '-' || c == '_' || c == '.' || c == '~'
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
