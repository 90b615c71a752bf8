package brokersim

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/kauth/kauth"
)

// Kiwoom answers errors with HTTP 200, a non-zero return_code and the real
// code in brackets in return_msg. The return codes the simulator uses:
//
//	0  success
//	2  input errors: 1501 no api-id, 1504 wrong api-id for the URI,
//	   1511 missing field, 1513/1514 authorization header missing or
//	   malformed, 1517 body not JSON, 1902 unknown stock
//	3  authentication: 8001/8002 bad appkey/secretkey, 8005 invalid token,
//	   8010 token used from another IP, 8011/8012 grant_type, 8016 no token
//	   to revoke, 8020 appkey or secretkey missing, 8030 app key of the other
//	   env, 8031 token of the other env
//	5  1700 over the request limit, and 1634 (too many stocks in one
//	   request): an input error that shares return_code 5 and even the
//	   message text with 1700, so that only the bracketed code tells them
//	   apart. Retrying 1634 never helps.
const (
	kwOK         = 0
	kwInput      = 2
	kwAuth       = 3
	kwLimit      = 5
	kwMsgOK      = "정상적으로 처리되었습니다"
	kwAuthPrefix = "인증에 실패했습니다"
	kwLimitMsg   = "허용된 요청 개수를 초과하였습니다"
	kwMaxStocks  = 100
	kwIDStkinfo  = "ka10001"
	kwURIStkinfo = "/api/dostk/stkinfo"
)

type kiwoomError struct {
	rc  int
	msg string
}

func kwAuthErr(code, text string) kiwoomError {
	return kiwoomError{kwAuth, kwAuthPrefix + "[" + code + ":" + text + "]"}
}

func kwInputErr(code, text string) kiwoomError {
	return kiwoomError{kwInput, "입력 값 오류입니다[" + code + ":" + text + "]"}
}

var (
	kwErrBadAppKey     = kwAuthErr("8001", "App Key와 Secret Key 검증에 실패했습니다")
	kwErrBadSecret     = kwAuthErr("8002", "App Key와 Secret Key 검증에 실패했습니다. 실패사유=secretkey 불일치")
	kwErrTokenInvalid  = kwAuthErr("8005", "Token이 유효하지 않습니다")
	kwErrOtherIP       = kwAuthErr("8010", "Token을 발급받은 IP와 서비스를 요청한 IP가 동일하지 않습니다")
	kwErrGrantMissing  = kwAuthErr("8011", "Access Token을 발급하는데 실패했습니다. 입력값에 grant_type이 들어오지 않았습니다")
	kwErrGrantInvalid  = kwAuthErr("8012", "Access Token을 발급하는데 실패했습니다. grant_type의 값이 맞지 않습니다")
	kwErrNoRevokeToken = kwAuthErr("8016", "Access Token을 폐기하는데 실패했습니다. 입력값에 Token이 들어오지 않았습니다")
	kwErrKeyMissing    = kwAuthErr("8020", "입력파라미터로 appkey 또는 secretkey가 들어오지 않았습니다.")
	kwErrAppOtherEnv   = kwAuthErr("8030", "투자구분(실전/모의)이 달라서 Appkey를 사용할수가 없습니다")
	kwErrTokenOtherEnv = kwAuthErr("8031", "투자구분(실전/모의)이 달라서 Token를 사용할수가 없습니다")
	kwErrNoAPIID       = kwInputErr("1501", "API ID가 Null이거나 값이 없습니다")
	kwErrNoAuthHeader  = kwInputErr("1513", "Http Header에 authorization 필드가 설정되어 있어야 합니다")
	kwErrBadAuthHeader = kwInputErr("1514", "입력으로 들어온 Http Header의 authorization 필드 형식이 맞지 않습니다")
	kwErrBadBody       = kwInputErr("1517", "입력 값 형식이 올바르지 않습니다. 파라미터=body 실패사유=JSON이 아닙니다")
	kwErrTooManyStocks = kiwoomError{kwLimit, kwLimitMsg + "[1634]"}
)

