package brokersim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/kauth/kauth"
)

// KIS message codes and texts, as the KIS gateway sends them.
const (
	egwBadRequest      = "EGW00101" // 유효하지 않은 요청입니다.
	egwAppKeyMissing   = "EGW00102"
	egwAppKeyInvalid   = "EGW00103"
	egwSecretMissing   = "EGW00104"
	egwSecretInvalid   = "EGW00105"
	egwGrantMissing    = "EGW00115"
	egwGrantInvalid    = "EGW00116"
	egwTokenInvalid    = "EGW00121"
	egwTokenNotFound   = "EGW00122"
	egwTokenExpired    = "EGW00123"
	egwContentType     = "EGW00132"
	egwIssueRateLimit  = "EGW00133"
	egwCallRateLimit   = "EGW00201"
	egwCredentialsType = "EGW00205"
	opsqNoService      = "OPSQ0002"
	opsqInput          = "OPSQ2002"
	opsqTrIDNotFound   = "OPSQ9999"

	kisTrIDInquirePrice = "FHKST01010100"
)

var kisMessages = map[string]string{
	egwBadRequest:      "유효하지 않은 요청입니다.",
	egwAppKeyMissing:   "AppKey는 필수입니다.",
	egwAppKeyInvalid:   "유효하지 않은 AppKey입니다.",
	egwSecretMissing:   "AppSecret은 필수입니다.",
	egwSecretInvalid:   "유효하지 않은 AppSecret입니다.",
	egwGrantMissing:    "권한부여 타입(grant_type)은 필수입니다.",
	egwGrantInvalid:    "지원하지 않는 권한부여 타입(grant_type)입니다.",
	egwTokenInvalid:    "유효하지 않은 token 입니다.",
	egwTokenNotFound:   "token을 찾을 수 없습니다.",
	egwTokenExpired:    "기간이 만료된 token 입니다.",
	egwContentType:     "Content-Type이 유효하지 않습니다.",
	egwIssueRateLimit:  "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)",
	egwCallRateLimit:   "초당 거래건수를 초과하였습니다.",
	egwCredentialsType: "credentials_type이 유효하지 않습니다.(Bearer)",
	opsqNoService:      "없는 서비스 코드 입니다.",
	opsqTrIDNotFound:   "JSON PARSING ERROR : tr_id not found",
}

// kisFlatError is how the /oauth2 endpoints of KIS fail: HTTP 403 and a flat
// body.
type kisFlatError struct {
	ErrorCode        string `json:"error_code"`
	ErrorDescription string `json:"error_description"`
}

// kisResult is the envelope of every /uapi answer.
type kisResult struct {
	RtCd   string `json:"rt_cd"`
	MsgCd  string `json:"msg_cd"`
	Msg1   string `json:"msg1"`
	Output any    `json:"output,omitempty"`
}

type reply struct {
	status int
	body   any
}

func kisFlat(code string) reply {
	return reply{http.StatusForbidden, kisFlatError{code, kisMessages[code]}}
}

func (s *Server) kisUapiError(code string, status int) reply {
	return reply{status, kisResult{RtCd: "1", MsgCd: code, Msg1: kisMessages[code]}}
}

func (s *Server) kisAuthStatus() int {
	if s.KISAuthErrorStatus == 0 {
		return http.StatusInternalServerError
	}
	return s.KISAuthErrorStatus
}

// kisBody is the union of the fields the KIS /oauth2 endpoints take.
type kisBody struct {
	GrantType string `json:"grant_type"`
	AppKey    string `json:"appkey"`
	AppSecret string `json:"appsecret"`
	SecretKey string `json:"secretkey"`
	Token     string `json:"token"`
}

// decodeJSONBody checks the content type and decodes the body into v. It
// reports false for a content type other than application/json (KIS answers
// EGW00132, Kiwoom 1517) and for a body that is not a JSON object of the
// expected shape.
func decodeJSONBody(r *http.Request, v any) (contentTypeOK, bodyOK bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return false, false
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return true, false
	}
	return true, true
}

