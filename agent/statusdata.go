package agent

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/budget"
	"github.com/kauth/kauth/internal/buildinfo"
)

// statusData is the status page's data.json: what GET /v1/accounts says
// of each account the session may see, with the token's life, today's
// issuances, the call budget, the real-time session and the recent
// token events. It holds no secret and no token: fingerprints only.
type statusData struct {
	Now      string          `json:"now"` // KST, RFC 3339
	Version  string          `json:"version"`
	Accounts []statusAccount `json:"accounts"`
	Events   []statusEvent   `json:"events"` // newest first
}

type statusAccount struct {
	AccountInfo
	// Life is the token's life, for the bar: absent without a token.
	Life *statusLife `json:"life,omitempty"`
	// Today are today's issuances (KST day) among the app key's last
	// kauth.HistoryEvents, oldest first.
	Today    []statusIssue   `json:"today"`
	Budget   statusBudget    `json:"budget"`
	Realtime *statusRealtime `json:"realtime,omitempty"`
}

// statusLife places the token's refresh-ahead window and expiry margin in
// its life, in seconds from its issue.
type statusLife struct {
	IssuedAt string `json:"issued_at"` // KST, RFC 3339
	// Total is the token's life from issue to expiry, Elapsed how much of
	// it has passed.
	Total   int64 `json:"total"`
	Elapsed int64 `json:"elapsed"`
	// RefreshAt is when the refresh-ahead window opens (a new token is
	// fetched in the background from then), UsableUntil when the margin
	// starts (the token is no longer handed out).
	RefreshAt   int64 `json:"refresh_at"`
	UsableUntil int64 `json:"usable_until"`
}

// statusIssue is one issuance outcome on the day's timeline.
type statusIssue struct {
	At      string `json:"at"`      // KST, RFC 3339
	Second  int    `json:"second"`  // seconds since KST midnight
	Outcome string `json:"outcome"` // issued, same, failed
	Code    string `json:"code,omitempty"`
	Host    string `json:"host"`
	PID     int    `json:"pid"`
}

// statusBudget is the app key's call budget now.
type statusBudget struct {
	RateLimit float64 `json:"rate_limit"`
	Burst     int     `json:"burst"`
	// InUse is how much of the burst is spent now (the bucket refills at
	// rate_limit a second): of a shared budget, by every agent sharing it,
	// as its Redis says; InFlight the proxied calls this agent is serving.
	InUse    float64 `json:"in_use"`
	InFlight int64   `json:"in_flight"`
	// InUseUnknown is true when the shared budget's figure could not be
	// read (its Redis out of reach): InUse is 0 then and means nothing.
	InUseUnknown bool `json:"in_use_unknown"`
	// Shared is true when the budget is shared with other agents (Redis);
	// Fallback when that store cannot be reached and this agent paces on
	// its own share.
	Shared   bool `json:"shared"`
	Fallback bool `json:"fallback"`
	// Groups is true for a broker that limits per API group (Toss), whose
	// calls are paced per group rather than by this bucket.
	Groups bool `json:"groups"`
}

// sharedFigure is a shared budget's calls in use, if ok.
type sharedFigure struct {
	n  float64
	ok bool
}

// sharedInUse reads the calls in use of b from its Redis, unless b is on
// its local share (its Redis out of reach): the local share is this
// agent's alone, not the shared figure.
func sharedInUse(ctx context.Context, b *budget.Shared, fallback bool) sharedFigure {
	if fallback {
		return sharedFigure{}
	}
	n, err := b.InUse(ctx)
	return sharedFigure{n, err == nil}
}

// statusRealtime is the app key's upstream WebSocket session.
type statusRealtime struct {
	Connected     bool   `json:"connected"`
	Subscriptions int    `json:"subscriptions"`
	Limit         int    `json:"limit"` // the broker's subscriptions per session
	Members       int    `json:"members"`
	FramesIn      uint64 `json:"frames_in"`
	Reconnects    uint64 `json:"reconnects"`
}

