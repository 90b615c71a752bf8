package kiwoom

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// Obviously fake credentials and token, long enough that any leak into an
// error string is unmistakable.
const (
	fakeAppKey    = "KWfakeAPPKEY0000000000000000000000000000000"
	fakeAppSecret = "fakeSECRETKEYfakeSECRETKEYfakeSECRETKEYfake00"
	fakeToken     = "fakeTOKENfakeTOKENfakeTOKENfakeTOKENfakeTOKENfakeTOKENfakeTOKEN00"
)

var (
	mockCreds = kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Mock, AppKey: fakeAppKey, AppSecret: fakeAppSecret}
	realCreds = kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Real, AppKey: fakeAppKey, AppSecret: fakeAppSecret}

	// received is the fixed receipt time of the tests: 2024-11-06 08:37:13 KST.
	received = time.Date(2024, 11, 6, 8, 37, 13, 0, kauth.KST)
)

func fixedNow() time.Time { return received }

// newServer starts a fake Kiwoom whose routes are keyed "METHOD /path". Any
// other request fails the test.
func newServer(t *testing.T, routes map[string]http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := routes[r.Method+" "+r.URL.Path]
		if !ok {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
			http.Error(w, "no such route", http.StatusNotFound)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// checkJSONRequest asserts the content type, the given headers and the
// exact JSON fields of r's body.
func checkJSONRequest(t *testing.T, r *http.Request, header map[string]string, body map[string]string) {
	t.Helper()
	if got, want := r.Header.Get("Content-Type"), "application/json;charset=UTF-8"; got != want {
		t.Errorf("request Content-Type = %q; want %q", got, want)
	}
	for k, want := range header {
		if got := r.Header.Get(k); got != want {
			t.Errorf("request header %s = %q; want %q", k, got, want)
		}
	}
	if body == nil {
		return
	}
	var got map[string]string
	data, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(data, &got); err != nil {
		t.Errorf("request body %q: %v", data, err)
		return
	}
	if len(got) != len(body) {
		t.Errorf("request body has %d fields; want %d (%v)", len(got), len(body), keys(got))
	}
	for k, want := range body {
		if got[k] != want {
			t.Errorf("request body %s = %q; want %q", k, got[k], want)
		}
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// reply writes a JSON answer with status and extra headers.
func reply(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// noSecrets fails if err, printed in any common way, holds a secret.
func noSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, secret := range []string{fakeAppKey, fakeAppSecret, fakeToken} {
			if strings.Contains(s, secret) {
				t.Errorf("error %q reveals a secret", s)
			}
		}
	}
	var e *kauth.Error
	if errors.As(err, &e) {
		for _, secret := range []string{fakeAppKey, fakeAppSecret, fakeToken} {
			if strings.Contains(e.Code, secret) || strings.Contains(e.Message, secret) {
				t.Errorf("error fields Code=%q Message=%q reveal a secret", e.Code, e.Message)
			}
		}
	}
}

// wantError checks that err is a *kauth.Error of the given kind, code and
// retry hint (a zero code or retryAfter is not checked unless exact).
type errWant struct {
	kind       error
	code       string
	status     int
	retryAfter time.Duration
	contains   string
}

func checkError(t *testing.T, name string, err error, want errWant, op string, env kauth.Env) {
	t.Helper()
	noSecrets(t, err)
	if err == nil {
		t.Fatalf("%s = nil error; want %v", name, want.kind)
	}
	var e *kauth.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s = %T %v; want *kauth.Error", name, err, err)
	}
	if !errors.Is(err, want.kind) {
		t.Errorf("%s = %v; want kind %v", name, err, want.kind)
	}
	if e.Broker != kauth.Kiwoom || e.Env != env || e.Op != op {
		t.Errorf("%s names %s/%s/%s; want kiwoom/%s/%s", name, e.Broker, e.Env, e.Op, env, op)
	}
	if want.code != "" && e.Code != want.code {
		t.Errorf("%s Code = %q; want %q", name, e.Code, want.code)
	}
	if want.status != 0 && e.StatusCode != want.status {
		t.Errorf("%s StatusCode = %d; want %d", name, e.StatusCode, want.status)
	}
	if e.RetryAfter != want.retryAfter {
		t.Errorf("%s RetryAfter = %v; want %v", name, e.RetryAfter, want.retryAfter)
	}
	if want.contains != "" && !strings.Contains(err.Error(), want.contains) {
		t.Errorf("%s = %q; want it to mention %q", name, err, want.contains)
	}
	if !strings.HasPrefix(err.Error(), "kauth: kiwoom "+string(env)+" "+op+":") {
		t.Errorf("%s = %q; want prefix %q", name, err, "kauth: kiwoom "+string(env)+" "+op+":")
	}
}

func errorsAs(err error, e **kauth.Error) bool { return errors.As(err, e) }
func errorsIs(err, kind error) bool            { return errors.Is(err, kind) }
