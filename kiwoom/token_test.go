package kiwoom

import (
	"net/http"
	"testing"

	"github.com/kauth/kauth/internal/wire"
)

// seedToken is the answer of au10001 as Kiwoom sends it, with a fake token.
const seedToken = `{"expires_dt":"20241107083713","return_msg":"정상적으로 처리되었습니다","token_type":"bearer","return_code":0,"token":"` + fakeToken + `"}`

func authFail(code, text string) string {
	return `{"return_code":3,"return_msg":"인증에 실패했습니다[` + code + `:` + text + `]"}`
}

func TestDefaultClientHasTimeout(t *testing.T) {
	if c := wire.Client(New().HTTPClient); c == http.DefaultClient || c.Timeout <= 0 {
		t.Errorf("default client timeout = %v; want a positive timeout", c.Timeout)
	}
}
