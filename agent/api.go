package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kauth/kauth"
)

// routes builds the agent's handler: the guard in front of the mux.
func (a *Agent) routes() http.Handler {
	mux := http.NewServeMux()
	// Patterns carry no method, so that a wrong method gets a JSON 405
	// rather than the mux's plain-text one.
	mux.HandleFunc("/healthz", a.only("GET", a.serveHealth))
	mux.HandleFunc("/readyz", a.only("GET", a.serveReady)) // ready.go
	mux.HandleFunc("/metrics", a.only("GET", a.serveMetrics))
	mux.HandleFunc("/v1/accounts", a.only("GET", a.serveAccounts))
	mux.HandleFunc("/v1/accounts/{name}", a.only("GET", a.serveAccount))
	mux.HandleFunc("/v1/accounts/{name}/token", a.only("GET", a.serveToken))
	mux.HandleFunc("/v1/accounts/{name}/invalidate", a.only("POST", a.serveInvalidate))
	mux.HandleFunc("/v1/accounts/{name}/approval", a.only("GET", a.serveApproval))
	mux.HandleFunc("/ws/{account}", a.only("GET", a.serveWS))
	mux.HandleFunc("/v1/reload", a.only("POST", a.serveReload))
	mux.HandleFunc("/v1/status/login", a.only("POST", a.serveStatusLogin)) // statuspage.go
	mux.HandleFunc("/status", a.only("GET", a.serveStatus))
	mux.HandleFunc("/status/", a.only("GET", a.serveStatus))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route: "+r.Method+" "+r.URL.Path+
			" (see GET /v1/accounts, GET /v1/accounts/{name}/token, POST /v1/accounts/{name}/invalidate, /proxy/{name}/{broker path}, GET /healthz, GET /readyz, GET /metrics, GET /status/)")
	})
	// The proxy is served outside the mux, which would decode the path
	// and redirect a non-clean one before serveProxy could refuse it.
	top := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/proxy/") {
			a.serveProxy(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/broker/") {
			a.serveFacade(w, r) // facade.go
			return
		}
		mux.ServeHTTP(w, r)
	})
	guarded := a.guard(top)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isRelay(r) {
			a.serveRelay(w, r) // relay.go: another agent, which proves itself
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

func (a *Agent) only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == "GET" && r.Method == "HEAD") {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" "+r.URL.Path+": use "+method)
			return
		}
		h(w, r)
	}
}

