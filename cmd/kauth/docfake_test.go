package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// docFake is a token server for LS and DB written from LS's published REST
// pages alone (접근토큰 발급, 접근토큰 폐기; DB's client sends the same
// form), independent of brokersim: a form POST to /oauth2/token with
// grant_type=client_credentials, appkey, appsecretkey and scope=oob answers
// {"access_token", "scope", "token_type", "expires_in"} as the example
// does; a wrong secret answers HTTP 403 {"error_code":"IGW00105", …}.
type docFake struct {
	ts       *httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	issued   []string
	status   atomic.Int64 // if set, every answer is this status with an HTML page
}

func (f *docFake) token(i int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i >= len(f.issued) {
		return ""
	}
	return f.issued[i]
}

func newDocFake(t *testing.T, key, secret string) *docFake {
	f := &docFake{}
	f.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if st := f.status.Load(); st != 0 {
			w.WriteHeader(int(st))
			io.WriteString(w, "<html><body>gateway error</body></html>")
			return
		}
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if r.Method != http.MethodPost || r.URL.Path != "/oauth2/token" || mt != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
			t.Errorf("unexpected %s %s (%s)", r.Method, r.URL.Path, mt)
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		form := r.PostForm
		if form.Get("grant_type") != "client_credentials" || form.Get("scope") != "oob" {
			t.Errorf("form = %v", form)
		}
		switch {
		case form.Get("appkey") != key:
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error_code":"IGW00103","error_description":"유효하지 않은 AppKey입니다."}`)
			return
		case form.Get("appsecretkey") != secret:
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error_code":"IGW00105","error_description":"유효하지 않은 AppSecret입니다."}`)
			return
		}
		now := time.Now()
		enc := base64.RawURLEncoding
		tok := enc.EncodeToString([]byte(`{"typ":"JWT","alg":"HS512"}`)) + "." +
			enc.EncodeToString([]byte(fmt.Sprintf(`{"sub":"token","iss":"unogw","iat":%d,"exp":%d,"jti":"%d"}`, now.Unix(), now.Add(10*time.Hour).Unix(), f.requests.Load()))) +
			".c2lnbmF0dXJl"
		f.mu.Lock()
		f.issued = append(f.issued, tok)
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "scope": "oob", "token_type": "Bearer", "expires_in": 86400})
	}))
	t.Cleanup(f.ts.Close)
	return f
}

// TestTokenAgainstDocFake: kauth token --broker ls|db works against a
// server written from the docs alone, caches across runs, reads the JWT's
// exp (10 h) over expires_in (24 h), and maps the gateway's errors to the
// exit codes.
func TestTokenAgainstDocFake(t *testing.T) {
	for _, b := range []kauth.Broker{"ls", "db"} {
		t.Run(string(b), func(t *testing.T) {
			key, secret := fakeApp(b)
			f := newDocFake(t, key, secret)
			prefix := strings.ToUpper(string(b))
			if b == "db" {
				prefix = "DBSEC"
			}
			env := map[string]string{
				prefix + "_APPKEY":    key,
				prefix + "_APPSECRET": secret,
				prefix + "_BASE_URL":  f.ts.URL,
				"KAUTH_CACHE_DIR":     t.TempDir() + "/cache",
			}
			r1 := run(t, env, "", "token", "--broker", string(b), "--env", "real", "--json")
			r1.wantCode(t, 0)
			var j struct {
				AccessToken string    `json:"access_token"`
				ExpiresAt   time.Time `json:"expires_at"`
			}
			if err := json.Unmarshal([]byte(r1.stdout), &j); err != nil || f.token(0) != j.AccessToken {
				t.Fatalf("stdout = %q (%v); want the fake's token", r1.stdout, err)
			}
			if left := time.Until(j.ExpiresAt); left > 10*time.Hour+time.Minute || left < 9*time.Hour {
				t.Errorf("expires_at = %v (%v left); want the JWT's exp, 10 h", j.ExpiresAt, left)
			}
			r2 := run(t, env, "", "token", "--broker", string(b), "--env", "real")
			r2.wantCode(t, 0)
			if r2.stdout != f.token(0)+"\n" || f.requests.Load() != 1 {
				t.Errorf("second run = %q after %d requests; want the cached token and one request", r2.stdout, f.requests.Load())
			}

			bad := with(env, prefix+"_APPSECRET", "FAKE-WRONG-SECRET", "KAUTH_CACHE_DIR", t.TempDir()+"/cache")
			r := run(t, bad, "", "token", "--broker", string(b), "--env", "real")
			r.wantCode(t, exitCredentials)
			if !strings.Contains(r.stderr, "IGW00105") || !strings.Contains(r.stderr, string(b)+" real") || strings.Contains(r.stderr, "FAKE-") {
				t.Errorf("stderr = %q; want one line naming %s real and IGW00105, no credential", r.stderr, b)
			}

			f.status.Store(http.StatusBadGateway)
			down := with(env, "KAUTH_CACHE_DIR", t.TempDir()+"/cache")
			r = run(t, down, "", "token", "--broker", string(b), "--env", "real", "--timeout", "2s")
			r.wantCode(t, exitUnavailable)
		})
	}
}
