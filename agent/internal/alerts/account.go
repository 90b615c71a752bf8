package alerts

import (
	"errors"
	"sync"
	"time"

	"github.com/kauth/kauth"
)

// Account turns one account's Manager events into alerts, remembering what
// came before an issuance to say why it happened.
type Account struct {
	name, app string
	send      func(Alert)
	now       func() time.Time

	mu   sync.Mutex
	seen bool            // a token was held or issued before
	last kauth.EventKind // the last event that explains an issuance
}

// NewAccount watches account name, whose app key has fingerprint app;
// its alerts go to send.
func NewAccount(name, app string, send func(Alert), now func() time.Time) *Account {
	return &Account{name: name, app: app, send: send, now: now}
}

// OnEvent is a kauth.Config.OnEvent: it sends the alert ev calls for, if
// any. It never blocks on a webhook.
func (w *Account) OnEvent(ev kauth.Event) {
	a := Alert{Time: w.now(), Account: w.name, App: w.app, Token: ev.Token}
	if !ev.ExpiresAt.IsZero() {
		t := ev.ExpiresAt
		a.ExpiresAt = &t
	}
	w.mu.Lock()
	switch ev.Kind {
	case kauth.EventIssued, kauth.EventRefreshed:
		a.Kind = Issued
		switch {
		case ev.Turnover: // asked for in the turnover window, ahead of the session
			a.Reason = "turnover"
		case ev.Kind == kauth.EventRefreshed:
			a.Reason = "expiry" // refreshed ahead of its expiry
		case w.last == kauth.EventInvalidated:
			a.Reason = "rejected_token"
		case w.last == kauth.EventRevoked:
			a.Reason = "revoked"
		case !w.seen:
			a.Reason = "first_token"
		default:
			a.Reason = "expiry"
		}
		w.seen, w.last = true, ev.Kind
	case kauth.EventReused:
		w.seen = true
		if ev.Source == "broker" { // the broker answered an issuance with the token held
			a.Kind = TokenReturnedAgain
		}
	case kauth.EventInvalidated, kauth.EventRevoked:
		w.last = ev.Kind
	case kauth.EventWaiting:
		a.Kind, a.Reason = RateLimited, "waiting "+ev.Duration.String()+" for the broker's issuance interval"
	case kauth.EventStoreFailed:
		a.Kind = StoreFailed
	case kauth.EventFailed:
		switch {
		case errors.Is(ev.Err, kauth.ErrCredentials):
			a.Kind = CredentialsRejected
		case errors.Is(ev.Err, kauth.ErrTokenReturnedAgain):
			a.Kind = TokenReturnedAgain
		case errors.Is(ev.Err, kauth.ErrRateLimited):
			a.Kind = RateLimited
		}
	}
	w.mu.Unlock()
	if a.Kind == "" {
		return
	}
	if ev.Err != nil && a.Reason == "" {
		a.Reason = ev.Err.Error() // kauth's errors name no secret
	}
	w.send(a)
}
