package kauth

import (
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
