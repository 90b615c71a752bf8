package kauth

import (
	"fmt"
	"time"
)

// Turnover asks a Manager to replace a token that would otherwise expire,
// or enter its refresh-ahead window, during the market's session, earlier,
// inside a window of the same trading day before the session opens (for
// example 07:30 to 08:30 KST). The replacement comes at a quiet hour: the
// broker's alert for it (KIS sends one per issuance) and any failure to
// get it fall outside trading hours.
//
// A turnover costs no extra issuance: it takes the place of the refresh
// that would have come during the session, and it is planned only when
// that refresh would. It is skipped when it would not yield a new token:
// when the window ends before the broker would mint one (KIS answers a
// re-issue within 6 h of an issuance with the same token, see
// SameTokenWindow), or once the window is over. It never keeps a token past
// its ExpiryMargin. A token is turned over on the first call for it once
// the window opened: a program that asks for no token in the window has
// its token refreshed when it would have been.
type Turnover struct {
	// From and To bound the window, as times of day in KST counted from
	// midnight (7h30m and 8h30m for 07:30 to 08:30). From must be before
	// To, and To no later than midnight.
	From, To time.Duration
	// Calendar tells when the market is in session (krx.Default()).
	Calendar Session
}

// Session tells when the market a token serves is in session. A *krx.Calendar
// is one.
type Session interface {
	// InSession reports whether the market is in its regular session at t.
	InSession(t time.Time) bool
}

// Validate reports whether t can be used.
func (t *Turnover) Validate() error {
	switch {
	case t == nil:
		return nil
	case t.Calendar == nil:
		return fmt.Errorf("kauth: Turnover: no Calendar")
	case t.From < 0 || t.To > 24*time.Hour || t.From >= t.To:
		return fmt.Errorf("kauth: Turnover: the window %v to %v is not a span of one day", t.From, t.To)
	}
	return nil
}

// SameTokenWindow returns how long after an issuance p's broker answers a
// re-issue with the same token (SameTokenWindower), or 0.
func SameTokenWindow(p Provider) time.Duration {
	if w, ok := p.(SameTokenWindower); ok {
		return max(w.SameTokenWindow(), 0)
	}
	return 0
}

// SameTokenWindower is implemented by providers whose broker answers a
// re-issue soon after an issuance with the token it issued then.
type SameTokenWindower interface {
	// SameTokenWindow is how long after an issuance a re-issue returns
	// the same token.
	SameTokenWindow() time.Duration
}

// midnightKST returns the start of the KST day of t.
func midnightKST(t time.Time) time.Time {
	y, m, d := t.In(KST).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, KST)
}
