package agent

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"reflect"
	"sync"

	"github.com/kauth/kauth"
)

// facadeIndex answers the facade's question "are these another account's
// credentials?" without visiting every account on each call. It is built
// once per set of accounts (the first facade call after New or Reload) and
// looks an app key or a token up by its keyed SHA-256 digest: the map
// lookup depends only on a digest under a random key the client never
// learns, and the final comparison with the secret runs in constant time.
type facadeIndex struct {
	src  uintptr // identity of the accounts map it was built from
	seed [32]byte

	appKeys map[[sha256.Size]byte]string // digest → app key served here
	keys    map[*account]kauth.Key

	// Tokens change while the set of accounts does not: tokens maps the
	// digest of each account's token as last seen to that account, and
	// refresh brings it up to date (cheaply: no hashing of an unchanged
	// token) when a token is not found.
	mu     sync.Mutex
	slots  []tokenSlot
	tokens map[[sha256.Size]byte]*tokenSlot
}

type tokenSlot struct {
	acct *account
	key  kauth.Key
	tok  string // the token last indexed
}

func newFacadeIndex(accounts map[string]*account) *facadeIndex {
	ix := &facadeIndex{
		src:     reflect.ValueOf(accounts).Pointer(),
		appKeys: make(map[[sha256.Size]byte]string, len(accounts)),
		keys:    make(map[*account]kauth.Key, len(accounts)),
		slots:   make([]tokenSlot, 0, len(accounts)),
		tokens:  make(map[[sha256.Size]byte]*tokenSlot, len(accounts)),
	}
	_, _ = rand.Read(ix.seed[:]) // crypto/rand never fails on supported platforms
	for _, acct := range accounts {
		ix.appKeys[ix.digest(acct.creds.AppKey)] = acct.creds.AppKey
		ix.keys[acct] = acct.creds.Key()
		ix.slots = append(ix.slots, tokenSlot{acct: acct, key: ix.keys[acct]})
	}
	ix.mu.Lock()
	ix.refreshLocked()
	ix.mu.Unlock()
	return ix
}

// facadeIndex returns the index of the accounts served now, building it
// if the accounts changed since it was last built.
func (a *Agent) facadeIndex() *facadeIndex {
	a.mu.RLock()
	accounts := a.accounts
	a.mu.RUnlock()
	src := reflect.ValueOf(accounts).Pointer()
	if ix := a.fidx.Load(); ix != nil && ix.src == src {
		return ix
	}
	ix := newFacadeIndex(accounts)
	a.fidx.Store(ix)
	return ix
}

func (ix *facadeIndex) digest(s string) [sha256.Size]byte {
	h := sha256.New()
	h.Write(ix.seed[:])
	_, _ = io.WriteString(h, s)
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// foreignKey reports whether appkey (trimmed, not empty) is the app key of
// an account served here other than acct's own.
func (ix *facadeIndex) foreignKey(acct *account, appkey string) bool {
	own := subtle.ConstantTimeCompare([]byte(appkey), []byte(acct.creds.AppKey)) == 1
	k, ok := ix.appKeys[ix.digest(appkey)]
	foreign := ok && k != acct.creds.AppKey && subtle.ConstantTimeCompare([]byte(appkey), []byte(k)) == 1
	return foreign && !own
}

// foreignToken reports whether tok (not empty) is the current token of an
// account served here under another app key than acct's.
func (ix *facadeIndex) foreignToken(acct *account, tok string) bool {
	// The usual case: the client shows the account's own current token.
	if own, _ := acct.mgr.Cached(); own.AccessToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(own.AccessToken)) == 1 {
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

func (ix *facadeIndex) hitLocked(acct *account, d [sha256.Size]byte, tok string) bool {
	s := ix.tokens[d]
	if s == nil || s.key == ix.keyOf(acct) {
		return false
	}
	cur, _ := s.acct.mgr.Cached()
	return cur.AccessToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(cur.AccessToken)) == 1
}

// keyOf returns acct's key, computed when the index was built.
func (ix *facadeIndex) keyOf(acct *account) kauth.Key {
	if k, ok := ix.keys[acct]; ok {
		return k
	}
	return acct.creds.Key() // an account replaced since: rare
}

// refreshLocked indexes the tokens that changed since they were last seen.
func (ix *facadeIndex) refreshLocked() {
	for i := range ix.slots {
		s := &ix.slots[i]
		cur, _ := s.acct.mgr.Cached()
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
