// Package seal encrypts kauth store entries at rest. The file and Redis
// stores share it, so that both hold byte-for-byte the same envelope:
//
//	offset  size  field
//	0       5     magic "KAUTH"
//	5       1     format version (1)
//	6       12    AES-GCM nonce, fresh from crypto/rand for every Seal
//	18      n+16  AES-256-GCM ciphertext of the JSON-encoded entry, with tag
//
// The additional data is the 6-byte header followed by the entry's key name
// (kauth.Key.String()), so an envelope copied to another key, or relabelled
// with another version, fails to open.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kauth/kauth"
)

// KeySize is the size of a store key: AES-256.
const KeySize = 32

// Magic starts every envelope.
const Magic = "KAUTH"

// Version is the envelope format that Seal writes.
const Version = 1

const (
	headerSize = len(Magic) + 1
	nonceSize  = 12
	tagSize    = 16
)

// Reasons an envelope does not open. Stores report them and treat the entry
// as not found.
var (
	ErrForeign = errors.New("not a kauth store entry")
	ErrVersion = errors.New("unsupported store entry format version")
	ErrCorrupt = errors.New("store entry is truncated, corrupt, for another key, or sealed with another store key")
)

// Sealer seals and opens entries with one key. It is safe for concurrent
// use.
type Sealer struct {
	aead cipher.AEAD
}

// New returns a Sealer for a KeySize-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("store key is %d bytes; want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// NewKey returns a fresh random store key.
func NewKey() []byte {
	key := make([]byte, KeySize)
	rand.Read(key) // never fails: crypto/rand crashes the program instead
	return key
}

// ParseKey decodes a store key written in base64, standard or URL alphabet,
// padded or not, ignoring surrounding white space. The key must decode to
// exactly KeySize bytes. The error never repeats the input.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("store key is empty")
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding,
	} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) != KeySize {
			return nil, fmt.Errorf("store key decodes to %d bytes; want %d (generate one with: openssl rand -base64 32)", len(b), KeySize)
		}
		return b, nil
	}
	return nil, errors.New("store key is not valid base64 (generate one with: openssl rand -base64 32)")
}

// EncodeKey returns key in standard padded base64, the form ParseKey reads.
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// CheckKey reports whether k can name a stored entry: each of broker, env
// and fingerprint must be non-empty and made of lowercase ASCII letters,
// digits and '_'. That keeps file names unambiguous ("-" separates them),
// free of path elements, the same on case-insensitive file systems, and
// keeps Redis hash tags ("{…}") intact.
func CheckKey(k kauth.Key) error {
	for _, part := range []string{string(k.Broker), string(k.Env), k.Fingerprint} {
		if part == "" || strings.TrimFunc(part, validRune) != "" {
			return fmt.Errorf("kauth: invalid store key %q: broker, env and fingerprint must be non-empty [a-z0-9_]", k.String())
		}
	}
	return nil
}

func validRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_'
}

// record is the JSON form of a kauth.Entry inside an envelope. Its field
// names are part of the format.
type record struct {
	Token     *tokenRecord `json:"token,omitempty"`
	LastIssue time.Time    `json:"last_issue,omitzero"`
	Rejected  string       `json:"rejected,omitempty"`
	Revoking  string       `json:"revoking,omitempty"`
	// RetryAt is absent from envelopes written before entries had one.
	RetryAt time.Time `json:"retry_at,omitzero"`
	// Fence is absent from envelopes written before entries had one; they
	// open with fence 0.
	Fence uint64 `json:"fence,omitempty"`
	// History is absent from envelopes written before entries had one,
	// and from entries with no issuance recorded; a reader that does not
	// know it ignores it.
	History *historyRecord `json:"history,omitempty"`
}

// historyRecord is the JSON form of a kauth.History.
type historyRecord struct {
	Day         string        `json:"day,omitempty"`
	Issued      int           `json:"issued,omitempty"`
	Same        int           `json:"same,omitempty"`
	Failed      int           `json:"failed,omitempty"`
	LastIssue   *eventRecord  `json:"last_issue,omitempty"`
	LastFailure *eventRecord  `json:"last_failure,omitempty"`
	Events      []eventRecord `json:"events,omitempty"`
}

type eventRecord struct {
	At      time.Time `json:"at,omitzero"`
	Outcome string    `json:"outcome,omitempty"`
	Host    string    `json:"host,omitempty"`
	PID     int       `json:"pid,omitempty"`
	Code    string    `json:"code,omitempty"`
	// Turnover: an older kauth reads the record without it.
	Turnover bool `json:"turnover,omitempty"`
}

