package brokersim

import (
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kauth/kauth"
)

// The IGW gateway family: LS증권 and DB증권 (see internal/igw for the wire
// facts and their sources). Every broker of the family (simBrokers) is
// served from its entry alone: the token and revoke endpoints, and one
// protected call, a price quote, with the headers the gateway requires.

// igwRoutes returns the routes of an igw broker.
func igwRoutes(b kauth.Broker) map[string]route {
	sb, ok := igwBroker(b)
	if !ok {
		return nil
	}
	return map[string]route{
		"/oauth2/token":  {http.MethodPost, (*Server).igwToken},
		"/oauth2/revoke": {http.MethodPost, (*Server).igwRevoke},
		sb.call:          {http.MethodPost, (*Server).igwProtected},
	}
}

// igwBroker recovers the broker of a request routed to the igw family.
type igwBrokerKey struct{}

// igwTokenError writes an answer of the gateway's token endpoints: HTTP 403 (or
// 400) with error_code and error_description.
func igwTokenError(w http.ResponseWriter, status int, code, desc string) {
	body := map[string]string{"error_description": desc}
	if code != "" {
		body["error_code"] = code
	}
	writeJSON(w, status, body)
}

// igwForm reads the parameters of a token or revoke call: the form body
// and the query string, as the gateway takes them from either. Its pages
// document a form body, and clients send the same parameters as a query
// string with an empty form body and are served (kimpro82/MyInvestmentModules,
// eBest_OpenAPI/OAuth.py: requests.post(URL, headers=header, params=param)
// with content-type application/x-www-form-urlencoded). A body value wins
// over a query value of the same name. A JSON body is refused as the
// gateway does (its token pages require application/x-www-form-urlencoded).
func igwForm(r *http.Request) (url.Values, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, false
	}
	if err := r.ParseForm(); err != nil {
		return nil, false
	}
	return r.Form, true
}

// igwCheckAppLocked checks appkey and appsecretkey: IGW00103 for an
// unknown key, IGW00105 for a wrong secret.
func (s *Server) igwCheckAppLocked(b kauth.Broker, e kauth.Env, key, secret string) (*app, string, string) {
	a := s.apps[appID{b, e, key}]
	switch {
	case key == "" || a == nil:
		return nil, "IGW00103", "유효하지 않은 AppKey입니다."
	case !secretOK(secret, a.Secret):
		return nil, "IGW00105", "유효하지 않은 AppSecret입니다."
	}
	return a, "", ""
}

// reissueModeLocked is b's re-issue mode: SetReissue's, else the broker's
// own (simBrokers).
func (s *Server) reissueModeLocked(b kauth.Broker) ReissueMode {
	if m, ok := s.reissue[b]; ok {
		return m
	}
	if sb, ok := lookup(b); ok {
		return sb.reissue
	}
	return ReissueSame
}

