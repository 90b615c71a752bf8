package brokersim

import (
	"fmt"
	"strings"

	"github.com/kauth/kauth"
)

// ReissueMode is what a broker's token endpoint answers to an issue request
// while the app's last token is still valid. The once-a-minute spacing of
// KIS (EGW00133) holds in every mode.
type ReissueMode int

const (
	// ReissueSame is the documented default: the same token again (KIS
	// within 6 h of minting it, see KISReissueWindow; Kiwoom while it is
	// valid, as reported but not documented).
	ReissueSame ReissueMode = iota
	// ReissueNewKeepOld mints a new token on every issue; earlier tokens
	// stay valid until they expire.
	ReissueNewKeepOld
	// ReissueNewRevokeOld mints a new token on every issue and makes every
	// earlier token of the app invalid (KIS EGW00121, Kiwoom 8005), as
	// other brokers do.
	ReissueNewRevokeOld
)

var reissueNames = map[ReissueMode]string{
	ReissueSame:         "same",
	ReissueNewKeepOld:   "new-keep-old",
	ReissueNewRevokeOld: "new-revoke-old",
}

// String returns the mode's name: "same", "new-keep-old" or "new-revoke-old".
func (m ReissueMode) String() string {
	if n, ok := reissueNames[m]; ok {
		return n
	}
	return fmt.Sprintf("ReissueMode(%d)", int(m))
}

// ParseReissueMode parses a mode by name ("same", "new-keep-old",
// "new-revoke-old"), ignoring case, dashes and underscores.
func ParseReissueMode(s string) (ReissueMode, error) {
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("-", "", "_", "", " ", "").Replace(s))
	}
	for m, n := range reissueNames {
		if norm(n) == norm(s) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("brokersim: unknown reissue mode %q: want same, new-keep-old or new-revoke-old", s)
}

// MarshalText implements encoding.TextMarshaler.
func (m ReissueMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *ReissueMode) UnmarshalText(b []byte) error {
	v, err := ParseReissueMode(string(b))
	if err == nil {
		*m = v
	}
	return err
}

// SetReissue sets how broker b answers a re-issue while a token is valid.
// It may be called at any time; it applies to the next issue request.
func (s *Server) SetReissue(b kauth.Broker, m ReissueMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reissue == nil {
		s.reissue = make(map[kauth.Broker]ReissueMode)
	}
	s.reissue[b] = m
}

// Reissue returns how broker b answers a re-issue (ReissueSame unless
// SetReissue said otherwise).
func (s *Server) Reissue(b kauth.Broker) ReissueMode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reissueModeLocked(b)
}

// supersedeLocked applies ReissueNewRevokeOld after t was minted: every
// other token of t's app becomes invalid.
func (s *Server) supersedeLocked(t *token) {
	if s.reissueModeLocked(t.id.broker) != ReissueNewRevokeOld {
		return
	}
	for _, o := range s.tokens {
		if o != t && o.id == t.id && !o.invalid {
			o.invalid = true
			s.count(t.id.broker, t.id.env, t.id.key, func(c *Counts) { c.Superseded++ })
		}
	}
}
