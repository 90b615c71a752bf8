package kauth

import (
	"context"
	"errors"
	"os"
	"reflect"
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

// IssuanceState is what Issuance returns for one Manager, as Issuances
// returns it for many.
type IssuanceState struct {
	History History
	// Next is when the next issuance is allowed; zero if it is allowed now.
	Next time.Time
	// Err is the store's error; the History and Next are then zero.
	Err error
}

// Issuances is Issuance for each of ms, in order, reading the entries of
// the Managers that share a Store in one go (LoadEntries: one LoadBatch
// for a BatchLoader, which a shared store answers in a round trip per
// batch rather than per key), each key once. A store error on one key
// fails that Manager's state only.
func Issuances(ctx context.Context, ms []*Manager) []IssuanceState {
	out := make([]IssuanceState, len(ms))
	type batch struct {
		keys  []Key
		at    map[Key]int // the index of a key in keys
		users [][]int     // the indexes in ms of the Managers of each key
	}
	var order []*batch
	byStore := make(map[Store]*batch)
	for i, m := range ms {
		// Only pointers are shared by identity (as in Group.join): a
		// Store of another kind may not be usable as a map key.
		var b *batch
		shared := reflect.TypeOf(m.store).Kind() == reflect.Pointer
		if shared {
			b = byStore[m.store]
		}
		if b == nil {
			b = &batch{at: make(map[Key]int)}
			order = append(order, b)
			if shared {
				byStore[m.store] = b
			}
		}
		j, ok := b.at[m.key]
		if !ok {
			j = len(b.keys)
			b.at[m.key] = j
			b.keys = append(b.keys, m.key)
			b.users = append(b.users, nil)
		}
		b.users[j] = append(b.users[j], i)
	}
	for _, b := range order {
		entries, errs := LoadEntries(ctx, ms[b.users[0][0]].store, b.keys)
		for j := range b.keys {
			for _, i := range b.users[j] {
				m := ms[i]
				switch err := errs[j]; {
				case errors.Is(err, ErrNotFound):
				case err != nil:
					out[i].Err = err
				default:
					out[i] = IssuanceState{History: entries[j].History, Next: nextIssue(entries[j], m.policy.minInterval, m.clock.Now())}
				}
			}
		}
	}
	return out
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
