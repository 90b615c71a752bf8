package brokersim

import (
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/tossapi"
)

// The Toss family: 토스증권 (Toss Securities), at /toss/real (Toss has no
// paper-trading environment; see internal/tossapi and the toss package for
// the wire facts and their sources). It reproduces:
//
//   - POST /oauth2/token, form-encoded client_credentials with client_id
//     and client_secret → access_token, token_type, expires_in (86400).
//     Every issuance mints a new token and invalidates the client's
//     earlier ones ("client 당 유효한 access token 은 1 개입니다"):
//     ReissueNewRevokeOld unless SetReissue says otherwise. OAuth errors:
//     400 invalid_request / unsupported_grant_type, 401 invalid_client,
//     403 access_denied (IP address not allowed).
//   - The APIs answer {"result":…} or {"error":{"requestId","code","message"}}:
//     401 invalid-token (unknown or invalidated token) or expired-token
//     with WWW-Authenticate, 400 account-header-required, 404
//     account-not-found, 403 edge-blocked from an unregistered IP.
//   - Per-client, per-group token buckets (tossapi.Limits, the ORDER_INFO
//     peak window by the virtual clock): X-RateLimit-Limit, -Remaining and
//     -Reset on every answer, 429 rate-limit-exceeded with Retry-After.
//   - The IP allow-list (SetTossAllowList): a caller whose IP is not on it
//     gets 403 on every call.

// tossBroker is Toss's name, as the toss package spells it.
const tossBroker kauth.Broker = "toss"

// tossTokenLifetime is expires_in of the OpenAPI document's example.
const tossTokenLifetime = 86400 * time.Second

// tossState is the Toss family's own state, guarded by Server.mu.
type tossState struct {
	buckets map[tossBucketKey]*tossBucket
	allow   map[string]bool // nil: every IP may call
	seq     int             // request ids
	ws      tossWS
}

type tossBucketKey struct {
	client, group string
}

// tossBucket is one client's token bucket for one group: capacity and
// refill rate are the group's limit per second.
type tossBucket struct {
	tokens float64
	last   time.Time
}

// SetTossAllowList sets the IP allow-list of every Toss client: a call
// from an address not in ips is refused with 403, as Toss refuses a call
// from an IP not registered in its Open API settings. No ips (the default)
// lets every address call. The simulator sees the client's address as the
// connection's remote address (127.0.0.1 for a local test).
func (s *Server) SetTossAllowList(ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ips) == 0 {
		s.toss.allow = nil
		return
	}
	s.toss.allow = make(map[string]bool, len(ips))
	for _, ip := range ips {
		s.toss.allow[ip] = true
	}
}

// tossAllowedLocked reports whether r comes from an allowed address.
func (s *Server) tossAllowedLocked(r *http.Request) bool {
	return s.toss.allow == nil || s.toss.allow[remoteIP(r)]
}

// tossLimit returns the limit of group at now: its documented calls per
// second, or a negative number for none.
func (s *Server) tossLimit(group string, now time.Time) int {
	if s.TossCallsPerSecond != 0 {
		return s.TossCallsPerSecond
	}
	if n := tossapi.PerSecond(group, now); n > 0 {
		return n
	}
	return -1
}

// tossTakeLocked takes one token of client's bucket for group at now. It
// sets the X-RateLimit headers on h, and Retry-After when it refuses.
func (s *Server) tossTakeLocked(h http.Header, client, group string, now time.Time) bool {
	limit := s.tossLimit(group, now)
	if limit < 0 {
		return true
	}
	if s.toss.buckets == nil {
		s.toss.buckets = make(map[tossBucketKey]*tossBucket)
	}
	k := tossBucketKey{client, group}
	b := s.toss.buckets[k]
	if b == nil {
		b = &tossBucket{tokens: float64(limit), last: now}
		s.toss.buckets[k] = b
	}
	rate := float64(limit)
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens += el * rate
	}
	b.last = now
	b.tokens = math.Min(b.tokens, float64(limit))
	ok := b.tokens >= 1
	if ok {
		b.tokens--
	}
	// X-RateLimit-Reset: "토큰 1 개가 재충전될 때까지 예상 초" — seconds,
	// relative, rounded up.
	reset := 0
	if b.tokens < float64(limit) {
		frac := b.tokens - math.Floor(b.tokens)
		reset = int(math.Ceil((1 - frac) / rate))
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(int(math.Floor(b.tokens))))
	h.Set("X-RateLimit-Reset", strconv.Itoa(reset))
	if !ok {
		h.Set("Retry-After", strconv.Itoa(max(reset, 1)))
	}
	return ok
}

