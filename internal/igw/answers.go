package igw

import (
	"time"

	"github.com/kauth/kauth"
)

// TokenAnswer is the gateway's answer of /oauth2/token for t at now, as
// the token page's example sends it (expires_in a number of seconds).
func TokenAnswer(t kauth.Token, now time.Time) any {
	left := int64(t.ExpiresAt.Sub(now) / time.Second)
	return map[string]any{"access_token": t.AccessToken, "scope": "oob", "token_type": "Bearer", "expires_in": max(left, 0)}
}

// RevokeAnswer is the gateway's answer of a successful /oauth2/revoke.
func RevokeAnswer() any {
	return map[string]any{"code": 200, "message": "접근토큰 폐기에 성공하였습니다."}
}

// ErrorAnswer is an error in both of the gateway's shapes: rsp_cd and
// rsp_msg (calls) with error_code and error_description (token endpoints).
func ErrorAnswer(code, msg string) any {
	return map[string]string{"rsp_cd": code, "rsp_msg": msg, "error_code": code, "error_description": msg}
}