func kwErrRateLimit(apiID string) kiwoomError {
	return kiwoomError{kwLimit, kwLimitMsg + "[1700:허용된 요청 개수를 초과하였습니다. API ID=" + apiID + "]"}
}

// returnCode renders a return_code as a number, or as a numeric string when
// KiwoomReturnCodeAsString is set.
func (s *Server) returnCode(n int) any {
	if s.KiwoomReturnCodeAsString {
		return strconv.Itoa(n)
	}
	return n
}

func (s *Server) kiwoomErrorBody(e kiwoomError) any {
	rc, msg := e.rc, e.msg
	if s.KiwoomCodeAsReturnCode {
		if code, text := kwSplitBracket(e.msg); code != "" {
			rc, _ = strconv.Atoi(code)
			msg = text
		}
	}
	return struct {
		ReturnCode any    `json:"return_code"`
		ReturnMsg  string `json:"return_msg"`
	}{s.returnCode(rc), msg}
}

// kwSplitBracket splits "인증에 실패했습니다[8005:Token이 유효하지 않습니다]"
// into "8005" and "Token이 유효하지 않습니다" ("…[1634]" into "1634" and the
// text before the bracket). It returns "" for a message without a code.
func kwSplitBracket(msg string) (code, text string) {
	i := strings.IndexByte(msg, '[')
	if i < 0 || !strings.HasSuffix(msg, "]") {
		return "", msg
	}
	inner := msg[i+1 : len(msg)-1]
	code, text, ok := strings.Cut(inner, ":")
	if !ok {
		text = msg[:i]
	}
	if _, err := strconv.Atoi(code); err != nil {
		return "", msg
	}
	return code, text
}

// kiwoomBody is the union of the fields the Kiwoom /oauth2 endpoints take.
type kiwoomBody struct {
	GrantType string `json:"grant_type"`
	AppKey    string `json:"appkey"`
	SecretKey string `json:"secretkey"`
	Token     string `json:"token"`
}

// kiwoomCheckAppLocked checks an appkey and secretkey at env e.
func (s *Server) kiwoomCheckAppLocked(e kauth.Env, key, secret string) (*app, *kiwoomError) {
	if key == "" || secret == "" {
		return nil, &kwErrKeyMissing
	}
	a := s.apps[appID{kauth.Kiwoom, e, key}]
	if a == nil {
		if s.apps[appID{kauth.Kiwoom, otherEnv(e), key}] != nil {
			return nil, &kwErrAppOtherEnv
		}
		return nil, &kwErrBadAppKey
	}
	if !secretOK(secret, a.Secret) {
		return nil, &kwErrBadSecret
	}
	return a, nil
}

func otherEnv(e kauth.Env) kauth.Env {
	if e == kauth.Real {
		return kauth.Mock
	}
	return kauth.Real
}

// kiwoomTokenResponse is the answer of au10001.
type kiwoomTokenResponse struct {
	ExpiresDt  string `json:"expires_dt"`
	TokenType  string `json:"token_type"`
	Token      string `json:"token"`
	ReturnCode any    `json:"return_code"`
	ReturnMsg  string `json:"return_msg"`
}

