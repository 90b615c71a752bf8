package proxy

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"sync"

	"github.com/kauth/kauth"
)

// Index answers the facade's question "are these another account's
// credentials?" without visiting every account on each call. It is built
// once per set of accounts (the agent builds it at the first facade call
// after the accounts change) and looks an app key or a token up by its
// keyed SHA-256 digest: the map lookup depends only on a digest under a
// random key the client never learns, and the final comparison with the
// secret runs in constant time.
type Index struct {
	seed [32]byte

	appKeys map[[sha256.Size]byte]string // digest → app key served here
	keys    map[Account]kauth.Key

	// Tokens change while the set of accounts does not: tokens maps the
	// digest of each account's token as last seen to that account, and
	// refresh brings it up to date (cheaply: no hashing of an unchanged
	// token) when a token is not found.
	mu     sync.Mutex
	slots  []tokenSlot
	tokens map[[sha256.Size]byte]*tokenSlot
}

type tokenSlot struct {
	acct Account
	key  kauth.Key
	tok  string // the token last indexed
}

// NewIndex returns the index of accts, the accounts served now.
func NewIndex(accts []Account) *Index {
	ix := &Index{
		appKeys: make(map[[sha256.Size]byte]string, len(accts)),
		keys:    make(map[Account]kauth.Key, len(accts)),
		slots:   make([]tokenSlot, 0, len(accts)),
		tokens:  make(map[[sha256.Size]byte]*tokenSlot, len(accts)),
	}
	_, _ = rand.Read(ix.seed[:]) // crypto/rand never fails on supported platforms
	for _, acct := range accts {
		c := acct.Credentials()
		ix.appKeys[ix.digest(c.AppKey)] = c.AppKey
		ix.keys[acct] = c.Key()
		ix.slots = append(ix.slots, tokenSlot{acct: acct, key: ix.keys[acct]})
	}
	ix.mu.Lock()
	ix.refreshLocked()
	ix.mu.Unlock()
	return ix
}

func (ix *Index) digest(s string) [sha256.Size]byte {
	h := sha256.New()
	h.Write(ix.seed[:])
	_, _ = io.WriteString(h, s)
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// ForeignKey reports whether appkey (trimmed, not empty) is the app key of
// an account served here other than acct's own.
func (ix *Index) ForeignKey(acct Account, appkey string) bool {
	ownKey := acct.Credentials().AppKey
	own := subtle.ConstantTimeCompare([]byte(appkey), []byte(ownKey)) == 1
	k, ok := ix.appKeys[ix.digest(appkey)]
	foreign := ok && k != ownKey && subtle.ConstantTimeCompare([]byte(appkey), []byte(k)) == 1
	return foreign && !own
}

// ForeignToken reports whether tok (not empty) is the current token of an
// account served here under another app key than acct's.
func (ix *Index) ForeignToken(acct Account, tok string) bool {
	// The usual case: the client shows the account's own current token.
	if own, _ := acct.Manager().Cached(); own.AccessToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(own.AccessToken)) == 1 {
		return false
	}
	d := ix.digest(tok)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.hitLocked(acct, d, tok) {
		return true
	}
	ix.refreshLocked()
	return ix.hitLocked(acct, d, tok)
}

func (ix *Index) hitLocked(acct Account, d [sha256.Size]byte, tok string) bool {
	s := ix.tokens[d]
	if s == nil || s.key == ix.keyOf(acct) {
		return false
	}
	cur, _ := s.acct.Manager().Cached()
	return cur.AccessToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(cur.AccessToken)) == 1
}

// keyOf returns acct's key, computed when the index was built.
func (ix *Index) keyOf(acct Account) kauth.Key {
	if k, ok := ix.keys[acct]; ok {
		return k
	}
	return acct.Credentials().Key() // an account replaced since: rare
}

// refreshLocked indexes the tokens that changed since they were last seen.
func (ix *Index) refreshLocked() {
	for i := range ix.slots {
		s := &ix.slots[i]
		cur, _ := s.acct.Manager().Cached()
		if cur.AccessToken == s.tok {
			continue
		}
		if s.tok != "" {
			if d := ix.digest(s.tok); ix.tokens[d] == s {
				delete(ix.tokens, d)
			}
		}
		s.tok = cur.AccessToken
		if s.tok != "" {
			ix.tokens[ix.digest(s.tok)] = s
		}
	}
}
