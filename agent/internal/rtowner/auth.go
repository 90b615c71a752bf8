package rtowner

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The headers of a relay's upgrade request and answer.
const (
	HeaderFence = "Kauth-Relay-Fence" // the lease fence the follower expects
	HeaderTime  = "Kauth-Relay-Time"  // Unix seconds
	HeaderNonce = "Kauth-Relay-Nonce"
	HeaderMAC   = "Kauth-Relay-Mac"   // the follower's proof
	HeaderProof = "Kauth-Relay-Proof" // the owner's proof, in the answer
)

// Window is how far a relay request's time may be from the owner's clock,
// and how long the owner remembers its nonce: a recorded request cannot be
// played again.
const Window = time.Minute

// Secret derives the relay key from the store key (KAUTH_KEY), which every
// agent on the shared Redis holds and none sends: agents prove to each
// other that they hold it with HMACs under this key.
func Secret(storeKey []byte) []byte {
	m := hmac.New(sha256.New, storeKey)
	m.Write([]byte("kauth realtime relay v1"))
	return m.Sum(nil)
}

func mac(secret []byte, parts ...string) string {
	m := hmac.New(sha256.New, secret)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// Sign returns the headers of a follower's upgrade request to the owner of
// upstream id at fence, and the nonce its answer must prove.
func Sign(secret []byte, id string, fence int64, now time.Time) (http.Header, string) {
	var b [18]byte
	rand.Read(b[:])
	nonce := base64.RawURLEncoding.EncodeToString(b[:])
	ts := strconv.FormatInt(now.Unix(), 10)
	f := strconv.FormatInt(fence, 10)
	h := http.Header{}
	h.Set(HeaderFence, f)
	h.Set(HeaderTime, ts)
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderMAC, mac(secret, "follower", id, f, ts, nonce))
	return h, nonce
}

// Proof is the owner's answer to a request with nonce: it holds the secret
// too, so the follower knows it did not reach an impostor.
func Proof(secret []byte, id string, fence int64, nonce string) string {
	return mac(secret, "owner", id, strconv.FormatInt(fence, 10), nonce)
}

// CheckProof checks the owner's answer to a request with nonce.
func CheckProof(secret []byte, id string, fence int64, nonce string, resp *http.Response) error {
	if resp == nil || !hmac.Equal([]byte(resp.Header.Get(HeaderProof)), []byte(Proof(secret, id, fence, nonce))) {
		return errors.New("rtowner: the relay did not prove it holds the shared key (KAUTH_KEY)")
	}
	return nil
}

// ErrAuth is a relay request that does not prove its sender holds the
// shared key, or plays an old one again.
var ErrAuth = errors.New("rtowner: relay request not authenticated")

// Verifier checks followers' requests. Its zero value is ready to use.
type Verifier struct {
	mu   sync.Mutex
	seen map[string]time.Time // nonce → when it may be forgotten
}

// Verify checks h, a request for upstream id, at now: its MAC, its time
// within Window, and a nonce not seen before. It returns the fence the
// follower expects and the nonce to prove.
func (v *Verifier) Verify(secret []byte, id string, h http.Header, now time.Time) (fence int64, nonce string, err error) {
	f, ts, nonce, got := h.Get(HeaderFence), h.Get(HeaderTime), h.Get(HeaderNonce), h.Get(HeaderMAC)
	if nonce == "" || !hmac.Equal([]byte(got), []byte(mac(secret, "follower", id, f, ts, nonce))) {
		return 0, "", ErrAuth
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, "", ErrAuth
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Window || d < -Window {
		return 0, "", ErrAuth
	}
	fence, err = strconv.ParseInt(f, 10, 64)
	if err != nil {
		return 0, "", ErrAuth
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = map[string]time.Time{}
	}
	for n, until := range v.seen {
		if now.After(until) {
			delete(v.seen, n)
		}
	}
	if _, ok := v.seen[nonce]; ok {
		return 0, "", ErrAuth
	}
	v.seen[nonce] = now.Add(2 * Window)
	return fence, nonce, nil
}