// igwToken serves POST /oauth2/token.
func (s *Server) igwToken(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	b := r.Context().Value(igwBrokerKey{}).(kauth.Broker)
	sb, _ := igwBroker(b)
	form, ok := igwForm(r)
	s.mu.Lock()
	s.initLocked()
	var (
		status     int
		code, desc string
		t          *token
		outcome    string
	)
	key := form.Get("appkey")
	switch {
	case !ok:
		status, desc = http.StatusBadRequest, "Content-Type은 application/x-www-form-urlencoded 이어야 합니다."
	case form.Get("grant_type") != "client_credentials":
		status, desc = http.StatusBadRequest, "grant_type은 client_credentials 이어야 합니다."
	case form.Get("scope") != "oob":
		status, desc = http.StatusBadRequest, "scope는 oob 이어야 합니다."
	}
	var a *app
	if status == 0 {
		if a, code, desc = s.igwCheckAppLocked(b, e, key, form.Get("appsecretkey")); a == nil {
			status = http.StatusForbidden
		}
	}
	now := s.nowLocked()
	if status == 0 && sb.issueLimit > 0 && !a.lastAnswer.IsZero() && now.Sub(a.lastAnswer) < sb.issueLimit {
		// One issuance a minute: IGW00201 under 403 on the token endpoint.
		status, code, desc = http.StatusForbidden, "IGW00201", "호출 거래건수를 초과하였습니다."
		s.reject(b, e, key, func(c *Counts) { c.RateLimited++ })
	} else if status != 0 {
		s.reject(b, e, key, nil)
	}
	if status == 0 {
		a.lastAnswer = now
		if cur := a.current; cur != nil && s.reissueModeLocked(b) == ReissueSame && s.reissuableLocked(cur, now) {
			t, outcome = cur, "reissued"
			s.count(b, e, key, func(c *Counts) { c.Reissued++ })
		} else {
			lifetime := sb.expiry(now.Truncate(time.Second)).Sub(now.Truncate(time.Second))
			if s.IGWTokenLifetime != 0 {
				lifetime = s.IGWTokenLifetime
			}
			t, outcome = s.mintLocked(a, now, lifetime, remoteIP(r)), "issued"
			s.count(b, e, key, func(c *Counts) { c.Issued++ })
		}
	}
	var left int64
	if t != nil {
		left = int64(math.Max(0, t.expiresAt.Sub(now).Seconds()))
	}
	s.mu.Unlock()
	if status != 0 {
		s.logf("brokersim: %s %s token app=%s: %s", b, e, kauth.Fingerprint(key), orStr(code, "bad request"))
		igwTokenError(w, status, code, desc)
		return
	}
	s.logf("brokersim: %s %s token app=%s: %s", b, e, kauth.Fingerprint(key), outcome)
	// The example answer sends expires_in as a number; the table names
	// the field expire_in. The simulator sends the example's shape.
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": t.value,
		"scope":        "oob",
		"token_type":   "Bearer",
		"expires_in":   left,
	})
}

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// igwRevoke serves POST /oauth2/revoke: {"code":200,"message":…}.
func (s *Server) igwRevoke(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	b := r.Context().Value(igwBrokerKey{}).(kauth.Broker)
	form, ok := igwForm(r)
	key := form.Get("appkey")
	s.mu.Lock()
	s.initLocked()
	status, code, desc := 0, "", ""
	var a *app
	switch {
	case !ok:
		status, desc = http.StatusBadRequest, "Content-Type은 application/x-www-form-urlencoded 이어야 합니다."
	case form.Get("token_type_hint") != "access_token":
		status, desc = http.StatusBadRequest, "token_type_hint는 access_token 이어야 합니다."
	default:
		if a, code, desc = s.igwCheckAppLocked(b, e, key, form.Get("appsecretkey")); a == nil {
			status = http.StatusForbidden
		} else if s.revokeLocked(a, form.Get("token"), "missing", "invalid") != "" {
			status, code, desc = http.StatusForbidden, "IGW00121", "유효하지 않은 토큰입니다."
		}
	}
	if status != 0 {
		s.reject(b, e, key, nil)
	}
	s.mu.Unlock()
	if status != 0 {
		s.logf("brokersim: %s %s revoke app=%s: %s", b, e, kauth.Fingerprint(key), orStr(code, "bad request"))
		igwTokenError(w, status, code, desc)
		return
	}
	s.logf("brokersim: %s %s revoke app=%s: revoked", b, e, kauth.Fingerprint(key))
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "message": "접근토큰 폐기에 성공하였습니다."})
}

