package seal

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

func testSealer(t testing.TB) *Sealer {
	t.Helper()
	s, err := New(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sampleEntry() kauth.Entry {
	at := time.Date(2025, 3, 1, 9, 0, 0, 123, kauth.KST)
	return kauth.Entry{
		Token:     kauth.Token{AccessToken: "tok", Type: "Bearer", IssuedAt: at, ExpiresAt: at.Add(24 * time.Hour)},
		LastIssue: at,
		Rejected:  "abc",
	}
}

func TestSealOpen(t *testing.T) {
	s := testSealer(t)
	env, err := s.Seal("kis/mock/ab", sampleEntry())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	flipped := bytes.Clone(env)
	flipped[len(flipped)-1] ^= 1
	future := bytes.Clone(env)
	future[len(Magic)] = Version + 1

	tests := []struct {
		name    string
		sealer  *Sealer
		key     string
		data    []byte
		wantErr error
	}{
		{"OK", s, "kis/mock/ab", env, nil},
		{"OtherName", s, "kis/real/ab", env, ErrCorrupt},
		{"OtherKey", other, "kis/mock/ab", env, ErrCorrupt},
		{"Flipped", s, "kis/mock/ab", flipped, ErrCorrupt},
		{"Truncated", s, "kis/mock/ab", env[:headerSize+nonceSize+3], ErrCorrupt},
		{"HeaderOnly", s, "kis/mock/ab", env[:headerSize], ErrCorrupt},
		{"Empty", s, "kis/mock/ab", nil, ErrForeign},
		{"Foreign", s, "kis/mock/ab", []byte(`{"token":{}}`), ErrForeign},
		{"FutureVersion", s, "kis/mock/ab", future, ErrVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sealer.Open(tt.key, tt.data)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open error = %v; want %v", err, tt.wantErr)
			}
			if err == nil && (got.Token.AccessToken != "tok" || !got.Token.ExpiresAt.Equal(sampleEntry().Token.ExpiresAt)) {
				t.Errorf("Open = %+v; want the sealed entry", got)
			}
		})
	}
}

func TestSealFreshNonce(t *testing.T) {
	s := testSealer(t)
	a, _ := s.Seal("k", sampleEntry())
	b, _ := s.Seal("k", sampleEntry())
	if bytes.Equal(a[headerSize:headerSize+nonceSize], b[headerSize:headerSize+nonceSize]) {
		t.Error("two Seals used one nonce")
	}
	if bytes.Contains(a, []byte("tok")) || bytes.Contains(a, []byte("Bearer")) {
		t.Error("the envelope holds the entry in clear")
	}
}

func TestCheckKey(t *testing.T) {
	tests := []struct {
		key kauth.Key
		ok  bool
	}{
		{kauth.Key{Broker: "kis", Env: "mock", Fingerprint: "3f2a9c01d4e5"}, true},
		{kauth.Key{Broker: "kiwoom", Env: "real", Fingerprint: "a_1"}, true},
		{kauth.Key{}, false},
		{kauth.Key{Broker: "kis", Env: "mock"}, false},
		{kauth.Key{Broker: "kis", Env: "mock", Fingerprint: "a-b"}, false},
		{kauth.Key{Broker: "kis", Env: "mock", Fingerprint: "../x"}, false},
		{kauth.Key{Broker: "kis", Env: "mock", Fingerprint: "a}b"}, false},
		{kauth.Key{Broker: "KIS", Env: "mock", Fingerprint: "ab"}, false},
		{kauth.Key{Broker: "kis", Env: "모의", Fingerprint: "ab"}, false},
	}
	for _, tt := range tests {
		if err := CheckKey(tt.key); (err == nil) != tt.ok {
			t.Errorf("CheckKey(%q) = %v; want ok=%v", tt.key.String(), err, tt.ok)
		}
	}
}