// apiError is the body of every error answer.
type apiError struct {
	// Error is one human-readable line; it never holds a secret or token.
	Error string `json:"error"`
	// Code is a stable machine-readable name: not_found, unauthenticated,
	// forbidden_origin, forbidden_host, forbidden_path, body_too_large,
	// method_not_allowed, bad_request, credentials, token_rejected,
	// token_returned_again, rate_limited, unavailable, malformed_token,
	// timeout, canceled, internal.
	Code string `json:"code"`
	// Broker, Env and BrokerCode name the broker's own answer, when the
	// failure came from one (e.g. "kis", "mock", "EGW00133").
	Broker     string `json:"broker,omitempty"`
	Env        string `json:"env,omitempty"`
	BrokerCode string `json:"broker_code,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed","code":"internal"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	// Answers may carry tokens: no cache anywhere may keep them.
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: msg, Code: code})
}

// errCanceled marks a failure caused by the caller giving up.
var errCanceled = errors.New("request canceled")

// writeKauthError answers a failure to get a token or to reach the broker,
// with a status by its kauth kind: 502 when the broker refused or failed
// (credentials rejected, token trouble, broker unavailable), 503 with
// Retry-After when it rate-limited, 504 when the caller's deadline passed.
func writeKauthError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", errCanceled, err)
	}
	status, code := http.StatusBadGateway, errorKind(err)
	switch code {
	case "rate_limited":
		status = http.StatusServiceUnavailable
		if ra := kauth.RetryAfter(err); ra > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
		}
	case "canceled":
		// The caller is gone; 499 is what proxies log for that.
		status = 499
	case "other":
		code = "internal"
		if errors.Is(err, context.DeadlineExceeded) {
			status, code = http.StatusGatewayTimeout, "timeout"
		} else {
			status = http.StatusInternalServerError
		}
	}
	body := apiError{Error: err.Error(), Code: code}
	var ke *kauth.Error
	if errors.As(err, &ke) {
		body.Broker, body.Env, body.BrokerCode = string(ke.Broker), string(ke.Env), ke.Code
	}
	writeJSON(w, status, body)
}

func (a *Agent) serveHealth(w http.ResponseWriter, r *http.Request) {
	accts := a.snapshot()
	usable := 0
	for _, acct := range accts {
		if _, ok := acct.mgr.Cached(); ok {
			usable++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "accounts": len(accts), "tokens_usable": usable})
}

func (a *Agent) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if p := principalOf(r); p != nil && !p.all {
		writeError(w, http.StatusForbidden, "forbidden_account", "client key "+p.name+" may not read /metrics, which covers every account")
		return
	}
	a.metrics.Handler().ServeHTTP(w, r)
}

// serveReload re-reads the config and applies it (Options.Reload), as
// SIGHUP does: {"status":"reloaded","accounts":N}, or 400 bad_config with
// the one-line reason, the running config staying in force. Only the unix
// socket and the agent key may: a client key opens accounts, not the
// agent's config.
func (a *Agent) serveReload(w http.ResponseWriter, r *http.Request) {
	if p := principalOf(r); p != nil && !p.all {
		writeError(w, http.StatusForbidden, "forbidden_account", "client key "+p.name+" may not reload the agent; use the agent key or the unix socket")
		return
	}
	if a.reload == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "this agent has no config to reload")
		return
	}
	if err := a.reload(); err != nil {
		a.log.Error("agent: reload failed; the old config stays in force", "err", err)
		writeError(w, http.StatusBadRequest, "bad_config", strings.Join(strings.Fields(err.Error()), " "))
		return
	}
	a.log.Info("agent: config reloaded on request")
	writeJSON(w, http.StatusOK, map[string]any{"status": "reloaded", "accounts": len(a.snapshot())})
}

// AccountInfo describes one served account in GET /v1/accounts. It holds
// no secret and no token: the app key and the token appear as
// fingerprints.
type AccountInfo struct {
	Name   string       `json:"name"`
	Broker kauth.Broker `json:"broker"`
	Env    kauth.Env    `json:"env"`
	// App is the app key's fingerprint (kauth.Fingerprint).
	App     string `json:"app"`
	BaseURL string `json:"base_url"`
	// RateLimit and Burst are the proxied calls per second allowed for the
	// app key.
	RateLimit float64 `json:"rate_limit"`
	Burst     int     `json:"burst"`
	// TokenState is "none" (no token yet), "valid", "refresh_due" (inside
	// the refresh-ahead window; a new one is on its way) or "expired".
	TokenState string `json:"token_state"`
	// Token is the token's fingerprint, to match the agent's logs.
	Token string `json:"token_fingerprint,omitempty"`
	// ExpiresAt is the token's expiry in KST (RFC 3339, +09:00).
	ExpiresAt string `json:"expires_at,omitempty"`
	// ExpiresIn is the seconds until then.
	ExpiresIn int64 `json:"expires_in,omitempty"`
	// NextTurnover, if the account has a turnover window and its next
	// refresh is one, is when it comes, in KST (RFC 3339, +09:00).
	NextTurnover string `json:"next_turnover,omitempty"`
	// The app key's issuances, by every process sharing the store, as
	// kauth status shows them: how many today (KST day), how many of
	// them handed back the token already held, how many failed.
	IssuedToday int `json:"issued_today"`
	SameToday   int `json:"same_today"`
	FailedToday int `json:"failed_today"`
	// LastIssue is the last issuance that handed out a token,
	// LastFailure the last that failed, if any.
	LastIssue   *IssueInfo `json:"last_issue,omitempty"`
	LastFailure *IssueInfo `json:"last_failure,omitempty"`
	// NextIssue is when the next issuance is allowed, in KST (RFC 3339,
	// +09:00); absent when it is allowed now.
	NextIssue string `json:"next_issue,omitempty"`
}

// IssueInfo is one recorded issuance: when, by which host and process,
// and for a failure the broker's code (or the kind of failure).
type IssueInfo struct {
	At      string `json:"at"` // KST, RFC 3339
	Outcome string `json:"outcome"`
	Host    string `json:"host"`
	PID     int    `json:"pid"`
	Code    string `json:"code,omitempty"`
	// Turnover marks an issuance made in the account's turnover window.
	Turnover bool `json:"turnover,omitempty"`
}

// IssueInfoOf is r as IssueInfo, or nil if nothing was recorded.
func IssueInfoOf(r kauth.IssueRecord) *IssueInfo {
	if r.IsZero() {
		return nil
	}
	return &IssueInfo{At: r.At.In(kauth.KST).Format(time.RFC3339), Outcome: r.Outcome, Host: r.Host, PID: r.PID, Code: r.Code, Turnover: r.Turnover}
}

// history adds acct's issuance history to in; a store that cannot be read
// leaves it out.
func (a *Agent) history(ctx context.Context, acct *account, in *AccountInfo) {
	h, next, err := acct.mgr.Issuance(ctx)
	a.addHistory(kauth.IssuanceState{History: h, Next: next, Err: err}, in)
}

// histories reads the issuance histories of accts from the store in one
// go (kauth.Issuances: a batch, not a round trip per account), in order.
func (a *Agent) histories(ctx context.Context, accts []*account) []kauth.IssuanceState {
	ms := make([]*kauth.Manager, len(accts))
	for i, acct := range accts {
		ms[i] = acct.mgr
	}
	return kauth.Issuances(ctx, ms)
}

// addHistory adds an account's issuance state st to in; a store that
// could not be read leaves it out.
func (a *Agent) addHistory(st kauth.IssuanceState, in *AccountInfo) {
	if st.Err != nil {
		return
	}
	in.IssuedToday, in.SameToday, in.FailedToday = st.History.Today(a.clock.Now())
	in.LastIssue, in.LastFailure = IssueInfoOf(st.History.LastIssue), IssueInfoOf(st.History.LastFailure)
	if !st.Next.IsZero() {
		in.NextIssue = st.Next.In(kauth.KST).Format(time.RFC3339)
	}
}

func (a *Agent) info(acct *account) AccountInfo {
	in := AccountInfo{
		Name: acct.name, Broker: acct.creds.Broker, Env: acct.creds.Env, App: acct.creds.Fingerprint(),
		BaseURL: acct.baseURL.String(), RateLimit: float64(acct.limiter.Limit()), Burst: acct.limiter.Burst(),
		TokenState: "none",
	}
	tok, usable := acct.mgr.Cached()
	if tok.AccessToken == "" {
		return in
	}
	now := a.clock.Now()
	in.Token = tok.Fingerprint()
	in.ExpiresAt = tok.ExpiresAt.In(kauth.KST).Format(time.RFC3339)
	in.ExpiresIn = int64(tok.ExpiresAt.Sub(now) / time.Second)
	if at, turn := acct.mgr.NextRefresh(); turn {
		in.NextTurnover = at.In(kauth.KST).Format(time.RFC3339)
	}
	switch {
	case !usable:
		in.TokenState = "expired"
	case !now.Before(tok.ExpiresAt.Add(-kauth.DefaultRefreshAhead)):
		in.TokenState = "refresh_due"
	default:
		in.TokenState = "valid"
	}
	return in
}

func (a *Agent) serveAccounts(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	var accts []*account
	for _, acct := range a.snapshot() {
		if p.may(acct.name) {
			accts = append(accts, acct)
		}
	}
	hist := a.histories(r.Context(), accts)
	out := make([]AccountInfo, len(accts))
	for i, acct := range accts {
		out[i] = a.info(acct)
		a.addHistory(hist[i], &out[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": out})
}

// account finds the account named in the path, or answers 403 if the
// caller's client key may not use it, or 404. The caller must call done on
// a non-nil account when it is finished with it.
func (a *Agent) account(w http.ResponseWriter, r *http.Request, name string) *account {
	if p := principalOf(r); !p.may(name) {
		writeError(w, http.StatusForbidden, "forbidden_account", fmt.Sprintf("client key %s may not use account %q", p.name, name))
		return nil
	}
	acct := a.lookup(name)
	if acct == nil {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no account %q (GET /v1/accounts lists them)", name))
	}
	return acct
}

func (a *Agent) serveAccount(w http.ResponseWriter, r *http.Request) {
	if acct := a.account(w, r, r.PathValue("name")); acct != nil {
		defer acct.done()
		in := a.info(acct)
		a.history(r.Context(), acct, &in)
		writeJSON(w, http.StatusOK, in)
	}
}

// TokenResponse is the answer of GET /v1/accounts/{name}/token, the same
// shape as `kauth token --json`.
type TokenResponse struct {
	AccessToken string       `json:"access_token"`
	TokenType   string       `json:"token_type"`
	ExpiresAt   string       `json:"expires_at"` // RFC 3339 in KST (+09:00)
	Broker      kauth.Broker `json:"broker"`
	Env         kauth.Env    `json:"env"`
}

func (a *Agent) serveToken(w http.ResponseWriter, r *http.Request) {
	acct := a.account(w, r, r.PathValue("name"))
	if acct == nil {
		return
	}
	defer acct.done()
	tok, err := acct.mgr.Token(r.Context())
	if err != nil {
		writeKauthError(w, r, err)
		return
	}
	typ := tok.Type
	if typ == "" {
		typ = "Bearer"
	}
	writeJSON(w, http.StatusOK, TokenResponse{
		AccessToken: tok.AccessToken,
		TokenType:   typ,
		ExpiresAt:   tok.ExpiresAt.In(kauth.KST).Format(time.RFC3339),
		Broker:      acct.creds.Broker,
		Env:         acct.creds.Env,
	})
}

// InvalidateRequest is the body of POST /v1/accounts/{name}/invalidate: the
// token the broker rejected (KIS EGW00121..EGW00123, Kiwoom 8005).
type InvalidateRequest struct {
	Token string `json:"token"`
}

// InvalidateResponse says what the agent made of a report. A report is a
// claim: the agent drops the token only when the broker rejects it in the
// agent's own probe call (at most one a minute per app key), so that no
// client can take a valid token away from the others.
type InvalidateResponse struct {
	// Invalidated is true when the reported token was the one being served
	// and the broker confirmed the rejection: the agent dropped it, and the
	// next token request gets another.
	Invalidated bool `json:"invalidated"`
	// Reason is "confirmed" (dropped), "accepted" (the broker accepted the
	// token just now: keep using it), "not_current" (not the token being
	// served: ask for the token again) or "unverified" (could not be
	// checked now: the token stays; report again after RetryAfter).
	Reason string `json:"reason"`
	// RetryAfter is the seconds until the agent will probe the broker
	// again, with "unverified" and with an "accepted" from an earlier
	// probe: a client whose calls still fail may report again then.
	RetryAfter int `json:"retry_after,omitempty"`
}

func (a *Agent) serveInvalidate(w http.ResponseWriter, r *http.Request) {
	acct := a.account(w, r, r.PathValue("name"))
	if acct == nil {
		return
	}
	defer acct.done()
	var req InvalidateRequest
	if !a.readBody(w, r) {
		return
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "bad_request", `want a JSON body {"token":"<the rejected token>"}`)
		return
	}
	if req.Token == "" {
		writeError(w, http.StatusBadRequest, "bad_request", `"token" is empty: send the token the broker rejected`)
		return
	}
	reason, retry := a.checkReport(r.Context(), acct, req.Token)
	res := InvalidateResponse{Invalidated: reason == reasonConfirmed, Reason: reason}
	if retry > 0 {
		res.RetryAfter = int((retry + time.Second - 1) / time.Second)
	}
	a.log.Info("agent: token reported rejected", "account", acct.name, "token", kauth.Fingerprint(req.Token), "verdict", reason)
	writeJSON(w, http.StatusOK, res)
}
