package ls_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/ls"
)

// Obviously fake credentials.
const (
	fakeKey    = "FAKE-LS-APPKEY-000000000000000000000"
	fakeSecret = "FAKE-LS-SECRET-not-a-real-one-00000"
)

var creds = kauth.Credentials{Broker: ls.Broker, Env: kauth.Real, AppKey: fakeKey, AppSecret: fakeSecret}

// jwt builds a token shaped like the example of LS's token page: a JWT
// whose payload has iss "unogw", iat and exp.
func jwt(iat, exp time.Time) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"typ":"JWT","alg":"HS512"}`)) + "." +
		enc.EncodeToString([]byte(fmt.Sprintf(`{"sub":"token","iss":"unogw","grant_type":"Client","iat":%d,"exp":%d}`, iat.Unix(), exp.Unix()))) +
		".c2lnbmF0dXJl"
}

// docServer is a fake of LS's token endpoints written from LS's REST
// 접근토큰 발급 and 폐기 pages alone: it checks the form exactly as the
// pages list it and answers with body.
func docServer(t *testing.T, status int, body string) (*httptest.Server, *[]map[string]string) {
	t.Helper()
	var seen []map[string]string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if r.Method != http.MethodPost || mt != "application/x-www-form-urlencoded" {
			t.Errorf("%s %s with Content-Type %q; want a form POST", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		got := map[string]string{"path": r.URL.Path}
		for k := range r.PostForm {
			got[k] = r.PostForm.Get(k)
		}
		seen = append(seen, got)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(ts.Close)
	return ts, &seen
}

func TestIssueForm(t *testing.T) {
	now := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC) // 07:00 KST on the 2nd
	exp := now.Add(9 * time.Hour)
	ts, seen := docServer(t, 200, `{"access_token":"`+jwt(now, exp)+`","scope":"oob","token_type":"Bearer","expires_in":86400}`)
	p := &ls.Provider{BaseURL: ts.URL, Now: func() time.Time { return now }}
	tok, err := p.Issue(context.Background(), creds)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"path": "/oauth2/token", "grant_type": "client_credentials", "appkey": fakeKey, "appsecretkey": fakeSecret, "scope": "oob"}
	if fmt.Sprint((*seen)[0]) != fmt.Sprint(want) {
		t.Errorf("form = %v; want %v", (*seen)[0], want)
	}
	// expires_in says 24 h; the JWT's exp says 9 h: the earliest wins.
	if !tok.ExpiresAt.Equal(exp) || !tok.IssuedAt.Equal(now) || tok.Type != "Bearer" {
		t.Errorf("token = %+v; want expiry %v (the JWT's exp)", tok, exp)
	}
}

func TestIssueLifetimeFields(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name, body string
		want       time.Time
	}{
		// The table: expire_in, a string.
		{"expire_in string", `{"access_token":"opaque","scope":"oob","token_type":"Bearer","expire_in":"3600"}`, now.Add(time.Hour)},
		// The example: expires_in, a number.
		{"expires_in number", `{"access_token":"opaque","scope":"oob","token_type":"Bearer","expires_in":7200}`, now.Add(2 * time.Hour)},
		{"both, earliest", `{"access_token":"opaque","expire_in":"600","expires_in":7200}`, now.Add(10 * time.Minute)},
		{"exp only", `{"access_token":"` + jwt(now, now.Add(5*time.Hour)) + `"}`, now.Add(5 * time.Hour)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts, _ := docServer(t, 200, tt.body)
			tok, err := (&ls.Provider{BaseURL: ts.URL, Now: func() time.Time { return now }}).Issue(context.Background(), creds)
			if err != nil {
				t.Fatal(err)
			}
			if !tok.ExpiresAt.Equal(tt.want) {
				t.Errorf("ExpiresAt = %v; want %v", tok.ExpiresAt, tt.want)
			}
		})
	}
}

func TestIssueErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		body   string
		kind   error
		code   string
	}{
		// As measured by LS users: a wrong secret is HTTP 403 with
		// error_code and error_description.
		{"bad secret", 403, `{"error_code":"IGW00105","error_description":"유효하지 않은 AppSecret입니다."}`, kauth.ErrCredentials, "IGW00105"},
		{"bad key", 403, `{"error_code":"IGW00103","error_description":"유효하지 않은 AppKey입니다."}`, kauth.ErrCredentials, "IGW00103"},
		{"rate limit", 403, `{"error_code":"IGW00201","error_description":"호출 거래건수를 초과하였습니다."}`, kauth.ErrRateLimited, "IGW00201"},
		{"no lifetime", 200, `{"access_token":"opaque","token_type":"Bearer"}`, kauth.ErrUnavailable, "HTTP 200"},
		{"no token", 200, `{"expires_in":86400}`, kauth.ErrUnavailable, "HTTP 200"},
		{"gateway page", 502, `<html>bad gateway</html>`, kauth.ErrUnavailable, "HTTP 502"},
		{"unauthorized", 401, `{}`, kauth.ErrCredentials, "HTTP 401"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts, _ := docServer(t, tt.status, tt.body)
			_, err := (&ls.Provider{BaseURL: ts.URL}).Issue(context.Background(), creds)
			var ke *kauth.Error
			if !errors.As(err, &ke) || !errors.Is(err, tt.kind) || ke.Code != tt.code || ke.Broker != ls.Broker || ke.Env != kauth.Real {
				t.Fatalf("err = %v (%#v); want %v with code %s", err, ke, tt.kind, tt.code)
			}
			if tt.kind == kauth.ErrRateLimited && ke.RetryAfter <= 0 {
				t.Errorf("RetryAfter = %v; want a back-off", ke.RetryAfter)
			}
			if msg := err.Error(); strings.Contains(msg, fakeKey) || strings.Contains(msg, fakeSecret) || strings.Contains(msg, "\n") {
				t.Errorf("error %q shows a credential or spans lines", msg)
			}
		})
	}
}

func TestRevokeForm(t *testing.T) {
	ts, seen := docServer(t, 200, `{"code":200,"message":"접근토큰 폐기에 성공하였습니다."}`)
	p := &ls.Provider{BaseURL: ts.URL}
	if err := p.Revoke(context.Background(), creds, "tok-1"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"path": "/oauth2/revoke", "appkey": fakeKey, "appsecretkey": fakeSecret, "token_type_hint": "access_token", "token": "tok-1"}
	if fmt.Sprint((*seen)[0]) != fmt.Sprint(want) {
		t.Errorf("form = %v; want %v", (*seen)[0], want)
	}
	if err := p.Revoke(context.Background(), creds, ""); !errors.Is(err, kauth.ErrBadRequest) {
		t.Errorf("revoking no token = %v; want a bad request", err)
	}
	ts2, _ := docServer(t, 403, `{"error_code":"IGW00105","error_description":"유효하지 않은 AppSecret입니다."}`)
	if err := (&ls.Provider{BaseURL: ts2.URL}).Revoke(context.Background(), creds, "tok-1"); !errors.Is(err, kauth.ErrCredentials) {
		t.Errorf("revoke with a bad secret = %v; want credentials rejected", err)
	}
}

func answer(status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}},
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
}

func TestRejectedAndCheckResponse(t *testing.T) {
	p := ls.New()
	for _, tt := range []struct {
		name     string
		status   int
		body     string
		rejected bool
		kind     error // of CheckResponse for a call; nil for success
	}{
		{"ok", 200, `{"rsp_cd":"00000","rsp_msg":"조회완료","t1102OutBlock":{}}`, false, nil},
		{"token under 500", 500, `{"rsp_cd":"IGW00121","rsp_msg":"유효하지 않은 토큰입니다."}`, true, kauth.ErrTokenRejected},
		{"token under 200", 200, `{"rsp_cd":"IGW00123","rsp_msg":"토큰 만료"}`, true, kauth.ErrTokenRejected},
		{"IGW00126", 500, `{"rsp_cd":"IGW00126","rsp_msg":"x"}`, true, kauth.ErrTokenRejected},
		{"rate limit", 200, `{"rsp_cd":"IGW00201","rsp_msg":"호출 거래건수를 초과하였습니다."}`, false, kauth.ErrRateLimited},
		{"401", 401, `{}`, true, kauth.ErrTokenRejected},
		{"business error", 200, `{"rsp_cd":"01234","rsp_msg":"장 운영시간이 아닙니다"}`, false, nil},
		{"unknown refusal", 200, `{"rsp_cd":"IGW00999","rsp_msg":"x"}`, false, kauth.ErrBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := answer(tt.status, tt.body)
			if got := p.Rejected(resp); got != tt.rejected {
				t.Errorf("Rejected = %v; want %v", got, tt.rejected)
			}
			rest, _ := io.ReadAll(resp.Body)
			if string(rest) != tt.body {
				t.Errorf("after Rejected the body reads %q; want it whole", rest)
			}
			err := ls.CheckResponse(creds, ls.OpCall, answer(tt.status, tt.body), []byte(tt.body))
			if (tt.kind == nil) != (err == nil) || (tt.kind != nil && !errors.Is(err, tt.kind)) {
				t.Errorf("CheckResponse = %v; want %v", err, tt.kind)
			}
		})
	}
}

func TestURLSameForRealAndMock(t *testing.T) {
	t.Setenv(ls.BaseURLEnv, "")
	p := ls.New()
	if p.URL(kauth.Real) != ls.URL || p.URL(kauth.Mock) != ls.URL {
		t.Errorf("URL = %q, %q; want %q for both: LS tells mock by the app key", p.URL(kauth.Real), p.URL(kauth.Mock), ls.URL)
	}
	t.Setenv(ls.BaseURLEnv, "http://127.0.0.1:1/ls")
	if got := p.URL(kauth.Mock); got != "http://127.0.0.1:1/ls" {
		t.Errorf("URL with %s set = %q", ls.BaseURLEnv, got)
	}
}

func TestNextExpiry(t *testing.T) {
	for in, want := range map[string]string{
		"2026-12-01T10:00:00+09:00": "2026-12-02T07:00:00+09:00",
		"2026-12-01T06:59:00+09:00": "2026-12-02T07:00:00+09:00",
		"2026-12-31T23:30:00+09:00": "2027-01-01T07:00:00+09:00",
	} {
		at, _ := time.Parse(time.RFC3339, in)
		if got := ls.NextExpiry(at.UTC()).In(kauth.KST).Format(time.RFC3339); got != want {
			t.Errorf("NextExpiry(%s) = %s; want %s", in, got, want)
		}
	}
}