func secretOK(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// kisCheckAppLocked checks an app key and secret at env e and returns the
// app, or the code of the failure.
func (s *Server) kisCheckAppLocked(e kauth.Env, key, secret string) (*app, string) {
	switch a := s.apps[appID{kauth.KIS, e, key}]; {
	case key == "":
		return nil, egwAppKeyMissing
	case a == nil:
		// An app of the other env is just as unknown here: KIS keeps
		// real and mock apps apart.
		return nil, egwAppKeyInvalid
	case secret == "":
		return nil, egwSecretMissing
	case !secretOK(secret, a.Secret):
		return nil, egwSecretInvalid
	default:
		return a, ""
	}
}

// kisTokenResponse is the answer of /oauth2/tokenP.
type kisTokenResponse struct {
	AccessToken        string `json:"access_token"`
	AccessTokenExpired string `json:"access_token_token_expired"`
	TokenType          string `json:"token_type"`
	ExpiresIn          int64  `json:"expires_in"`
}

// kisToken serves POST /oauth2/tokenP (접근토큰발급).
//
// Within KISReissueWindow (6 h) of minting a token, tokenP answers with that
// same token and its old expiry; expires_in then counts the seconds left.
//
// The once-a-minute limit (EGW00133) counts every successful answer, the
// same-token ones included: the gateway limits the endpoint, not the minting,
// so a client that calls tokenP twice within a minute is refused even when
// the second answer would have been the cached token. Refused calls do not
// restart the minute, so a client that waits a minute always gets through.
func (s *Server) kisToken(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	var req kisBody
	ctOK, bodyOK := decodeJSONBody(r, &req)
	rep, fp, outcome := func() (reply, string, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.initLocked()
		switch {
		case !ctOK:
			s.reject(kauth.KIS, e, "", nil)
			return kisFlat(egwContentType), "", egwContentType
		case !bodyOK:
			s.reject(kauth.KIS, e, "", nil)
			return kisFlat(egwBadRequest), "", egwBadRequest
		}
		a, code := s.kisCheckAppLocked(e, req.AppKey, req.AppSecret)
		fp := kauth.Fingerprint(req.AppKey)
		if code == "" {
			switch req.GrantType {
			case "":
				code = egwGrantMissing
			case "client_credentials":
			default:
				code = egwGrantInvalid
			}
		}
		if code != "" {
			s.reject(kauth.KIS, e, req.AppKey, nil)
			return kisFlat(code), fp, code
		}
		now := s.nowLocked()
		interval := orDuration(s.KISIssueInterval, defaultKISIssueInterval)
		if interval > 0 && !a.lastAnswer.IsZero() && now.Sub(a.lastAnswer) < interval {
			s.reject(kauth.KIS, e, req.AppKey, func(c *Counts) { c.RateLimited++ })
			return kisFlat(egwIssueRateLimit), fp, egwIssueRateLimit
		}
		a.lastAnswer = now
		window := orDuration(s.KISReissueWindow, defaultKISReissueWindow)
		if t := a.current; t != nil && s.reissue[kauth.KIS] == ReissueSame && s.reissuableLocked(t, now) && now.Sub(t.issuedAt) < window {
			s.count(kauth.KIS, e, req.AppKey, func(c *Counts) { c.Reissued++ })
			return reply{http.StatusOK, kisTokenResponse{
				AccessToken:        t.value,
				AccessTokenExpired: kst(t.expiresAt, kstLayoutKIS),
				TokenType:          "Bearer",
				ExpiresIn:          int64(t.expiresAt.Sub(now) / time.Second),
			}}, fp, "reissued"
		}
		lifetime := orDuration(s.KISTokenLifetime, defaultKISLifetime)
		t := s.mintLocked(a, now, lifetime, remoteIP(r))
		s.count(kauth.KIS, e, req.AppKey, func(c *Counts) { c.Issued++ })
		return reply{http.StatusOK, kisTokenResponse{
			AccessToken:        t.value,
			AccessTokenExpired: kst(t.expiresAt, kstLayoutKIS),
			TokenType:          "Bearer",
			ExpiresIn:          int64(lifetime / time.Second),
		}}, fp, "issued"
	}()
	s.logf("brokersim: kis %s tokenP app=%s: %s", e, fp, outcome)
	writeJSON(w, rep.status, rep.body)
}

// reissuableLocked reports whether a token endpoint may hand t back again.
func (s *Server) reissuableLocked(t *token, now time.Time) bool {
	return !t.revoked && (!t.invalid || s.ReissueInvalidated) && now.Before(t.expiresAt)
}

// kisRevokeResponse is the answer of /oauth2/revokeP. KIS documents code as
// a string but sends the number 200.
type kisRevokeResponse struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// kisRevoke serves POST /oauth2/revokeP (접근토큰폐기). Revoking a token of
// the same app again (or an expired one) succeeds; a token the app never
// held is EGW00121, a missing one EGW00122.
func (s *Server) kisRevoke(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	var req kisBody
	ctOK, bodyOK := decodeJSONBody(r, &req)
	rep, outcome := func() (reply, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.initLocked()
		switch {
		case !ctOK:
			s.reject(kauth.KIS, e, "", nil)
			return kisFlat(egwContentType), egwContentType
		case !bodyOK:
			s.reject(kauth.KIS, e, "", nil)
			return kisFlat(egwBadRequest), egwBadRequest
		}
		a, code := s.kisCheckAppLocked(e, req.AppKey, req.AppSecret)
		if code == "" {
			code = s.revokeLocked(a, req.Token, egwTokenNotFound, egwTokenInvalid)
		}
		if code != "" {
			s.reject(kauth.KIS, e, req.AppKey, nil)
			return kisFlat(code), code
		}
		return reply{http.StatusOK, kisRevokeResponse{200, "접근토큰 폐기에 성공하였습니다"}}, "revoked"
	}()
	s.logf("brokersim: kis %s revokeP app=%s: %s", e, kauth.Fingerprint(req.AppKey), outcome)
	writeJSON(w, rep.status, rep.body)
}

// revokeLocked revokes tok for app a, or returns missing or invalid.
func (s *Server) revokeLocked(a *app, tok, missing, invalid string) string {
	if tok == "" {
		return missing
	}
	t := s.tokens[tok]
	if t == nil || t.id != (appID{a.Broker, a.Env, a.AppKey}) {
		return invalid
	}
	if !t.revoked {
		t.revoked = true
		s.count(a.Broker, a.Env, a.AppKey, func(c *Counts) { c.Revoked++ })
	}
	if a.current == t {
		a.current = nil
	}
	return ""
}

// kisApproval serves POST /oauth2/Approval (실시간 웹소켓 접속키 발급). It
// takes the secret as "secretkey", not "appsecret".
func (s *Server) kisApproval(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	var req kisBody
	ctOK, bodyOK := decodeJSONBody(r, &req)
	rep := func() reply {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.initLocked()
		switch {
		case !ctOK:
			s.reject(kauth.KIS, e, "", nil)
			return kisFlat(egwContentType)
		case !bodyOK:
			s.reject(kauth.KIS, e, "", nil)
			return kisFlat(egwBadRequest)
		}
		_, code := s.kisCheckAppLocked(e, req.AppKey, req.SecretKey)
		if code == "" {
			switch req.GrantType {
			case "":
				code = egwGrantMissing
			case "client_credentials":
			default:
				code = egwGrantInvalid
			}
		}
		if code != "" {
			s.reject(kauth.KIS, e, req.AppKey, nil)
			return kisFlat(code)
		}
		s.count(kauth.KIS, e, req.AppKey, func(c *Counts) { c.Approvals++ })
		key := uuid()
		s.rememberApproval(appID{kauth.KIS, e, req.AppKey}, key, s.nowLocked())
		return reply{http.StatusOK, map[string]string{"approval_key": key}}
	}()
	writeJSON(w, rep.status, rep.body)
}

// kisCheckHeadersLocked checks the appkey and appsecret headers of a /uapi
// call.
func (s *Server) kisCheckHeadersLocked(r *http.Request, e kauth.Env) (*app, string) {
	return s.kisCheckAppLocked(e, r.Header.Get("appkey"), r.Header.Get("appsecret"))
}

// kisHashkey serves POST /uapi/hashkey: it echoes the JSON body as BODY and
// its HMAC-SHA256 under the app secret, in hex, as HASH.
func (s *Server) kisHashkey(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	raw, err := io.ReadAll(r.Body)
	rep := func() reply {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.initLocked()
		a, code := s.kisCheckHeadersLocked(r, e)
		if code != "" {
			s.reject(kauth.KIS, e, r.Header.Get("appkey"), nil)
			return s.kisUapiError(code, s.kisAuthStatus())
		}
		var compact bytes.Buffer
		if err != nil || json.Compact(&compact, raw) != nil {
			s.reject(kauth.KIS, e, a.AppKey, nil)
			return s.kisUapiError(egwBadRequest, http.StatusInternalServerError)
		}
		mac := hmac.New(sha256.New, []byte(a.Secret))
		mac.Write(compact.Bytes())
		s.count(kauth.KIS, e, a.AppKey, func(c *Counts) { c.Hashkeys++ })
		return reply{http.StatusOK, struct {
			Body json.RawMessage `json:"BODY"`
			Hash string          `json:"HASH"`
		}{json.RawMessage(compact.Bytes()), hex.EncodeToString(mac.Sum(nil))}}
	}()
	kisHeaders(w, r, "D")
	writeJSON(w, rep.status, rep.body)
}

// kisCheckTokenLocked checks the authorization header of a /uapi call made
// by app a, and returns "" or the code that rejects it.
func (s *Server) kisCheckTokenLocked(r *http.Request, a *app, now time.Time) string {
	tok, present := bearer(r)
	switch {
	case !present:
		return egwTokenNotFound
	case tok == "":
		return egwCredentialsType
	}
	t := s.tokens[tok]
	switch {
	case t == nil, t.revoked, t.invalid, t.id != (appID{a.Broker, a.Env, a.AppKey}):
		// Unknown, revoked, forced invalid, or another app's or env's.
		return egwTokenInvalid
	case !now.Before(t.expiresAt):
		return egwTokenExpired
	}
	return ""
}

// kisCallLocked makes the checks every protected /uapi call starts with, in
// order: app headers (EGW00102..EGW00105), the per-second call limit
// (EGW00201, HTTP 500; every call with a valid app counts, whatever its
// token), the token (EGW00122 no authorization header, EGW00205 not Bearer,
// EGW00121 invalid, EGW00123 expired; HTTP KISAuthErrorStatus) and tr_id
// (OPSQ9999 missing, OPSQ0002 not trID). It counts the call and returns ""
// or the code of the answer it wrote into rep.
func (s *Server) kisCallLocked(r *http.Request, e kauth.Env, trID string, rep *reply) string {
	s.initLocked()
	key := r.Header.Get("appkey")
	s.count(kauth.KIS, e, key, func(c *Counts) { c.Calls++ })
	a, code := s.kisCheckHeadersLocked(r, e)
	if code != "" {
		s.reject(kauth.KIS, e, key, nil)
		*rep = s.kisUapiError(code, s.kisAuthStatus())
		return code
	}
	now := s.nowLocked()
	if !s.allowCallLocked(a, now) {
		s.reject(kauth.KIS, e, key, func(c *Counts) { c.RateLimited++ })
		*rep = s.kisUapiError(egwCallRateLimit, http.StatusInternalServerError)
		return egwCallRateLimit
	}
	if code := s.kisCheckTokenLocked(r, a, now); code != "" {
		s.reject(kauth.KIS, e, key, func(c *Counts) { c.TokenRejected++ })
		*rep = s.kisUapiError(code, s.kisAuthStatus())
		return code
	}
	switch tr := r.Header.Get("tr_id"); tr {
	case "":
		s.reject(kauth.KIS, e, key, nil)
		*rep = s.kisUapiError(opsqTrIDNotFound, http.StatusInternalServerError)
		return opsqTrIDNotFound
	case trID:
	default:
		s.reject(kauth.KIS, e, key, nil)
		*rep = s.kisUapiError(opsqNoService, http.StatusInternalServerError)
		return opsqNoService
	}
	return ""
}

// missing returns the first of fields that q lacks, or "".
func missing(q url.Values, fields ...string) string {
	for _, f := range fields {
		if q.Get(f) == "" {
			return f
		}
	}
	return ""
}

// kisInputErrorLocked counts a rejected call of key and answers KIS's
// input error (OPSQ2002) with detail after its message. Called with s.mu
// held.
func (s *Server) kisInputErrorLocked(e kauth.Env, key, detail string) (reply, string) {
	s.reject(kauth.KIS, e, key, nil)
	return reply{http.StatusOK, kisResult{RtCd: "1", MsgCd: opsqInput,
		Msg1: "ERROR INVALID INPUT_FILED_SIZE " + detail}}, opsqInput
}

// kisInquirePrice serves GET /uapi/domestic-stock/v1/quotations/inquire-price
// (주식현재가 시세, tr_id FHKST01010100), the protected call of KIS. After
// the checks of kisCallLocked it checks the query (OPSQ2002).
func (s *Server) kisInquirePrice(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	rep, outcome := func() (reply, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var rep reply
		if code := s.kisCallLocked(r, e, kisTrIDInquirePrice, &rep); code != "" {
			return rep, code
		}
		key := r.Header.Get("appkey")
		q := r.URL.Query()
		if f := missing(q, "FID_COND_MRKT_DIV_CODE", "FID_INPUT_ISCD"); f != "" {
			return s.kisInputErrorLocked(e, key, "["+f+"] [0]")
		}
		st, ok := stocks[q.Get("FID_INPUT_ISCD")]
		if !ok || q.Get("FID_COND_MRKT_DIV_CODE") != "J" {
			s.reject(kauth.KIS, e, key, nil)
			return reply{http.StatusOK, kisResult{RtCd: "1", MsgCd: opsqInput,
				Msg1: "ERROR INVALID INPUT [FID_INPUT_ISCD]"}}, opsqInput
		}
		s.count(kauth.KIS, e, key, func(c *Counts) { c.OK++ })
		return reply{http.StatusOK, kisResult{RtCd: "0", MsgCd: "MCA00000", Msg1: "정상처리 되었습니다.", Output: st.kisOutput()}}, "ok"
	}()
	s.logf("brokersim: kis %s inquire-price app=%s: %s", e, kauth.Fingerprint(r.Header.Get("appkey")), outcome)
	kisHeaders(w, r, "D")
	writeJSON(w, rep.status, rep.body)
}