func (a *Agent) statusData(ctx context.Context, g statusGrant) statusData {
	now := a.clock.Now()
	out := statusData{Now: now.In(kauth.KST).Format(time.RFC3339), Version: buildinfo.Get().Version, Accounts: []statusAccount{}}
	var accts []*account
	for _, acct := range a.snapshot() {
		if g.scope.may(acct.name) {
			accts = append(accts, acct)
		}
	}
	hist := a.histories(ctx, accts)
	// The shared budgets' figures, each read once (the accounts of an app
	// key share it), all within a second however many there are.
	sharedUse := map[*budget.Shared]sharedFigure{}
	readCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	for i, acct := range accts {
		in := a.info(acct)
		a.addHistory(hist[i], &in)
		// A base URL may carry a proxy's user and password.
		in.BaseURL = acct.baseURL.Redacted()
		sa := statusAccount{AccountInfo: in, Today: []statusIssue{}}
		if tok, _ := acct.mgr.Cached(); tok.AccessToken != "" && !tok.IssuedAt.IsZero() && tok.ExpiresAt.After(tok.IssuedAt) {
			refresh, _ := acct.mgr.NextRefresh()
			if refresh.IsZero() || refresh.After(tok.ExpiresAt) {
				refresh = tok.ExpiresAt.Add(-kauth.DefaultRefreshAhead)
			}
			secs := func(t time.Time) int64 { return int64(t.Sub(tok.IssuedAt) / time.Second) }
			sa.Life = &statusLife{IssuedAt: tok.IssuedAt.In(kauth.KST).Format(time.RFC3339), Total: secs(tok.ExpiresAt),
				Elapsed: min(max(secs(now), 0), secs(tok.ExpiresAt)), RefreshAt: max(secs(refresh), 0),
				UsableUntil: max(secs(tok.ExpiresAt.Add(-kauth.DefaultExpiryMargin)), 0)}
		}
		if st := hist[i]; st.Err == nil {
			day := now.In(kauth.KST).Format(time.DateOnly)
			for _, r := range st.History.Recent() {
				at := r.At.In(kauth.KST)
				if at.Format(time.DateOnly) != day {
					continue
				}
				sa.Today = append(sa.Today, statusIssue{At: at.Format(time.RFC3339), Second: at.Hour()*3600 + at.Minute()*60 + at.Second(),
					Outcome: r.Outcome, Code: r.Code, Host: r.Host, PID: r.PID})
			}
		}
		// The bucket runs on real time, as the broker's seconds do.
		b := statusBudget{RateLimit: float64(acct.limiter.Limit()), Burst: acct.limiter.Burst(), InFlight: acct.proxy.InFlight(),
			Shared: acct.shared != nil, Groups: acct.groups != nil}
		if acct.shared != nil {
			// This agent's limiter stands idle: the calls are paced by the
			// shared budget, whose figure only its Redis knows.
			b.Fallback = acct.shared.Fallback()
			fig, read := sharedUse[acct.shared]
			if !read {
				fig = sharedInUse(readCtx, acct.shared, b.Fallback)
				sharedUse[acct.shared] = fig
			}
			b.InUse, b.InUseUnknown = fig.n, !fig.ok
		} else {
			b.InUse = max(float64(b.Burst)-acct.limiter.Tokens(), 0)
		}
		sa.Budget = b
		sa.Realtime = a.ws.statusOf(acct)
		out.Accounts = append(out.Accounts, sa)
	}
	out.Events = a.events.list(g.scope, 50)
	return out
}

// statusEvent is one recent token event: what happened to which account's
// token. It holds no secret: the token as its fingerprint, a failure as
// its kind and broker code, never the broker's message.
type statusEvent struct {
	At      string `json:"at"` // KST, RFC 3339
	Account string `json:"account"`
	Kind    string `json:"kind"`
	Token   string `json:"token,omitempty"`
	Expires string `json:"expires_at,omitempty"` // KST, RFC 3339
	Source  string `json:"source,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// eventRingSize is how many events the agent keeps for the status page.
const eventRingSize = 200

// eventRing keeps the agent's last eventRingSize token events. Its zero
// value is ready; it is safe for concurrent use.
type eventRing struct {
	mu   sync.Mutex
	buf  []statusEvent
	next int
}

// add records ev of account at now.
func (e *eventRing) add(now time.Time, account string, ev kauth.Event) {
	se := statusEvent{At: now.In(kauth.KST).Format(time.RFC3339), Account: account, Kind: string(ev.Kind), Token: ev.Token, Source: ev.Source}
	if !ev.ExpiresAt.IsZero() {
		se.Expires = ev.ExpiresAt.In(kauth.KST).Format(time.RFC3339)
	}
	switch ev.Kind {
	case kauth.EventFailed:
		se.Detail = errorKind(ev.Err)
		var ke *kauth.Error
		if errors.As(ev.Err, &ke) && ke.Code != "" {
			se.Detail += " " + ke.Code
		}
	case kauth.EventWaiting:
		se.Detail = "waiting " + ev.Duration.Round(time.Second).String() + " for the broker's issuance interval"
	case kauth.EventStoreFailed:
		se.Detail = "the store could not be written"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.buf) < eventRingSize {
		e.buf = append(e.buf, se)
		return
	}
	e.buf[e.next] = se
	e.next = (e.next + 1) % eventRingSize
}

// list returns up to n of the events scope may see, newest first.
func (e *eventRing) list(scope statusScope, n int) []statusEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []statusEvent{}
	for i := range len(e.buf) {
		// The newest is just before next (once the ring is full) or last.
		j := (e.next - 1 - i + 2*len(e.buf)) % len(e.buf)
		if len(out) == n {
			break
		}
		if ev := e.buf[j]; scope.may(ev.Account) {
			out = append(out, ev)
		}
	}
	return out
}
