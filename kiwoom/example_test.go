package kiwoom_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/kiwoom"
)

// A stand-in for the Kiwoom token endpoint, answering as au10001 does.
func fakeKiwoom() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"expires_dt":"20241107023713","return_msg":"정상적으로 처리되었습니다","token_type":"bearer","return_code":0,"token":"fakeKIWOOMtoken"}`)
	}))
}

func Example() {
	srv := fakeKiwoom() // in production leave BaseURL empty: RealURL or MockURL by env
	defer srv.Close()

	p := &kiwoom.Provider{
		BaseURL: srv.URL,
		Now:     func() time.Time { return time.Date(2024, 11, 6, 8, 37, 13, 0, kauth.KST) },
	}
	c := kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Mock, AppKey: "KWfakeAPPKEY", AppSecret: "fakeSECRETKEY"}
	tok, err := p.Issue(context.Background(), c)
	if err != nil {
		fmt.Println(err)
		return
	}
	// An 18-hour token: the expiry is expires_dt, not receipt + 24 h.
	fmt.Println(tok.Type, tok.ExpiresAt.In(kauth.KST).Format(time.DateTime))

	req, _ := http.NewRequest(http.MethodPost, p.URL(c.Env)+"/api/dostk/stkinfo", nil)
	req.Header.Set("api-id", "ka10001")
	p.Authorize(req, c, tok)
	fmt.Println(req.Header.Get("api-id"), req.Header.Get("authorization"))
	// Output:
	// Bearer 2024-11-07 02:37:13
	// ka10001 Bearer fakeKIWOOMtoken
}

func ExampleCheckResponse() {
	c := kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Real, AppKey: "KWfakeAPPKEY", AppSecret: "fakeSECRETKEY"}
	// Kiwoom refuses with HTTP 200; the bracketed code decides. 1634 and
	// 1700 share return_code 5, but only 1700 is a rate limit.
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}}
	for _, body := range []string{
		`{"return_code":3,"return_msg":"인증에 실패했습니다[8005:Token이 유효하지 않습니다]"}`,
		`{"return_code":5,"return_msg":"허용된 요청 개수를 초과하였습니다[1700:허용된 요청 개수를 초과하였습니다. API ID=ka10001]"}`,
		`{"return_code":"5","return_msg":"허용된 요청 개수를 초과하였습니다[1634]"}`,
	} {
		err := kiwoom.CheckResponse(c, "call", resp, []byte(body))
		fmt.Println(errors.Is(err, kauth.ErrTokenRejected), kauth.Retryable(err), kauth.RetryAfter(err))
	}
	// Output:
	// true false 0s
	// false true 1s
	// false false 0s
}

func ExampleParseExpiry() {
	t, _ := kiwoom.ParseExpiry("20241107083713")
	fmt.Println(t.UTC())
	// Output: 2024-11-06 23:37:13 +0000 UTC
}
