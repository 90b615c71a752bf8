package brokertest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/brokertest"
)

var kis = brokertest.Broker{Name: kauth.KIS, ContentType: "application/json; charset=UTF-8", Secrets: []string{"SECRET"}}

func TestServerReplies(t *testing.T) {
	srv := brokertest.NewServer(t, map[string]http.HandlerFunc{
		"POST /oauth2/tokenP": func(w http.ResponseWriter, r *http.Request) {
			kis.CheckJSONRequest(t, r, map[string]string{"custtype": "P"}, map[string]string{"appkey": "k"})
			brokertest.Reply(http.StatusTeapot, `{"ok":true}`, "Retry-After", "3")(w, r)
		},
	})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth2/tokenP", strings.NewReader(`{"appkey":"k"}`))
	req.Header.Set("Content-Type", kis.ContentType)
	req.Header.Set("custtype", "P")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTeapot || string(body) != `{"ok":true}` || resp.Header.Get("Retry-After") != "3" ||
		resp.Header.Get("Content-Type") != "application/json;charset=UTF-8" {
		t.Errorf("reply = %d %q %v; want 418 with the body, Retry-After and a JSON content type", resp.StatusCode, body, resp.Header)
	}
}

func TestCheckErrorAcceptsItsError(t *testing.T) {
	err := &kauth.Error{Broker: kauth.KIS, Env: kauth.Mock, Op: "issue", Kind: kauth.ErrRateLimited, Code: "EGW00133", StatusCode: 403}
	kis.CheckError(t, "Issue()", err, brokertest.ErrWant{Kind: kauth.ErrRateLimited, Code: "EGW00133", Status: 403}, "issue", kauth.Mock)
	kis.CheckFuzzError(t, err)
}

func TestResponse(t *testing.T) {
	resp := brokertest.Response(t, 500, []string{"Content-Type", "text/html"}, "<html>")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 500 || resp.Header.Get("Content-Type") != "text/html" || string(body) != "<html>" || resp.ContentLength != 6 {
		t.Errorf("Response() = %d %v %q (length %d)", resp.StatusCode, resp.Header, body, resp.ContentLength)
	}
}