func historyOf(h kauth.History) *historyRecord {
	if h == (kauth.History{}) {
		return nil
	}
	r := &historyRecord{Day: h.Day, Issued: h.Issued, Same: h.Same, Failed: h.Failed}
	if !h.LastIssue.IsZero() {
		ev := eventRecord(h.LastIssue)
		r.LastIssue = &ev
	}
	if !h.LastFailure.IsZero() {
		ev := eventRecord(h.LastFailure)
		r.LastFailure = &ev
	}
	for _, ev := range h.Recent() {
		r.Events = append(r.Events, eventRecord(ev))
	}
	return r
}

func (r *historyRecord) history() kauth.History {
	if r == nil {
		return kauth.History{}
	}
	h := kauth.History{Day: r.Day, Issued: r.Issued, Same: r.Same, Failed: r.Failed}
	if r.LastIssue != nil {
		h.LastIssue = kauth.IssueRecord(*r.LastIssue)
	}
	if r.LastFailure != nil {
		h.LastFailure = kauth.IssueRecord(*r.LastFailure)
	}
	// A writer keeps at most kauth.HistoryEvents; keep the last of more.
	evs := r.Events[max(0, len(r.Events)-kauth.HistoryEvents):]
	for i, ev := range evs {
		h.Events[i] = kauth.IssueRecord(ev)
	}
	return h
}

type tokenRecord struct {
	AccessToken string    `json:"access_token,omitempty"`
	Type        string    `json:"type,omitempty"`
	IssuedAt    time.Time `json:"issued_at,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
}

// Seal encrypts e for the entry named name (kauth.Key.String()).
func (s *Sealer) Seal(name string, e kauth.Entry) ([]byte, error) {
	r := record{LastIssue: e.LastIssue, Rejected: e.Rejected, Revoking: e.Revoking, RetryAt: e.RetryAt, Fence: e.Fence, History: historyOf(e.History)}
	if e.Token != (kauth.Token{}) {
		r.Token = &tokenRecord{
			AccessToken: e.Token.AccessToken,
			Type:        e.Token.Type,
			IssuedAt:    e.Token.IssuedAt,
			ExpiresAt:   e.Token.ExpiresAt,
		}
	}
	plain, err := json.Marshal(r)
	if err != nil {
		// Only a time outside years 0..9999 gets here; the message holds no secret.
		return nil, fmt.Errorf("encoding entry: %w", err)
	}
	out := make([]byte, headerSize+nonceSize, headerSize+nonceSize+len(plain)+tagSize)
	copy(out, Magic)
	out[len(Magic)] = Version
	nonce := out[headerSize : headerSize+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = s.aead.Seal(out, nonce, plain, additionalData(out[:headerSize], name))
	clear(plain)
	return out, nil
}

// Open decrypts an envelope that Seal made for name. It fails with
// ErrForeign, ErrVersion or ErrCorrupt.
func (s *Sealer) Open(name string, data []byte) (kauth.Entry, error) {
	if len(data) < headerSize || string(data[:len(Magic)]) != Magic {
		return kauth.Entry{}, ErrForeign
	}
	if v := data[len(Magic)]; v != Version {
		return kauth.Entry{}, fmt.Errorf("%w %d", ErrVersion, v)
	}
	if len(data) < headerSize+nonceSize+tagSize {
		return kauth.Entry{}, ErrCorrupt
	}
	nonce := data[headerSize : headerSize+nonceSize]
	plain, err := s.aead.Open(nil, nonce, data[headerSize+nonceSize:], additionalData(data[:headerSize], name))
	if err != nil {
		return kauth.Entry{}, ErrCorrupt
	}
	defer clear(plain)
	var r record
	if err := json.Unmarshal(plain, &r); err != nil {
		// Authentic but undecodable: a bug or a future writer that kept
		// the version. Never include plain in the error: it holds the token.
		return kauth.Entry{}, ErrCorrupt
	}
	e := kauth.Entry{LastIssue: r.LastIssue, Rejected: r.Rejected, Revoking: r.Revoking, RetryAt: r.RetryAt, Fence: r.Fence, History: r.History.history()}
	if r.Token != nil {
		e.Token = kauth.Token{
			AccessToken: r.Token.AccessToken,
			Type:        r.Token.Type,
			IssuedAt:    r.Token.IssuedAt,
			ExpiresAt:   r.Token.ExpiresAt,
		}
	}
	return e, nil
}

// Plausible reports whether data has the shape of an envelope of this
// format: the magic, a version, and room for a nonce and a tag. When such
// data does not open, it was most likely sealed with another store key
// (a file store refuses to overwrite it), not torn or foreign.
func Plausible(data []byte) bool {
	return len(data) >= headerSize+nonceSize+tagSize && string(data[:len(Magic)]) == Magic
}

func additionalData(header []byte, name string) []byte {
	ad := make([]byte, 0, len(header)+len(name))
	ad = append(ad, header...)
	return append(ad, name...)
}
