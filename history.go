package kauth

import (
	"context"
	"errors"
	"os"
	"time"
)

// History is the issuance record of one app key, kept in its Entry so that
// every process and host sharing the store sees the same. It holds no
// secret: outcomes, times, broker codes, and the host name and process id
// of the issuer. Its size is bounded: today's counts and the last
// HistoryEvents events.
type History struct {
	// Day is the KST day ("2006-01-02") that the counts below are for;
	// counts of an earlier day read as zero (see Today).
	Day string
	// Issued counts the tokens the broker handed out on Day, Same among
	// them the re-issues that handed back the token already held.
	Issued, Same int
	// Failed counts the issuance attempts that failed on Day.
	Failed int
	// LastIssue is the last issuance that handed out a token, LastFailure
	// the last that failed; zero if none.
	LastIssue, LastFailure IssueRecord
	// Events are the last HistoryEvents issuance outcomes, oldest first;
	// the slots after the last are zero. An array, not a slice, so that
	// an Entry stays comparable and a History bounded.
	Events [HistoryEvents]IssueRecord
}

// Recent returns h's events, oldest first.
func (h History) Recent() []IssueRecord {
	var out []IssueRecord
	for _, r := range h.Events {
		if !r.IsZero() {
			out = append(out, r)
		}
	}
	return out
}

// HistoryEvents is how many events a History keeps.
const HistoryEvents = 8

// Issuance outcomes (IssueRecord.Outcome).
const (
	OutcomeIssued = "issued" // a new token
	OutcomeSame   = "same"   // the token already held, handed back
	OutcomeFailed = "failed" // no token
)

// IssueRecord is one issuance outcome.
type IssueRecord struct {
	At      time.Time
	Outcome string // OutcomeIssued, OutcomeSame or OutcomeFailed
	Host    string // the issuer's host name
	PID     int    // the issuer's process id
	// Code, for a failure, is the broker's code ("EGW00133", "HTTP 503")
	// or, without one, the kind of failure ("broker unavailable").
	Code string
	// Turnover marks an issuance made in the turnover window
	// (Config.Turnover) rather than because the token was due.
	Turnover bool
}

// IsZero reports whether r records nothing.
func (r IssueRecord) IsZero() bool { return r.At.IsZero() && r.Outcome == "" }

// Today returns h's counts for the KST day of now: zero if h was last
// counted on another day.
func (h History) Today(now time.Time) (issued, same, failed int) {
	if h.Day != kstDay(now) {
		return 0, 0, 0
	}
	return h.Issued, h.Same, h.Failed
}

// kstDay is the KST day of t, whatever the local zone.
func kstDay(t time.Time) string { return t.In(KST).Format(time.DateOnly) }

// origin names this process in the records it writes: its host name and
// process id, never anything secret.
type origin struct {
	host string
	pid  int
}

func thisProcess() origin {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return origin{host: host, pid: os.Getpid()}
}

// failureCode is what a History keeps of err: the broker's code, else the
// kind of failure, never the broker's message (which may echo a request).
func failureCode(err error) string {
	var ke *Error
	if errors.As(err, &ke) {
		if ke.Code != "" {
			return ke.Code
		}
		if ke.Kind != nil {
			return ke.Kind.Error()
		}
	}
	for _, kind := range []error{ErrCredentials, ErrTokenRejected, ErrRateLimited, ErrUnavailable, ErrBadRequest, ErrTokenReturnedAgain, ErrMalformedToken} {
		if errors.Is(err, kind) {
			return kind.Error()
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}

// Issuance returns the issuance history of m's app key as its store holds
// it (by every process sharing the store), and when the next issuance is
// allowed: the issuance spacing after the last attempt, or the broker's
// rate limit, whichever is later; zero if it is allowed now. Nothing
// stored yet is a zero History.
func (m *Manager) Issuance(ctx context.Context) (History, time.Time, error) {
	e, err := m.store.Load(ctx, m.key)
	if errors.Is(err, ErrNotFound) {
		return History{}, time.Time{}, nil
	}
	if err != nil {
		return History{}, time.Time{}, err
	}
	return e.History, nextIssue(e, m.policy.minInterval, m.clock.Now()), nil
}

// nextIssue is when e allows the next issuance, for the spacing, at now;
// zero if it is allowed now.
func nextIssue(e Entry, spacing time.Duration, now time.Time) time.Time {
	next := later(e.LastIssue.Add(spacing), e.RetryAt)
	if e.LastIssue.IsZero() {
		next = e.RetryAt
	}
	if !next.After(now) {
		return time.Time{}
	}
	return next.Round(0)
}