// FuzzOpen checks that no input makes Open panic, and that whatever opens
// seals again to something that opens to the same entry.
func FuzzOpen(f *testing.F) {
	s := testSealer(f)
	env, _ := s.Seal("kis/mock/ab", sampleEntry())
	f.Add(env)
	f.Add([]byte("KAUTH\x01"))
	f.Add([]byte("KAUTH\x02garbage"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := s.Open("kis/mock/ab", data)
		if err != nil {
			return
		}
		again, err := s.Seal("kis/mock/ab", e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Open("kis/mock/ab", again); err != nil {
			t.Fatalf("re-sealed entry does not open: %v", err)
		}
	})
}

func TestSealFence(t *testing.T) {
	s := testSealer(t)
	e := sampleEntry()
	e.Fence = 1<<40 + 7
	env, err := s.Seal("kis/mock/ab", e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Open("kis/mock/ab", env)
	if err != nil {
		t.Fatal(err)
	}
	if got.Fence != e.Fence {
		t.Errorf("Open(Seal(Fence %d)).Fence = %d", e.Fence, got.Fence)
	}
}

// TestOpenWithoutFence opens an envelope as written before entries had a
// fence: its record has no "fence" field, and it opens with fence 0.
func TestOpenWithoutFence(t *testing.T) {
	s := testSealer(t)
	name := "kis/mock/ab"
	plain := []byte(`{"token":{"access_token":"tok","type":"Bearer"},"rejected":"abc"}`)
	out := make([]byte, headerSize+nonceSize)
	copy(out, Magic)
	out[len(Magic)] = Version
	nonce := out[headerSize:]
	for i := range nonce {
		nonce[i] = byte(i)
	}
	out = s.aead.Seal(out, nonce, plain, additionalData(out[:headerSize], name))
	got, err := s.Open(name, out)
	if err != nil {
		t.Fatalf("Open of an envelope without a fence = %v", err)
	}
	if got.Fence != 0 || got.Token.AccessToken != "tok" || got.Rejected != "abc" {
		t.Errorf("Open = %+v; want the token, Rejected abc and fence 0", got)
	}
}

func sampleHistory() kauth.History {
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, kauth.KST)
	h := kauth.History{Day: "2025-03-01", Issued: 2, Same: 1, Failed: 1,
		LastIssue:   kauth.IssueRecord{At: at.Add(time.Minute), Outcome: kauth.OutcomeIssued, Host: "h1", PID: 7, Turnover: true},
		LastFailure: kauth.IssueRecord{At: at, Outcome: kauth.OutcomeFailed, Host: "h2", PID: 8, Code: "EGW00133"},
	}
	h.Events[0], h.Events[1] = h.LastFailure, h.LastIssue
	return h
}

// plaintext opens env as Open does and returns its JSON record.
func plaintext(t *testing.T, s *Sealer, name string, env []byte) []byte {
	t.Helper()
	plain, err := s.aead.Open(nil, env[headerSize:headerSize+nonceSize], env[headerSize+nonceSize:], additionalData(env[:headerSize], name))
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

func TestSealHistory(t *testing.T) {
	s := testSealer(t)
	e := sampleEntry()
	e.History = sampleHistory()
	env, err := s.Seal("kis/mock/ab", e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Open("kis/mock/ab", env)
	if err != nil {
		t.Fatal(err)
	}
	if !got.History.LastIssue.At.Equal(e.History.LastIssue.At) {
		t.Fatalf("Open(Seal()).History.LastIssue = %+v; want %+v", got.History.LastIssue, e.History.LastIssue)
	}
	// Times come back without their zone or monotonic reading: compare
	// the rest after taking the times as read.
	want := e.History
	want.LastIssue.At, want.LastFailure.At = got.History.LastIssue.At, got.History.LastFailure.At
	want.Events[0].At, want.Events[1].At = got.History.Events[0].At, got.History.Events[1].At
	if got.History != want {
		t.Errorf("Open(Seal()).History = %+v; want %+v", got.History, want)
	}
}

// TestSealWithoutHistory: an entry with no issuance recorded is written
// as before entries had a history, and an envelope written before opens
// with a zero History.
func TestSealWithoutHistory(t *testing.T) {
	s := testSealer(t)
	env, err := s.Seal("kis/mock/ab", sampleEntry())
	if err != nil {
		t.Fatal(err)
	}
	if plain := plaintext(t, s, "kis/mock/ab", env); bytes.Contains(plain, []byte("history")) {
		t.Errorf("an entry without history is written as %s; want no history field", plain)
	}
	got, err := s.Open("kis/mock/ab", env)
	if err != nil {
		t.Fatal(err)
	}
	if got.History != (kauth.History{}) {
		t.Errorf("Open().History = %+v; want zero", got.History)
	}
}

// TestOldReaderIgnoresHistory: a reader that knows entries only up to the
// fence (the record as it was before entries had a history) reads an
// envelope with a history as it would one without.
func TestOldReaderIgnoresHistory(t *testing.T) {
	type oldRecord struct {
		Token     *tokenRecord `json:"token,omitempty"`
		LastIssue time.Time    `json:"last_issue,omitzero"`
		Rejected  string       `json:"rejected,omitempty"`
		Revoking  string       `json:"revoking,omitempty"`
		RetryAt   time.Time    `json:"retry_at,omitzero"`
		Fence     uint64       `json:"fence,omitempty"`
	}
	s := testSealer(t)
	e := sampleEntry()
	e.Fence = 9
	e.History = sampleHistory()
	env, err := s.Seal("kis/mock/ab", e)
	if err != nil {
		t.Fatal(err)
	}
	plain := plaintext(t, s, "kis/mock/ab", env)
	if !bytes.Contains(plain, []byte(`"history"`)) {
		t.Fatalf("sealed record %s has no history", plain)
	}
	var r oldRecord
	if err := json.Unmarshal(plain, &r); err != nil {
		t.Fatalf("an old reader fails on %s: %v", plain, err)
	}
	if r.Token == nil || r.Token.AccessToken != "tok" || r.Rejected != "abc" || r.Fence != 9 || !r.LastIssue.Equal(e.LastIssue) {
		t.Errorf("an old reader reads %+v; want the entry's token, Rejected, fence and LastIssue", r)
	}
}