// tossRequestIDLocked returns a new request id, as Toss sends in
// X-Request-Id and error.requestId.
func (s *Server) tossRequestIDLocked() string {
	s.toss.seq++
	return fmt.Sprintf("01SIM%021d", s.toss.seq)
}

// tossAPIError writes the APIs' common error envelope.
func tossAPIError(w http.ResponseWriter, status int, reqID, code, msg string) {
	w.Header().Set("X-Request-Id", reqID)
	writeJSON(w, status, map[string]any{"error": map[string]string{"requestId": reqID, "code": code, "message": msg}})
}

// tossOAuthError writes the token endpoint's OAuth 2.0 error.
func tossOAuthError(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="openapi"`)
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

var tossRoutes = map[string]route{
	"/oauth2/token":        {http.MethodPost, (*Server).tossToken},
	"/api/v1/prices":       {http.MethodGet, tossAPI(tossapi.MarketData, false, tossPrices)},
	"/api/v1/accounts":     {http.MethodGet, tossAPI(tossapi.Account, false, tossAccounts)},
	"/api/v1/holdings":     {http.MethodGet, tossAPI(tossapi.Asset, true, tossHoldings)},
	"/api/v1/buying-power": {http.MethodGet, tossAPI(tossapi.OrderInfo, true, tossBuyingPower)},
	"/api/v1/orders":       {http.MethodPost, tossAPI(tossapi.Order, true, tossOrder)},
}

// tossToken serves POST /oauth2/token.
func (s *Server) tossToken(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	formOK := mt == "application/x-www-form-urlencoded" && r.ParseForm() == nil
	key := r.PostForm.Get("client_id")
	s.mu.Lock()
	s.initLocked()
	now := s.nowLocked()
	var (
		status     int
		code, desc string
		reqID      = s.tossRequestIDLocked()
		t          *token
		a          *app
	)
	switch {
	case !s.tossAllowedLocked(r):
		status, code, desc = http.StatusForbidden, "access_denied", "IP address not allowed"
	case !s.tossTakeLocked(w.Header(), "token:"+key, tossapi.Auth, now):
		status, code = http.StatusTooManyRequests, "rate-limit-exceeded"
		s.reject(tossBroker, e, key, func(c *Counts) { c.RateLimited++ })
	case !formOK, key == "", r.PostForm.Get("client_secret") == "":
		status, code, desc = http.StatusBadRequest, "invalid_request", "Required parameter is missing."
	case r.PostForm.Get("grant_type") != "client_credentials":
		status, code, desc = http.StatusBadRequest, "unsupported_grant_type", "Only client_credentials grant type is supported."
	default:
		a = s.apps[appID{tossBroker, e, key}]
		if a == nil || !secretOK(r.PostForm.Get("client_secret"), a.Secret) {
			status, code, desc = http.StatusUnauthorized, "invalid_client", "Client authentication failed."
		}
	}
	if status != 0 && status != http.StatusTooManyRequests {
		s.reject(tossBroker, e, key, nil)
	}
	if status == 0 {
		if cur := a.current; cur != nil && s.reissueModeLocked(tossBroker) == ReissueSame && s.reissuableLocked(cur, now) {
			t = cur
			s.count(tossBroker, e, key, func(c *Counts) { c.Reissued++ })
		} else {
			t = s.mintLocked(a, now, tossTokenLifetime, remoteIP(r))
			s.count(tossBroker, e, key, func(c *Counts) { c.Issued++ })
		}
	}
	var left int64
	if t != nil {
		left = int64(math.Max(0, t.expiresAt.Sub(now).Seconds()))
	}
	s.mu.Unlock()
	w.Header().Set("X-Request-Id", reqID)
	switch {
	case status == http.StatusTooManyRequests:
		// The token endpoint's 429 is the common envelope
		// (components.responses.RateLimitExceeded).
		s.logf("brokersim: toss %s token app=%s: rate-limit-exceeded", e, kauth.Fingerprint(key))
		tossAPIError(w, status, reqID, code, "요청 한도를 초과했습니다. 잠시 후 다시 시도해 주세요.")
		return
	case status != 0:
		s.logf("brokersim: toss %s token app=%s: %s", e, kauth.Fingerprint(key), code)
		tossOAuthError(w, status, code, desc)
		return
	}
	s.logf("brokersim: toss %s token app=%s: issued", e, kauth.Fingerprint(key))
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": t.value,
		"token_type":   "Bearer",
		"expires_in":   left,
	})
}

// tossAPI returns the handler of an API of group: the IP allow-list, the
// token, the group's limit, the account header if account, then result.
func tossAPI(group string, account bool, result func(r *http.Request) any) func(*Server, http.ResponseWriter, *http.Request, kauth.Env) {
	return func(s *Server, w http.ResponseWriter, r *http.Request, e kauth.Env) {
		s.mu.Lock()
		s.initLocked()
		now := s.nowLocked()
		reqID := s.tossRequestIDLocked()
		tok, sent := bearer(r)
		t := s.tokens[tok]
		key := ""
		if t != nil && t.id.broker == tossBroker && t.id.env == e {
			key = t.id.key
		}
		s.count(tossBroker, e, key, func(c *Counts) { c.Calls++ })
		status, code, msg := 0, "", ""
		switch {
		case !s.tossAllowedLocked(r):
			status, code, msg = http.StatusForbidden, "edge-blocked", "허용되지 않은 요청입니다."
		case !sent:
			status, code, msg = http.StatusUnauthorized, "edge-blocked", "Authorization 헤더가 전달되지 않았습니다."
		case key == "" || t.revoked || t.invalid:
			status, code, msg = http.StatusUnauthorized, "invalid-token", "유효하지 않은 토큰입니다."
			s.reject(tossBroker, e, key, func(c *Counts) { c.TokenRejected++ })
		case !now.Before(t.expiresAt):
			status, code, msg = http.StatusUnauthorized, "expired-token", "토큰이 만료되었습니다."
			s.reject(tossBroker, e, key, func(c *Counts) { c.TokenRejected++ })
		case !s.tossTakeLocked(w.Header(), key, group, now):
			status, code, msg = http.StatusTooManyRequests, "rate-limit-exceeded", "요청 한도를 초과했습니다. 잠시 후 다시 시도해 주세요."
			s.reject(tossBroker, e, key, func(c *Counts) { c.RateLimited++ })
		case account && r.Header.Get("X-Tossinvest-Account") == "":
			status, code, msg = http.StatusBadRequest, "account-header-required", "x-tossinvest-account 헤더가 필요합니다."
		case account && r.Header.Get("X-Tossinvest-Account") != "1":
			status, code, msg = http.StatusNotFound, "account-not-found", "계좌를 찾을 수 없습니다."
		default:
			s.count(tossBroker, e, key, func(c *Counts) { c.OK++ })
		}
		if status != 0 && status != http.StatusUnauthorized && status != http.StatusTooManyRequests {
			s.reject(tossBroker, e, key, nil)
		}
		s.mu.Unlock()
		s.logf("brokersim: toss %s %s %s app=%s: %s", e, r.Method, r.URL.Path, kauth.Fingerprint(key), orStr(code, "ok"))
		if status == http.StatusUnauthorized && code != "edge-blocked" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="openapi", error="invalid_token", error_description="Token is invalid or has expired"`)
		}
		if status != 0 {
			tossAPIError(w, status, reqID, code, msg)
			return
		}
		w.Header().Set("X-Request-Id", reqID)
		writeJSON(w, http.StatusOK, map[string]any{"result": result(r)})
	}
}

