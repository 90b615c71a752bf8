package kiwoom

import (
	"net/http"
	"testing"

	"github.com/kauth/kauth"
)

// fuzzSeeds are real Kiwoom answers (with fake secrets), plus a few that
// echo the secrets.
var fuzzSeeds = []struct {
	status int
	body   string
}{
	{200, seedToken},
	{200, `{"expires_dt":"20241107083713","return_msg":"정상적으로 처리되었습니다","token_type":"Bearer","return_code":"0","token":"` + fakeToken + `"}`},
	{200, authFail("8005", "Token이 유효하지 않습니다")},
	{200, authFail("8001", "App Key와 Secret Key 검증에 실패했습니다 "+fakeAppKey)},
	{200, authFail("8002", fakeAppSecret)},
	{200, `{"return_code":"3","return_msg":"인증에 실패했습니다[8010:Token을 발급받은 IP와 서비스를 요청한 IP가 동일하지 않습니다] ` + fakeToken + `"}`},
	{200, `{"return_code":5,"return_msg":"허용된 요청 개수를 초과하였습니다[1700:허용된 요청 개수를 초과하였습니다. API ID=au10001]"}`},
	{200, `{"return_code":5,"return_msg":"허용된 요청 개수를 초과하였습니다[1634]"}`},
	{200, `{"return_code":0,"return_msg":"정상적으로 처리되었습니다"}`},
	{401, ``},
	{502, `<html><body>Bad Gateway</body></html>`},
	{200, `{"return_code":1e400}`},
	{200, `{`},
}

func FuzzCheckResponse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.status, []byte(s.body), "")
	}
	f.Add(429, []byte(``), "120")
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {retryAfter}}}
		for _, op := range []string{OpIssue, OpCall} {
			broker.CheckFuzzError(t, CheckResponse(realCreds, op, resp, body))
		}
	})
}

func FuzzDecodeToken(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		resp := &http.Response{StatusCode: status, Header: http.Header{}}
		tok, err := decodeToken(mockCreds, resp, body, received)
		broker.CheckFuzzError(t, err)
		if err != nil {
			if tok != (kauth.Token{}) {
				t.Errorf("decodeToken() = %v with error %v; want a zero Token", tok, err)
			}
			return
		}
		if tok.AccessToken == "" || tok.Type == "" || tok.ExpiresAt.IsZero() || !tok.IssuedAt.Equal(received) {
			t.Errorf("decodeToken() = %+v; want a complete token", tok)
		}
		if status/100 != 2 {
			t.Errorf("decodeToken() accepted HTTP %d", status)
		}
	})
}

func FuzzParseExpiry(f *testing.F) {
	for _, s := range []string{"20241107083713", "20240229235959", "", "2024-11-07 08:37:13", "20241107253713"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseExpiry(s)
		if err != nil {
			return
		}
		if _, off := got.Zone(); off != 9*3600 {
			t.Errorf("ParseExpiry(%q) offset = %d; want KST", s, off)
		}
		if again, err := ParseExpiry(got.Format(ExpiryLayout)); err != nil || !again.Equal(got) {
			t.Errorf("ParseExpiry(%q) = %v does not round-trip: %v, %v", s, got, again, err)
		}
	})
}