// kiwoomToken serves POST /oauth2/token (au10001, 접근토큰 발급). While the
// app's token is valid it answers with that same token and expires_dt.
// Kiwoom documents no issuance limit, and the simulator enforces none.
func (s *Server) kiwoomToken(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	var req kiwoomBody
	ctOK, bodyOK := decodeJSONBody(r, &req)
	rep, outcome := func() (any, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.initLocked()
		if !ctOK || !bodyOK {
			s.reject(kauth.Kiwoom, e, "", nil)
			return s.kiwoomErrorBody(kwErrBadBody), "1517"
		}
		a, kerr := s.kiwoomCheckAppLocked(e, req.AppKey, req.SecretKey)
		if kerr == nil {
			switch req.GrantType {
			case "":
				kerr = &kwErrGrantMissing
			case "client_credentials":
			default:
				kerr = &kwErrGrantInvalid
			}
		}
		if kerr != nil {
			s.reject(kauth.Kiwoom, e, req.AppKey, nil)
			return s.kiwoomErrorBody(*kerr), kerr.msg
		}
		now := s.nowLocked()
		t, outcome := a.current, "reissued"
		if t != nil && s.reissue[kauth.Kiwoom] == ReissueSame && s.reissuableLocked(t, now) {
			s.count(kauth.Kiwoom, e, req.AppKey, func(c *Counts) { c.Reissued++ })
		} else {
			lifetime := orDuration(s.KiwoomTokenLifetime, defaultKiwoomLifetime)
			t, outcome = s.mintLocked(a, now, lifetime, remoteIP(r)), "issued"
			s.count(kauth.Kiwoom, e, req.AppKey, func(c *Counts) { c.Issued++ })
		}
		return kiwoomTokenResponse{
			ExpiresDt:  kst(t.expiresAt, kstLayoutKiwoom),
			TokenType:  "bearer",
			Token:      t.value,
			ReturnCode: s.returnCode(kwOK),
			ReturnMsg:  kwMsgOK,
		}, outcome
	}()
	s.logf("brokersim: kiwoom %s au10001 app=%s: %s", e, kauth.Fingerprint(req.AppKey), outcome)
	kiwoomHeaders(w, r, "au10001", "N", "")
	writeJSON(w, http.StatusOK, rep)
}

// kiwoomRevoke serves POST /oauth2/revoke (au10002, 접근토큰 폐기).
// Revoking a token of the same app again succeeds; a token the app never
// held is 8005.
func (s *Server) kiwoomRevoke(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	var req kiwoomBody
	ctOK, bodyOK := decodeJSONBody(r, &req)
	rep, outcome := func() (any, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.initLocked()
		if !ctOK || !bodyOK {
			s.reject(kauth.Kiwoom, e, "", nil)
			return s.kiwoomErrorBody(kwErrBadBody), "1517"
		}
		a, kerr := s.kiwoomCheckAppLocked(e, req.AppKey, req.SecretKey)
		if kerr == nil {
			switch s.revokeLocked(a, req.Token, "missing", "invalid") {
			case "missing":
				kerr = &kwErrNoRevokeToken
			case "invalid":
				kerr = &kwErrTokenInvalid
			}
		}
		if kerr != nil {
			s.reject(kauth.Kiwoom, e, req.AppKey, nil)
			return s.kiwoomErrorBody(*kerr), kerr.msg
		}
		return s.kiwoomErrorBody(kiwoomError{kwOK, kwMsgOK}), "revoked"
	}()
	s.logf("brokersim: kiwoom %s au10002 app=%s: %s", e, kauth.Fingerprint(req.AppKey), outcome)
	kiwoomHeaders(w, r, "au10002", "N", "")
	writeJSON(w, http.StatusOK, rep)
}

