package kauth

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Token is an access token issued by a broker.
//
// Token never reveals AccessToken when printed or logged: String, Format and
// LogValue show its fingerprint.
type Token struct {
	AccessToken string    // the bearer token
	Type        string    // "Bearer" (normalized from Kiwoom's "bearer")
	IssuedAt    time.Time // when kauth received it
	ExpiresAt   time.Time // when the broker stops accepting it
}

// Valid reports whether t is non-empty and unexpired at now.
func (t Token) Valid(now time.Time) bool {
	return t.AccessToken != "" && now.Before(t.ExpiresAt)
}

// Fingerprint returns a short non-reversible name for the token, safe to log.
func (t Token) Fingerprint() string {
	if t.AccessToken == "" {
		return "none"
	}
	return Fingerprint(t.AccessToken)
}

// String implements fmt.Stringer without revealing the token.
func (t Token) String() string {
	return fmt.Sprintf("token(%s, expires %s)", t.Fingerprint(), t.ExpiresAt.In(KST).Format(time.RFC3339))
}

// Format implements fmt.Formatter so that every verb prints the redacted form.
func (t Token) Format(f fmt.State, verb rune) { fmt.Fprint(f, t.String()) }

// LogValue implements slog.LogValuer without revealing the token.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("token", t.Fingerprint()),
		slog.Time("expires", t.ExpiresAt.In(KST)),
	)
}

// MaxTokenSize is the longest token or approval key kauth accepts from a
// broker. KIS documents its access_token as 350 bytes at most (접근토큰발급(P)
// /oauth2/tokenP, response access_token, length 350); the others' tokens
// are JWTs or keys of that order. Anything far longer is a broker's fault,
// and would bloat every request that carries it.
const MaxTokenSize = 4096

// CheckToken reports why s cannot be a token (or an approval key), or nil.
// A token travels in an HTTP header ("authorization: Bearer <token>"), whose
// bearer credential RFC 6750 §2.1 makes visible ASCII (b64token): kauth
// refuses an empty token, one longer than MaxTokenSize, and one with a
// space, a control byte (a CR or LF would split the header) or a byte
// beyond ASCII. The reason never quotes s.
func CheckToken(s string) error {
	switch {
	case s == "":
		return errors.New("empty token")
	case len(s) > MaxTokenSize:
		return fmt.Errorf("token of %d bytes, longer than %d", len(s), MaxTokenSize)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("token with byte 0x%02x at offset %d, outside visible ASCII", c, i)
		}
	}
	return nil
}
