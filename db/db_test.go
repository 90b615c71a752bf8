package db_test

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/db"
)

const (
	fakeKey    = "FAKE-DB-APPKEY-000000000000000000000"
	fakeSecret = "FAKE-DB-SECRET-not-a-real-one-00000"
)

var creds = kauth.Credentials{Broker: db.Broker, Env: kauth.Mock, AppKey: fakeKey, AppSecret: fakeSecret}

// TestIssueAndRevoke runs against a fake written from DB's client: the
// form of OpenApi.py's login and its expires_in.
func TestIssueAndRevoke(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var forms []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		r.ParseForm()
		if mt != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type %q", mt)
		}
		forms = append(forms, r.URL.Path+"?"+r.PostForm.Encode())
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/oauth2/token":
			io.WriteString(w, `{"access_token":"opaque-db-token","scope":"oob","token_type":"Bearer","expires_in":86400}`)
		case "/oauth2/revoke":
			io.WriteString(w, `{"code":200,"message":"ok"}`)
		}
	}))
	defer ts.Close()
	p := &db.Provider{BaseURL: ts.URL, Now: func() time.Time { return now }}
	tok, err := p.Issue(context.Background(), creds)
	if err != nil || tok.AccessToken != "opaque-db-token" || !tok.ExpiresAt.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("Issue = %+v, %v", tok, err)
	}
	if err := p.Revoke(context.Background(), creds, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/oauth2/token?appkey=" + fakeKey + "&appsecretkey=" + fakeSecret + "&grant_type=client_credentials&scope=oob",
		"/oauth2/revoke?appkey=" + fakeKey + "&appsecretkey=" + fakeSecret + "&token=opaque-db-token&token_type_hint=access_token",
	}
	if strings.Join(forms, "\n") != strings.Join(want, "\n") {
		t.Errorf("forms:\n%s\nwant:\n%s", strings.Join(forms, "\n"), strings.Join(want, "\n"))
	}
}

func TestIssueRateLimited(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(403)
		io.WriteString(w, `{"error_code":"IGW00201","error_description":"호출 거래건수를 초과하였습니다."}`)
	}))
	defer ts.Close()
	_, err := (&db.Provider{BaseURL: ts.URL}).Issue(context.Background(), creds)
	var ke *kauth.Error
	if !errors.As(err, &ke) || !errors.Is(err, kauth.ErrRateLimited) || ke.Code != "IGW00201" || ke.RetryAfter <= 0 {
		t.Fatalf("err = %v; want a rate limit with a back-off", err)
	}
	if strings.Contains(err.Error(), fakeSecret) || strings.Contains(err.Error(), fakeKey) {
		t.Errorf("error %q shows a credential", err)
	}
}

func TestURL(t *testing.T) {
	t.Setenv(db.BaseURLEnv, "")
	if p := db.New(); p.URL(kauth.Real) != db.URL || p.URL(kauth.Mock) != db.URL {
		t.Errorf("URL = %q, %q; want %q for both", p.URL(kauth.Real), p.URL(kauth.Mock), db.URL)
	}
}
