package kauth

import (
	"context"
	"time"
)

// Entry is what a Store keeps for one Key.
type Entry struct {
	// Token is the current token; zero if there is none.
	Token Token
	// LastIssue is when an issuance was last attempted for this key, by any
	// process. It enforces the brokers' issuance spacing (KIS: once a
	// minute per app key) across processes and restarts.
	LastIssue time.Time
	// Rejected is the fingerprint of the last token the broker rejected, so
	// that no process adopts it again.
	Rejected string
}

// Store keeps token entries, possibly shared between processes and hosts.
// Implementations must be safe for concurrent use.
//
// Load returns ErrNotFound when nothing is stored for key. An entry that
// cannot be read back (corrupt, truncated, wrongly keyed) must be reported
// and treated as not found, never as a fatal error. Shared stores may
// refuse keys whose broker, env or fingerprint are not [a-z0-9_].
type Store interface {
	Load(ctx context.Context, key Key) (Entry, error)
	Save(ctx context.Context, key Key, e Entry) error
	Delete(ctx context.Context, key Key) error
	Locker
}

// Locker provides the critical section around read-check-issue-write.
//
// Lock blocks until it holds the lock for key or ctx is done, and returns
// the function that releases it. For a shared store the lock is held across
// processes (and hosts), and a holder that dies releases it (by the
// operating system, or when a lease expires). When ctx ends first, Lock's
// error wraps ctx.Err(). The returned unlock may be called more than once,
// and never releases a lock that has since passed to another holder (for
// example after a lease lapsed).
type Locker interface {
	Lock(ctx context.Context, key Key) (unlock func(), err error)
}

// Watcher is implemented by stores that can tell a process when another
// process changed an entry (a new token, an invalidation, a revoke).
// Watch calls changed for each such key until ctx is done, then returns nil
// (or ctx's error); it returns an error at once if it cannot watch. It does
// not report changes made through the same Store value. The Manager uses it
// to drop a token another process revoked or replaced.
type Watcher interface {
	Watch(ctx context.Context, changed func(Key)) error
}

// Lister is implemented by stores that can enumerate their keys, for
// `kauth status`.
type Lister interface {
	List(ctx context.Context) ([]Key, error)
}