// igwProtected serves the broker's protected call (its probe): the token
// (IGW00121 under HTTP 500 when unknown, revoked, invalid, expired or of
// the other env), the required headers, the per-second limit (IGW00201,
// HTTP 200), then a quote with rsp_cd 00000.
func (s *Server) igwProtected(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	b := r.Context().Value(igwBrokerKey{}).(kauth.Broker)
	sb, _ := igwBroker(b)
	required := sb.callHeaders
	s.mu.Lock()
	s.initLocked()
	tok, _ := bearer(r)
	t := s.tokens[tok]
	key := ""
	if t != nil {
		key = t.id.key
	}
	s.count(b, e, key, func(c *Counts) { c.Calls++ })
	now := s.nowLocked()
	status, code, msg := http.StatusOK, "00000", "정상적으로 조회가 완료되었습니다."
	var missing string
	for _, h := range required {
		if _, ok := r.Header[http.CanonicalHeaderKey(h)]; !ok {
			if _, ok := r.Header[h]; !ok {
				missing = h
			}
		}
	}
	switch {
	case t == nil || t.id.broker != b || t.id.env != e || t.revoked || t.invalid || !now.Before(t.expiresAt):
		status, code, msg = http.StatusInternalServerError, "IGW00121", "유효하지 않은 토큰입니다."
		s.reject(b, e, key, func(c *Counts) { c.TokenRejected++ })
	case missing != "":
		status, code, msg = http.StatusBadRequest, "IGW00002", "필수 헤더가 없습니다: "+missing
		s.reject(b, e, key, nil)
	case !s.allowCallLocked(s.apps[t.id], now):
		code, msg = "IGW00201", "호출 거래건수를 초과하였습니다."
		s.reject(b, e, key, func(c *Counts) { c.RateLimited++ })
	default:
		s.count(b, e, key, func(c *Counts) { c.OK++ })
	}
	s.mu.Unlock()
	s.logf("brokersim: %s %s %s app=%s: %s", b, e, r.URL.Path, kauth.Fingerprint(key), code)
	// The gateway echoes the continuation headers of the call.
	for _, h := range required {
		if v, ok := r.Header[h]; ok {
			w.Header()[h] = v
		} else if v := r.Header.Values(h); len(v) > 0 {
			w.Header()[h] = v
		}
	}
	body := map[string]any{"rsp_cd": code, "rsp_msg": msg}
	if code == "00000" {
		in := sb.outBlock
		if in == "" {
			in = "OutBlock"
		}
		body[in] = igwQuote(r, strings.TrimSuffix(in, "OutBlock")+"InBlock")
	}
	raw, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(raw)
}

// igwQuote answers a price quote for the code (shcode) the request's
// inBlock names, 005930 if it names none. The fields are those of LS's
// t1102OutBlock (REST[주식] 시세, 주식현재가(시세)조회 t1102: hname, price,
// sign, change, diff, volume, recprice, avg, uplmtprice, dnlmtprice, open,
// high, low, shcode …), numbers as numbers, diff as LS prints it ("000.44").
func igwQuote(r *http.Request, inBlock string) map[string]any {
	var req map[string]struct {
		Shcode string `json:"shcode"`
	}
	code := "005930"
	if json.NewDecoder(r.Body).Decode(&req) == nil && req[inBlock].Shcode != "" {
		code = req[inBlock].Shcode
	}
	st, ok := stocks[code]
	if !ok {
		st = stock{code: code, name: code, price: 10000, upper: 13000, lower: 7000, shares: 100_000_000}
	}
	return map[string]any{
		"hname":      st.name,
		"price":      st.price,
		"sign":       "3",
		"change":     st.prevDiff,
		"diff":       fmt.Sprintf("%06.2f", 0.0),
		"volume":     12345678,
		"recprice":   st.price,
		"avg":        st.price,
		"uplmtprice": st.upper,
		"dnlmtprice": st.lower,
		"jnilvolume": 11111111,
		"volumediff": 1234567,
		"open":       st.price,
		"opentime":   "090000",
		"high":       st.price,
		"hightime":   "090000",
		"low":        st.price,
		"lowtime":    "090000",
		"listing":    st.shares / 1000,
		"memedan":    "00001",
		"shcode":     st.code,
	}
}
