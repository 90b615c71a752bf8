package kauth

import (
	"context"
	"errors"
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
	// IssueInterval is the spacing after LastIssue that the writer keeps
	// between issuances (its Manager's MinIssueInterval). A store that
	// expires entries keeps this one at least until LastIssue plus
	// IssueInterval, so that the spacing holds across processes even when
	// no token is stored. It describes the write: a store need not keep
	// it.
	IssueInterval time.Duration
	// RetryAt is when the broker allows the next token request after it
	// refused one for its rate limit (KIS EGW00133, Kiwoom 1700, HTTP 429
	// with Retry-After): no process sends one before then. Zero, or past,
	// when the last attempt was not refused so. A store that expires
	// entries keeps this one at least until RetryAt.
	RetryAt time.Time
	// Rejected is the fingerprint of the last token the broker rejected, so
	// that no process adopts it again.
	Rejected string
	// Revoking is the fingerprint of a token whose revoke was started and
	// may have reached the broker: from the moment it is recorded, before
	// the broker is called, no process serves that token, so a revoker that
	// dies at any instant never leaves a revoked token in use. A later
	// issuance that hands the same token back (the revoke never reached the
	// broker, and KIS returns the same token within 6 h) may serve it again.
	Revoking string
	// Fence is the fencing value of the lease under which the entry was
	// last written (see Lease), or 0 for a write made without one. A store
	// refuses a leased write whose fence is lower than the stored one.
	Fence uint64
	// History is the record of this key's issuances, by every process
	// that shares the entry: today's counts (KST) and the last events.
	// A store keeps it beside the rest; an entry written before entries
	// had one reads with a zero History.
	History History
}

// ErrLeaseLost is returned (wrapped) by Lease.Save when the lease that the
// write was made under is no longer held: it lapsed, was released, or a
// later lease on the same key has written since. Nothing was written.
var ErrLeaseLost = errors.New("kauth: store lease lost")

// ErrStoreUnwritable is returned (wrapped) by Save when the store cannot
// keep what it is given: a read-only or full disk, a directory it may not
// write, an entry owned by another store key. Unlike a passing network
// error, retrying soon does not help; callers must say so.
var ErrStoreUnwritable = errors.New("kauth: store cannot be written")

// Store keeps token entries, possibly shared between processes and hosts.
// Implementations must be safe for concurrent use.
//
// Load returns ErrNotFound when nothing is stored for key. An entry that
// cannot be read back (corrupt, truncated, wrongly keyed) must be reported
// and treated as not found, never as a fatal error.
//
// Load, Save, Delete and Lock never block past ctx, whatever sits in the
// store's place (a FIFO, a hung server).
//
// Save writes e, its Fence included, without regard to any lease (Lease.Save
// is the guarded write). A failed Save leaves the stored entry as it was,
// whole. When the store cannot keep e for a reason that retrying soon does
// not cure — a read-only or full disk, a directory or a Redis user without
// the right to write, an entry there that belongs to another store key —
// Save's error wraps ErrStoreUnwritable and, on one line, says what to
// fix; a store never fails silently. Shared stores may refuse keys whose
// broker, env or fingerprint are not [a-z0-9_].
type Store interface {
	Load(ctx context.Context, key Key) (Entry, error)
	Save(ctx context.Context, key Key, e Entry) error
	Delete(ctx context.Context, key Key) error
	Locker
}

// Locker provides the critical section around read-check-issue-write.
//
// Lock blocks until it holds the lock for key or ctx is done, and returns
// the Lease that it holds. For a shared store the lock is held across
// processes (and hosts), and a holder that dies releases it (by the
// operating system, or when a lease expires). When ctx ends first, Lock's
// error wraps ctx.Err(); when the store cannot record the lock or its fence
// (see Store's ErrStoreUnwritable), it fails at once with an error wrapping
// ErrStoreUnwritable.
type Locker interface {
	Lock(ctx context.Context, key Key) (Lease, error)
}