// kiwoomCallLocked makes the checks every protected Kiwoom call starts
// with, in order: the authorization header (1513, 1514), the token (8005
// unknown, revoked, forced invalid or expired; 8031 issued at the other
// env; 8010 other IP when KiwoomBindIP is set) and the per-second limit of
// the token's app (1700; every call with a valid token counts). It counts
// the call and returns the app key (if the token names one), the request's
// api-id, and the error to answer with, if any, with its extra counter.
func (s *Server) kiwoomCallLocked(r *http.Request, e kauth.Env) (key, apiID string, kerr *kiwoomError, more func(*Counts)) {
	s.initLocked()
	tok, present := bearer(r)
	t := s.tokens[tok]
	if t != nil {
		key = t.id.key
	}
	s.count(kauth.Kiwoom, e, key, func(c *Counts) { c.Calls++ })
	tokenRejected := func(c *Counts) { c.TokenRejected++ }
	fail := func(key string, err kiwoomError, more func(*Counts)) (string, string, *kiwoomError, func(*Counts)) {
		return key, apiID, &err, more
	}
	now := s.nowLocked()
	apiID = r.Header.Get("api-id")
	switch {
	case !present:
		return fail(key, kwErrNoAuthHeader, nil)
	case tok == "":
		return fail(key, kwErrBadAuthHeader, nil)
	case t == nil || t.id.broker != kauth.Kiwoom:
		return fail("", kwErrTokenInvalid, tokenRejected)
	case t.id.env != e:
		return fail("", kwErrTokenOtherEnv, tokenRejected)
	case t.revoked || t.invalid || !now.Before(t.expiresAt):
		return fail(key, kwErrTokenInvalid, tokenRejected)
	case s.KiwoomBindIP && t.ip != remoteIP(r):
		return fail(key, kwErrOtherIP, tokenRejected)
	}
	a := s.apps[t.id]
	if a == nil {
		return fail(key, kwErrTokenInvalid, tokenRejected)
	}
	if !s.allowCallLocked(a, now) {
		return fail(key, kwErrRateLimit(apiID), func(c *Counts) { c.RateLimited++ })
	}
	return key, apiID, nil, nil
}

// kiwoomStkinfo serves POST /api/dostk/stkinfo with api-id ka10001
// (주식기본정보요청), the protected call of Kiwoom.
//
// After the checks of kiwoomCallLocked it checks api-id (1501, 1504) and
// the body (1517, 1511, 1634, 1902).
func (s *Server) kiwoomStkinfo(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	var req struct {
		StkCd *string `json:"stk_cd"`
	}
	ctOK, bodyOK := decodeJSONBody(r, &req)
	rep, fp, outcome := func() (any, string, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.initLocked()
		fail := func(key string, kerr kiwoomError, more func(*Counts)) (any, string, string) {
			s.reject(kauth.Kiwoom, e, key, more)
			return s.kiwoomErrorBody(kerr), kauth.Fingerprint(key), kerr.msg
		}
		key, apiID, kerr, more := s.kiwoomCallLocked(r, e)
		if kerr != nil {
			return fail(key, *kerr, more)
		}
		switch {
		case apiID == "":
			return fail(key, kwErrNoAPIID, nil)
		case apiID != kwIDStkinfo:
			return fail(key, kwInputErr("1504", "해당 URI에서는 지원하는 API ID가 아닙니다. API ID="+apiID+", URI="+kwURIStkinfo), nil)
		case !ctOK || !bodyOK:
			return fail(key, kwErrBadBody, nil)
		case req.StkCd == nil || *req.StkCd == "":
			return fail(key, kwInputErr("1511", "필수 입력 값에 값이 존재하지 않습니다. 필수입력 파라미터=stk_cd"), nil)
		case strings.Count(*req.StkCd, "|")+1 > kwMaxStocks:
			return fail(key, kwErrTooManyStocks, nil)
		}
		code := strings.Split(*req.StkCd, "|")[0]
		st, ok := stocks[code]
		if !ok {
			return fail(key, kwInputErr("1902", "종목 정보가 없습니다. 입력한 종목코드 값을 확인바랍니다. 종목코드="+code), nil)
		}
		s.count(kauth.Kiwoom, e, key, func(c *Counts) { c.OK++ })
		body := st.kiwoomRecord()
		body["return_code"] = s.returnCode(kwOK)
		body["return_msg"] = kwMsgOK
		return body, kauth.Fingerprint(key), "ok"
	}()
	s.logf("brokersim: kiwoom %s ka10001 app=%s: %s", e, fp, outcome)
	// ka10001 answers one record; like the simulator always has, it echoes
	// the request's cont-yn and next-key (N and empty without them), so that
	// a proxy's handling of them can be checked end to end.
	kiwoomHeaders(w, r, kwIDStkinfo, r.Header.Get("cont-yn"), r.Header.Get("next-key"))
	writeJSON(w, http.StatusOK, rep)
}
