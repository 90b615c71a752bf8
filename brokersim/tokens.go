package brokersim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kauth/kauth"
)

const (
	defaultKISLifetime      = 24 * time.Hour
	defaultKISReissueWindow = 6 * time.Hour
	defaultKISIssueInterval = time.Minute
	defaultKiwoomLifetime   = 24 * time.Hour
)

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func orInt(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// callLimit returns the per-second call limit of broker b at env e, or a
// negative number for none.
func (s *Server) callLimit(b kauth.Broker, e kauth.Env) int {
	switch {
	case b != kauth.KIS && b != kauth.Kiwoom && s.IGWCallsPerSecond != 0:
		return s.IGWCallsPerSecond
	case b != kauth.KIS && b != kauth.Kiwoom:
		// The igw brokers: the Provider's default rate is 90% of the
		// published one.
		if sb, ok := igwBroker(b); ok && sb.callsPerSecond > 0 {
			return sb.callsPerSecond
		}
		return 5
	case b == kauth.Kiwoom:
		return orInt(s.KiwoomCallsPerSecond, 5)
	case e == kauth.Real:
		return orInt(s.KISRealCallsPerSecond, 20)
	default:
		return orInt(s.KISMockCallsPerSecond, 2)
	}
}

// allowCallLocked reports whether app a may make one more protected call at
// now, and records it if so. The window slides: at most limit calls in any
// second. Refused calls are not recorded, so a client that backs off
// recovers after a second.
func (s *Server) allowCallLocked(a *app, now time.Time) bool {
	limit := s.callLimit(a.Broker, a.Env)
	if limit < 0 {
		return true
	}
	cut := 0
	for cut < len(a.calls) && !a.calls[cut].After(now.Add(-time.Second)) {
		cut++
	}
	a.calls = a.calls[cut:]
	if len(a.calls) >= limit {
		return false
	}
	a.calls = append(a.calls, now)
	return true
}

// mintLocked creates a new token for a, valid for lifetime from now
// (truncated to the second, as the brokers print it), and makes it current.
func (s *Server) mintLocked(a *app, now time.Time, lifetime time.Duration, ip string) *token {
	now = now.Truncate(time.Second)
	t := &token{
		id:        appID{a.Broker, a.Env, a.AppKey},
		issuedAt:  now,
		expiresAt: now.Add(lifetime),
		ip:        ip,
	}
	for {
		if a.Broker != kauth.Kiwoom {
			// KIS, LS and DB hand out JWTs with exp.
			t.value = kisTokenValue(now, t.expiresAt)
		} else {
			t.value = kiwoomTokenValue()
		}
		if _, dup := s.tokens[t.value]; !dup {
			break
		}
	}
	s.tokens[t.value] = t
	a.current = t
	s.supersedeLocked(t)
	return t
}

// kisTokenValue returns a JWT-looking token like the ones KIS hands out: a
// fixed header, a payload with random identifiers (never the app key) and a
// random signature.
func kisTokenValue(iat, exp time.Time) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"typ":"JWT","alg":"HS512"}`))
	payload, _ := json.Marshal(map[string]any{
		"sub":     "token",
		"aud":     uuid(),
		"iss":     "brokersim",
		"prdt_cd": "",
		"iat":     iat.Unix(),
		"exp":     exp.Unix(),
		"jti":     hex.EncodeToString(randomBytes(16)),
	})
	return header + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString(randomBytes(64))
}

// kiwoomTokenValue returns an opaque alphanumeric token of Kiwoom's length.
func kiwoomTokenValue() string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := randomBytes(86)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

func uuid() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return b
}

// bearer extracts the token from an "authorization: Bearer <token>" header.
// The scheme is matched case-insensitively, as both brokers accept
// "bearer" too.
func bearer(r *http.Request) (tok string, present bool) {
	h := r.Header.Get("authorization")
	if h == "" {
		return "", false
	}
	const prefix = "bearer "
	if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
		return h[len(prefix):], true
	}
	return "", true
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// kstLayoutKIS and kstLayoutKiwoom are how the brokers print times: KST wall
// clock, no zone marker.
const (
	kstLayoutKIS    = "2006-01-02 15:04:05"
	kstLayoutKiwoom = "20060102150405"
)

// kst formats t as KST wall time. It uses kauth.KST, a fixed zone, never
// time.Local: the output must not depend on the machine's TZ.
func kst(t time.Time, layout string) string { return t.In(kauth.KST).Format(layout) }
