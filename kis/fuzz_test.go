package kis

import (
	"net/http"
	"testing"

	"github.com/kauth/kauth"
)

// fuzzSeeds are real KIS answers (with fake secrets), plus a few that echo
// the secrets.
var fuzzSeeds = []struct {
	status int
	body   string
}{
	{200, seedToken},
	{200, `{"access_token":"` + fakeToken + `","access_token_token_expired":"2023-12-21 13:16:59","token_type":"Bearer","expires_in":86400}`},
	{403, `{"error_code":"EGW00133","error_description":"접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"}`},
	{403, `{"error_code":"EGW00103","error_description":"유효하지 않은 AppKey입니다."}`},
	{403, `{"error_code":"EGW00105","error_description":"` + fakeAppSecret + `"}`},
	{200, `{"rt_cd":"1","msg_cd":"EGW00123","msg1":"기간이 만료된 token 입니다."}`},
	{500, `{"rt_cd":"1","msg_cd":"EGW00121","msg1":"유효하지 않은 token 입니다. ` + fakeToken + `"}`},
	{500, `{"rt_cd":"1","msg_cd":"EGW00201","msg1":"초당 거래건수를 초과하였습니다."}`},
	{200, `{"code":200,"message":"접근토큰 폐기에 성공하였습니다"}`},
	{200, `{"approval_key":"a2585daf-fake-approval-key-000000000000"}`},
	{200, `{"BODY":{"CANO":"00000000"},"HASH":"8f1c8b0c0fakehash"}`},
	{502, `<html><body>Bad Gateway ` + fakeAppKey + `</body></html>`},
	{200, `{"rt_cd":1,"msg_cd":"` + fakeAppKey + `","msg1":"x"}`},
	{200, ``},
	{503, `{`},
}

func FuzzCheckResponse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.status, []byte(s.body), "")
	}
	f.Add(429, []byte(``), "120")
	f.Add(503, []byte(``), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {retryAfter}}}
		for _, op := range []string{OpIssue, OpCall} {
			err := CheckResponse(realCreds, op, resp, body)
			broker.CheckFuzzError(t, err)
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
	for _, s := range []string{"2023-12-22 08:16:59", "2024-02-29 23:59:59", "", "20231222081659", "2023-12-22 25:00:00"} {
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
