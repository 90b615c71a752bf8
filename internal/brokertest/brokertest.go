// Package brokertest holds what the tests of the broker packages share:
// the conformance suite every broker's provider runs (Run, with the
// broker's Facts), a fake upstream that fails on unknown routes, request
// and error assertions parameterized by broker, and harnesses that run the
// same check for any broker.
package brokertest

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kauth/kauth"
)

// Broker describes the broker under test.
type Broker struct {
	// Name is the broker that errors must name.
	Name kauth.Broker
	// ContentType is the Content-Type the provider sends with JSON requests.
	ContentType string
	// Secrets are the fake credentials and token of the tests: no error may
	// reveal one.
	Secrets []string
}

// NewServer starts a fake broker whose routes are keyed "METHOD /path". Any
// other request fails the test. The server is closed when the test ends.
func NewServer(t *testing.T, routes map[string]http.HandlerFunc) *httptest.Server {
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

// CheckJSONRequest asserts the broker's content type, the given headers and
// the exact JSON fields of r's body; a nil body is not checked.
func (b Broker) CheckJSONRequest(t *testing.T, r *http.Request, header map[string]string, body map[string]string) {
	t.Helper()
	if got, want := r.Header.Get("Content-Type"), b.ContentType; got != want {
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

// Reply writes a JSON answer with status and extra headers, given as
// name, value pairs.
func Reply(status int, body string, header ...string) http.HandlerFunc {
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

// Response builds a response with status, headers (name, value pairs) and
// body, for tests of CheckResponse and Rejected.
func Response(t *testing.T, status int, header []string, body string) *http.Response {
	t.Helper()
	resp := &http.Response{
		StatusCode:    status,
		Header:        make(http.Header),
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
	}
	for i := 0; i+1 < len(header); i += 2 {
		resp.Header.Set(header[i], header[i+1])
	}
	return resp
}

// CheckFormRequest asserts a form-encoded request whose fields are exactly
// form.
func (b Broker) CheckFormRequest(t *testing.T, r *http.Request, form map[string]string) {
	t.Helper()
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		t.Errorf("request Content-Type = %q; want a form", r.Header.Get("Content-Type"))
	}
	if err := r.ParseForm(); err != nil {
		t.Errorf("request form: %v", err)
		return
	}
	got := map[string]string{}
	for k := range r.PostForm {
		got[k] = r.PostForm.Get(k)
	}
	if len(got) != len(form) {
		t.Errorf("request form has %d fields; want %d (%v)", len(got), len(form), keys(got))
	}
	for k, want := range form {
		if got[k] != want {
			t.Errorf("request form %s = %q; want %q", k, got[k], want)
		}
	}
}