// tossPrices answers GET /api/v1/prices: the example of the OpenAPI
// document for each symbol.
func tossPrices(r *http.Request) any {
	sym := r.URL.Query().Get("symbols")
	if sym == "" {
		sym = "005930"
	}
	return []map[string]any{{"symbol": sym, "timestamp": "2026-03-25T09:30:00.123+09:00", "lastPrice": "72000", "currency": "KRW"}}
}

func tossAccounts(*http.Request) any {
	return []map[string]any{{"accountNo": "00000000-01", "accountSeq": 1, "accountType": "BROKERAGE"}}
}

func tossHoldings(*http.Request) any {
	return map[string]any{"items": []map[string]any{{"symbol": "005930", "quantity": "10", "averagePrice": "70000", "currency": "KRW"}}}
}

func tossBuyingPower(*http.Request) any {
	return map[string]any{"krw": "1000000", "usd": "0"}
}

func tossOrder(*http.Request) any {
	return map[string]any{"orderId": "SIM-ORDER-1"}
}

// tossFaultAnswer writes the answer of a RateLimit or InvalidToken fault
// in Toss's shapes.
func tossFaultAnswer(w http.ResponseWriter, rateLimit bool) {
	if rateLimit {
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("Retry-After", "1")
		tossAPIError(w, http.StatusTooManyRequests, "01SIMFAULT", "rate-limit-exceeded", "요청 한도를 초과했습니다. 잠시 후 다시 시도해 주세요.")
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="openapi", error="invalid_token"`)
	tossAPIError(w, http.StatusUnauthorized, "01SIMFAULT", "invalid-token", "유효하지 않은 토큰입니다.")
}