// Lease is a held lock on one key. It is safe for concurrent use.
//
// A lease can be lost while held: a Redis lease that could not be renewed
// lapses, and another holder may then take the lock. The holder learns of
// it through Done, which is closed at the latest when the store would let
// another holder in (a lock removed by hand: at the next renewal), or when
// Unlock is called, so that it can stop; and
// Save refuses to write once the lease is lost, atomically in the store, so
// that a holder that has not noticed yet cannot overwrite the new holder's
// entry. Leases that only Unlock ends (memory, file) keep the same
// contract.
type Lease interface {
	// Done is closed when the lease is lost or released.
	Done() <-chan struct{}
	// Err is nil while Done is open, then ErrLeaseLost (wrapped, with the
	// reason) if the lease was lost, or context.Canceled once Unlock was
	// called first.
	Err() error
	// Fence is strictly greater than the fence of every lease granted
	// earlier for the same key in the same store (shared stores: across
	// processes and hosts), and than the Fence of the entry stored when
	// the lease was granted. It never changes.
	Fence() uint64
	// Save writes e for the lease's key, with e.Fence set to Fence(), only
	// if the lease is still held and the stored entry's fence is not
	// greater; otherwise it writes nothing and returns an error wrapping
	// ErrLeaseLost. The check and the write are one step in the store. Its
	// other failures are Store.Save's (ErrStoreUnwritable included).
	Save(ctx context.Context, e Entry) error
	// Unlock releases the lock and closes Done. Calling it more than once
	// is harmless; it never releases a lock that has since passed to
	// another holder. Every lease must be unlocked, lost or not.
	Unlock()
}

// VisibleSaver is implemented by leases whose store can write an entry
// that every other process reads at once but that a power loss may undo
// (the file store: the file is renamed into place without an fsync). The
// Manager writes with it the record of an issuance attempt (LastIssue),
// made just before the broker is called: a power loss that undoes the
// record ends the process that made the attempt too, and at worst the next
// one asks the broker again within its interval and is told to wait. The
// entry that holds the token it gets is written with Save. SaveVisible
// checks the lease as Save does.
type VisibleSaver interface {
	SaveVisible(ctx context.Context, e Entry) error
}

// BatchLoader is implemented by stores that can read many entries in
// fewer round trips than a Load each (Redis: one pipeline per batch of
// keys; the file store: several files at once). The agent reads every
// account's issuance history through it on each GET /v1/accounts;
// LoadEntries falls back to one Load per key for a store without it.
//
// LoadBatch returns, for each of keys in order, what Load would have: the
// entry, or its error (ErrNotFound for an entry that is missing, or that
// cannot be read back, reported as Load reports it). One key's failure is
// never another's: an unreadable entry, or a store error on one key, leaves
// the others' results whole, and a store that cannot be reached fails each
// key it could not read. Keys may repeat. LoadBatch never blocks past ctx;
// a store that must split a long list (Redis: 500 keys to a pipeline)
// does so itself.
type BatchLoader interface {
	LoadBatch(ctx context.Context, keys []Key) ([]Entry, []error)
}

// LoadEntries reads keys from s: with one LoadBatch if s is a BatchLoader,
// else with a Load per key. entries[i] and errs[i] are key i's, as
// BatchLoader describes.
func LoadEntries(ctx context.Context, s Store, keys []Key) (entries []Entry, errs []error) {
	if b, ok := s.(BatchLoader); ok {
		entries, errs = b.LoadBatch(ctx, keys)
		if len(entries) == len(keys) && len(errs) == len(keys) {
			return entries, errs
		}
		// A store that broke the contract: read one by one rather than
		// hand out another key's entry.
	}
	entries, errs = make([]Entry, len(keys)), make([]error, len(keys))
	for i, k := range keys {
		entries[i], errs[i] = s.Load(ctx, k)
	}
	return entries, errs
}

// Change is what a Watcher reports.
type Change struct {
	// Key is the entry that another Store value changed. It is zero when
	// Resync is set.
	Key Key
	// Resync says that changes may have been missed (the watch's
	// connection was cut and is back, or the store's view was lost): every
	// key must be read again.
	Resync bool
}

// Watcher is implemented by stores that can tell a process when another
// process changed an entry (a new token, an invalidation, a revoke).
//
// Watch calls changed, from one goroutine, for each change until ctx is
// done, then returns nil (or ctx's error); it returns an error at once if
// it cannot watch at all. It does not report changes made through the same
// Store value. If it stops seeing changes for a while (a cut connection, a
// half-open link, a directory that could not be read) it keeps trying, and
// once it sees again it reports Change{Resync: true} before any further
// key, so that no change is missed silently: the caller must then read
// every key it serves again. A Resync may also come when nothing was
// missed; it is never skipped when something may have been.
type Watcher interface {
	Watch(ctx context.Context, changed func(Change)) error
}

// Lister is implemented by stores that can enumerate their keys, for
// `kauth status`.
type Lister interface {
	List(ctx context.Context) ([]Key, error)
}
