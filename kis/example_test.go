package kis_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/kis"
)

// A stand-in for the KIS token endpoint, answering as the KIS guide shows: a
// re-issued token whose printed expiry is 5 h away while expires_in still
// says a full day.
func fakeKIS() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9.fake","access_token_token_expired":"2023-12-21 13:16:59","token_type":"Bearer","expires_in":86400}`)
	}))
}

func Example() {
	srv := fakeKIS() // in production leave BaseURL empty: RealURL or MockURL by env
	defer srv.Close()

	p := &kis.Provider{
		BaseURL: srv.URL,
		Now:     func() time.Time { return time.Date(2023, 12, 21, 8, 16, 59, 0, kauth.KST) },
	}
	c := kauth.Credentials{Broker: kauth.KIS, Env: kauth.Mock, AppKey: "PSfakeAPPKEY", AppSecret: "fakeAPPSECRET"}
	tok, err := p.Issue(context.Background(), c)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.Type, tok.ExpiresAt.In(kauth.KST).Format(time.DateTime))

	req, _ := http.NewRequest(http.MethodGet, p.URL(c.Env)+"/uapi/domestic-stock/v1/quotations/inquire-price", nil)
	req.Header.Set("tr_id", "FHKST01010100")
	p.Authorize(req, c, tok)
	fmt.Println(req.Header.Get("tr_id"), req.Header.Get("appkey"))
	// Output:
	// Bearer 2023-12-21 13:16:59
	// FHKST01010100 PSfakeAPPKEY
}

func ExampleCheckResponse() {
	c := kauth.Credentials{Broker: kauth.KIS, Env: kauth.Real, AppKey: "PSfakeAPPKEY", AppSecret: "fakeAPPSECRET"}
	// KIS reports an expired token with HTTP 500 (or 200): the body decides.
	resp := &http.Response{StatusCode: http.StatusInternalServerError, Header: http.Header{}}
	body := []byte(`{"rt_cd":"1","msg_cd":"EGW00123","msg1":"기간이 만료된 token 입니다."}`)

	err := kis.CheckResponse(c, "call", resp, body)
	fmt.Println(err)
	fmt.Println(errors.Is(err, kauth.ErrTokenRejected), kauth.Retryable(err))
	// Output:
	// kauth: kis real call: EGW00123 token expired or invalid: 기간이 만료된 token 입니다.
	// true false
}

func ExampleParseExpiry() {
	t, _ := kis.ParseExpiry("2023-12-22 08:16:59")
	fmt.Println(t.UTC())
	// Output: 2023-12-21 23:16:59 +0000 UTC
}
