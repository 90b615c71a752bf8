package kauth

import "time"

// EventKind names what happened to a token.
type EventKind string

// The events a Manager reports (to its Logger and to Config.OnEvent).
const (
	EventIssued      EventKind = "issued"       // the broker minted a token where there was none usable
	EventRefreshed   EventKind = "refreshed"    // a new token replaced one that was still valid (refresh ahead)
	EventReused      EventKind = "reused"       // a valid token was taken from the store, or the broker answered with the token we had
	EventInvalidated EventKind = "invalidated"  // a caller reported the current token rejected
	EventRevoked     EventKind = "revoked"      // the token was revoked upstream and forgotten
	EventFailed      EventKind = "failed"       // getting a token failed (Err says why)
	EventWaiting     EventKind = "waiting"      // an issuance waits out the broker's issuance interval (Duration says how long)
	EventStoreFailed EventKind = "store_failed" // the store could not be written (Err says why); other processes will not see the change
)

// Event describes one change in a Manager's token. It holds no secret: the
// token appears only as its fingerprint.
type Event struct {
	Kind      EventKind
	Key       Key
	Token     string        // the token's fingerprint, if any
	ExpiresAt time.Time     // the token's expiry, if any
	Source    string        // "broker" or "store"
	Duration  time.Duration // how long the upstream call took, if any
	Err       error         // for EventFailed
	// Turnover is set on the EventRefreshed (or EventIssued) of a new
	// token that the Manager asked for in its turnover window
	// (Config.Turnover) rather than because the token was due.
	Turnover bool
}
