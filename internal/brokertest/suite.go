package brokertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/wire"
)

// Facts are what the conformance suite (Run) needs to know of a broker:
// its wire facts and the answers it documents. Everything else the suite
// asserts is the same for every broker.
type Facts struct {
	// Broker names the broker and its fake secrets; Secrets must hold
	// AppKey, AppSecret and Token.
	Broker
	// New builds the provider under test, as the broker's Spec entry
	// does: base "" means the default domain.
	New NewProvider
	// AppKey, AppSecret and Token are obviously fake credentials.
	AppKey, AppSecret, Token string
	// Other is another broker, whose credentials the provider must refuse.
	Other kauth.Broker
	// Env is the environment the token tests run in: kauth.Mock if empty
	// (a broker without a mock environment sets kauth.Real). Revoke and
	// the bad credentials run in kauth.Real.
	Env kauth.Env

	// RealURL and MockURL are the default domains; BaseURLEnv the variable
	// that overrides them.
	RealURL, MockURL, BaseURLEnv string

	// TokenPath and RevokePath are the paths of the token calls (POST).
	// An empty RevokePath is a broker without a revoke call: the suite
	// then checks Issue alone.
	TokenPath, RevokePath string
	// CheckIssue and CheckRevoke assert the request the provider sends
	// (content type, headers, body) for the fake credentials; CheckRevoke
	// gets the token being revoked.
	CheckIssue  func(t *testing.T, r *http.Request)
	CheckRevoke func(t *testing.T, r *http.Request, token string)

	// Received is the fixed time of the token tests.
	Received time.Time
	// Tokens are successful answers of the token call, the documented one
	// first, each with the token it must give (AccessToken is Token).
	Tokens []TokenCase
	// IssueErrors are the broker's own failures of the token call, on top
	// of those every broker shares (pages, bare statuses, broken bodies).
	IssueErrors []ErrorCase
	// Revokes are the broker's answers to a revoke of Token; a nil Want is
	// a success.
	Revokes []ErrorCase

	// CallPath is a path of the REST API, and CallOK the opening of a
	// successful answer to it whose last field is a string.
	CallPath, CallOK string
	// Rejections are answers to a call and whether Rejected must say the
	// token was refused. A bare 401 is checked for every broker.
	Rejections []RejectCase
	// Authorization is the headers Authorize must set for Token, and
	// AuthorizeOmits those it must not set.
	Authorization  map[string]string
	AuthorizeOmits []string

	// ParseExpiry and Expiries, if set, are the broker's expiry parser and
	// inputs with the instants they must give in any time zone.
	ParseExpiry func(string) (time.Time, error)
	Expiries    []ExpiryCase

	// Reissue, if its Broker is set, is a simulator app the re-issue days
	// run on, under each of ReissueModes (every behaviour if empty).
	Reissue      brokersim.App
	ReissueModes []brokersim.ReissueMode
}

// TokenCase is an answer of the token call and the token it gives.
type TokenCase struct {
	Name    string
	Body    string
	Token   string // Facts.Token if empty
	Type    string // "Bearer" if empty
	Expires time.Time
}

// ErrorCase is an answer of a call and the error it gives (nil: none).
// It and RejectCase and ExpiryCase are unnamed struct types so that a
// broker's tables read as positional rows, as the table tests they
// replace did.
type ErrorCase = struct {
	Name   string
	Status int
	Body   string
	Header []string
	Want   *ErrWant
}

// RejectCase is an answer to a call and what Rejected must say of it.
type RejectCase = struct {
	Name     string
	Status   int
	Body     string
	Rejected bool
}

// ExpiryCase is a broker's printed expiry and the instant it means.
type ExpiryCase = struct {
	In   string
	Want time.Time
}

// Run is the conformance suite every broker's provider must pass: token
// decoding, error mapping, bad credentials, transport failures,
// redirects, revoke, URLs, Rejected, Authorize, time zones and, with a
// simulator app, the re-issue days. Call it from a top-level test (the
// time-zone check re-executes the test binary).
func Run(t *testing.T, f Facts) {
	t.Run("Issue", f.testIssue)
	t.Run("IssueErrors", f.testIssueErrors)
	t.Run("InvalidCredentials", f.testInvalidCredentials)
	t.Run("TransportErrors", f.testTransportErrors)
	t.Run("RefuseRedirects", f.testRedirects)
	if f.RevokePath != "" {
		t.Run("Revoke", f.testRevoke)
	}
	t.Run("URL", f.testURL)
	t.Run("EnvBaseURLIsUsed", f.testEnvBaseURL)
	t.Run("Rejected", f.testRejected)
	t.Run("Authorize", f.testAuthorize)
	t.Run("ExpiryUnderTZ", f.testTZ)
	if f.Reissue.Broker != "" {
		t.Run("Reissue", f.testReissue)
	}
}

func (f Facts) creds(env kauth.Env) kauth.Credentials {
	return kauth.Credentials{Broker: f.Name, Env: env, AppKey: f.AppKey, AppSecret: f.AppSecret}
}

func (f Facts) now() time.Time { return f.Received }

// env is the environment of the token tests.
func (f Facts) env() kauth.Env {
	if f.Env == "" {
		return kauth.Mock
	}
	return f.Env
}

// tokenRoute answers the token call with status, body and header after
// checking the request.
func (f Facts) tokenRoute(t *testing.T, status int, body string, header ...string) map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST " + f.TokenPath: func(w http.ResponseWriter, r *http.Request) {
			f.CheckIssue(t, r)
			Reply(status, body, header...)(w, r)
		},
	}
}

func (f Facts) testIssue(t *testing.T) {
	if len(f.Tokens) == 0 {
		t.Fatal("Facts.Tokens is empty: give at least the documented answer")
	}
	for _, tc := range f.Tokens {
		t.Run(tc.Name, func(t *testing.T) {
			srv := NewServer(t, f.tokenRoute(t, http.StatusOK, tc.Body))
			got, err := f.New(srv.URL, nil, f.now).Issue(context.Background(), f.creds(f.env()))
			if err != nil {
				t.Fatalf("Issue() error = %v", err)
			}
			wantType := tc.Type
			if wantType == "" {
				wantType = "Bearer"
			}
			wantToken := tc.Token
			if wantToken == "" {
				wantToken = f.Token
			}
			if got.AccessToken != wantToken {
				t.Errorf("Issue().AccessToken = %q; want %q", got.AccessToken, wantToken)
			}
			if got.Type != wantType {
				t.Errorf("Issue().Type = %q; want %q", got.Type, wantType)
			}
			if !got.IssuedAt.Equal(f.Received) {
				t.Errorf("Issue().IssuedAt = %v; want %v", got.IssuedAt, f.Received)
			}
			if !got.ExpiresAt.Equal(tc.Expires) {
				t.Errorf("Issue().ExpiresAt = %v; want %v", got.ExpiresAt.In(kauth.KST), tc.Expires.In(kauth.KST))
			}
		})
	}
}

// sharedIssueErrors are the failures of a token call that every broker
// maps alike: a gateway's page, a bare status, a body that is no answer.
func (f Facts) sharedIssueErrors() []ErrorCase {
	html := "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1>" + f.AppKey + "</body></html>"
	return []ErrorCase{
		{"HTML page", 502, html, []string{"Content-Type", "text/html"},
			&ErrWant{Kind: kauth.ErrUnavailable, Code: "HTTP 502", Status: 502, Contains: "HTML page instead of JSON"}},
		{"HTML page under 200", 200, html, []string{"Content-Type", "text/html"},
			&ErrWant{Kind: kauth.ErrUnavailable, Code: "HTTP 200", Status: 200, Contains: "HTML page instead of JSON"}},
		{"malformed JSON", 200, `{"access_token":"` + f.Token, nil,
			&ErrWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "malformed JSON"}},
		{"plain text", 200, `Service temporarily unavailable ` + f.AppSecret, []string{"Content-Type", "text/plain"},
			&ErrWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "non-JSON body"}},
		{"empty body under 200", 200, ``, nil,
			&ErrWant{Kind: kauth.ErrUnavailable, Code: "HTTP 200", Status: 200, Contains: "empty body"}},
		{"502 without body", 502, ``, nil,
			&ErrWant{Kind: kauth.ErrUnavailable, Code: "HTTP 502", Status: 502}},
		{"503 with Retry-After", 503, ``, []string{"Retry-After", "5"},
			&ErrWant{Kind: kauth.ErrUnavailable, Code: "HTTP 503", Status: 503, RetryAfter: 5 * time.Second}},
		{"429", 429, `{"message":"Too Many Requests"}`, []string{"Retry-After", "3"},
			&ErrWant{Kind: kauth.ErrRateLimited, Code: "HTTP 429", Status: 429, RetryAfter: 3 * time.Second}},
		{"429 without Retry-After", 429, ``, nil,
			&ErrWant{Kind: kauth.ErrRateLimited, Code: "HTTP 429", Status: 429}},
		{"401 on the token endpoint", 401, ``, nil,
			&ErrWant{Kind: kauth.ErrCredentials, Code: "HTTP 401", Status: 401}},
		{"400", 400, `{"message":"Bad Request"}`, nil,
			&ErrWant{Kind: kauth.ErrBadRequest, Code: "HTTP 400", Status: 400}},
		{"404 page", 404, `<html>not found</html>`, []string{"Content-Type", "text/html"},
			&ErrWant{Kind: kauth.ErrBadRequest, Code: "HTTP 404", Status: 404}},
	}
}

func (f Facts) testIssueErrors(t *testing.T) {
	for _, tc := range append(f.sharedIssueErrors(), f.IssueErrors...) {
		t.Run(tc.Name, func(t *testing.T) {
			srv := NewServer(t, f.tokenRoute(t, tc.Status, tc.Body, tc.Header...))
			tok, err := f.New(srv.URL, nil, f.now).Issue(context.Background(), f.creds(f.env()))
			if tok != (kauth.Token{}) {
				t.Errorf("Issue() = %v with error %v; want a zero Token", tok, err)
			}
			if tc.Want == nil {
				t.Fatalf("case %q has no Want", tc.Name)
			}
			f.CheckError(t, "Issue()", err, *tc.Want, "issue", f.env())
		})
	}
}

func (f Facts) testInvalidCredentials(t *testing.T) {
	tests := []struct {
		name string
		c    kauth.Credentials
		kind error
	}{
		{"no app key", kauth.Credentials{Broker: f.Name, Env: kauth.Real, AppSecret: f.AppSecret}, kauth.ErrCredentials},
		{"no app secret", kauth.Credentials{Broker: f.Name, Env: kauth.Real, AppKey: f.AppKey}, kauth.ErrCredentials},
		{"no env", kauth.Credentials{Broker: f.Name, AppKey: f.AppKey, AppSecret: f.AppSecret}, kauth.ErrBadRequest},
		{"unknown env", kauth.Credentials{Broker: f.Name, Env: "paper", AppKey: f.AppKey, AppSecret: f.AppSecret}, kauth.ErrBadRequest},
		{"another broker's credentials", kauth.Credentials{Broker: f.Other, Env: kauth.Real, AppKey: f.AppKey, AppSecret: f.AppSecret}, kauth.ErrBadRequest},
	}
	srv := NewServer(t, nil) // any request fails the test
	p := f.New(srv.URL, nil, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			_, err := p.Issue(ctx, tt.c)
			f.NoSecrets(t, err)
			if !errors.Is(err, tt.kind) {
				t.Errorf("Issue() = %v; want %v", err, tt.kind)
			}
			if f.RevokePath == "" {
				return
			}
			err = p.Revoke(ctx, tt.c, f.Token)
			f.NoSecrets(t, err)
			if !errors.Is(err, tt.kind) {
				t.Errorf("Revoke() = %v; want %v", err, tt.kind)
			}
		})
	}
}

func hang(release chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
}

func (f Facts) testTransportErrors(t *testing.T) {
	unavailable := ErrWant{Kind: kauth.ErrUnavailable}
	issue := func(t *testing.T, ctx context.Context, base string, client *http.Client) error {
		_, err := f.New(base, client, nil).Issue(ctx, f.creds(f.env()))
		f.CheckError(t, "Issue()", err, unavailable, "issue", f.env())
		return err
	}
	route := func(h http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{"POST " + f.TokenPath: h}
	}
	t.Run("connection reset", func(t *testing.T) {
		srv := NewServer(t, route(func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0) // RST rather than FIN
			}
			conn.Close()
		}))
		err := issue(t, context.Background(), srv.URL, nil)
		var e *kauth.Error
		if errors.As(err, &e) && e.Err == nil {
			t.Errorf("Issue() = %v; want the cause in Err", err)
		}
	})
	t.Run("reset in the middle of the body", func(t *testing.T) {
		srv := NewServer(t, route(func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"access_token\":\"")
			buf.Flush()
			conn.Close()
		}))
		issue(t, context.Background(), srv.URL, nil)
	})
	t.Run("caller's deadline", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		srv := NewServer(t, route(hang(release)))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := issue(t, ctx, srv.URL, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Issue() = %v; want it to match context.DeadlineExceeded", err)
		}
	})
	t.Run("deadline while reading the body", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		srv := NewServer(t, route(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"access_token":"`)
			w.(http.Flusher).Flush()
			hang(release)(w, r)
		}))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := issue(t, ctx, srv.URL, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Issue() = %v; want it to match context.DeadlineExceeded", err)
		}
	})
	t.Run("caller's cancel", func(t *testing.T) {
		srv := NewServer(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := issue(t, ctx, srv.URL, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("Issue() = %v; want it to match context.Canceled", err)
		}
	})
	t.Run("client timeout", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		srv := NewServer(t, route(hang(release)))
		issue(t, context.Background(), srv.URL, &http.Client{Timeout: 50 * time.Millisecond})
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := NewServer(t, nil)
		url := srv.URL
		srv.Close()
		issue(t, context.Background(), url, nil)
	})
	t.Run("body over the limit", func(t *testing.T) {
		srv := NewServer(t, route(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"access_token":"`+strings.Repeat("a", wire.MaxBody)+`"}`)
		}))
		issue(t, context.Background(), srv.URL, nil)
	})
}

// countingTransport counts the requests of a caller's own client.
type countingTransport struct{ n atomic.Int64 }

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// testRedirects checks that issue and revoke follow no redirect: the app
// key, the secret and the token never reach the host the Location names,
// a token that host hands out is never taken, and the error names the
// broker, env, status and that host. A caller's own client is used as
// given, never changed.
func (f Facts) testRedirects(t *testing.T) {
	for _, status := range RedirectStatuses {
		for _, own := range []bool{false, true} {
			name := fmt.Sprintf("%d/default-client", status)
			if own {
				name = fmt.Sprintf("%d/own-client", status)
			}
			t.Run(name, func(t *testing.T) {
				catcher := NewCatcher(t)
				srv, hits := NewRedirector(t, status, catcher)
				var client *http.Client
				ct := new(countingTransport)
				var followed atomic.Int64
				if own {
					// A caller's client that follows every redirect.
					client = &http.Client{Transport: ct, CheckRedirect: func(*http.Request, []*http.Request) error {
						followed.Add(1)
						return nil
					}}
				}
				p := f.New(srv.URL, client, time.Now)
				c := f.creds(f.env())
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()

				calls := int64(1)
				tok, issueErr := p.Issue(ctx, c)
				if tok.AccessToken != "" {
					t.Errorf("Issue took the token %q from %s", tok.AccessToken, catcher.Host)
				}
				CheckRedirectError(t, issueErr, f.Name, f.env(), "issue", status, catcher.Host, f.AppKey, f.AppSecret)
				if f.RevokePath != "" {
					calls++
					revokeErr := p.Revoke(ctx, c, f.Token)
					CheckRedirectError(t, revokeErr, f.Name, f.env(), "revoke", status, catcher.Host, f.AppKey, f.AppSecret, f.Token)
				}
				catcher.Check(t, f.AppKey, f.AppSecret, f.Token)
				if got := hits(); int64(got) != calls {
					t.Errorf("the broker got %d requests; want %d", got, calls)
				}
				if !own {
					return
				}
				if ct.n.Load() != calls {
					t.Errorf("the caller's transport made %d requests; want %d", ct.n.Load(), calls)
				}
				if client.CheckRedirect == nil {
					t.Fatal("the caller's CheckRedirect was removed")
				}
				before := followed.Load()
				client.CheckRedirect(nil, nil)
				if followed.Load() != before+1 {
					t.Error("the caller's CheckRedirect was replaced")
				}
			})
		}
	}
}

func (f Facts) testRevoke(t *testing.T) {
	cases := append([]ErrorCase{
		{"502 without body", 502, ``, nil, &ErrWant{Kind: kauth.ErrUnavailable, Code: "HTTP 502", Status: 502}},
		{"bare 401", 401, ``, nil, &ErrWant{Kind: kauth.ErrCredentials, Code: "HTTP 401", Status: 401}},
		{"bare 400", 400, ``, nil, &ErrWant{Kind: kauth.ErrBadRequest, Code: "HTTP 400", Status: 400}},
	}, f.Revokes...)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			srv := NewServer(t, map[string]http.HandlerFunc{
				"POST " + f.RevokePath: func(w http.ResponseWriter, r *http.Request) {
					f.CheckRevoke(t, r, f.Token)
					Reply(tc.Status, tc.Body, tc.Header...)(w, r)
				},
			})
			err := f.New(srv.URL, nil, f.now).Revoke(context.Background(), f.creds(kauth.Real), f.Token)
			if tc.Want == nil {
				if err != nil {
					t.Fatalf("Revoke() = %v; want nil", err)
				}
				return
			}
			f.CheckError(t, "Revoke()", err, *tc.Want, "revoke", kauth.Real)
		})
	}
	t.Run("empty token", func(t *testing.T) {
		srv := NewServer(t, nil)
		err := f.New(srv.URL, nil, nil).Revoke(context.Background(), f.creds(kauth.Real), "")
		f.CheckError(t, "Revoke()", err, ErrWant{Kind: kauth.ErrBadRequest}, "revoke", kauth.Real)
	})
}

func (f Facts) testURL(t *testing.T) {
	tests := []struct {
		name    string
		field   string
		envVar  string
		env     kauth.Env
		wantURL string
	}{
		{"real default", "", "", kauth.Real, f.RealURL},
		{"mock default", "", "", kauth.Mock, f.MockURL},
		{"unknown env", "", "", "paper", ""},
		{"env var", "", "http://127.0.0.1:8080/" + string(f.Name) + "/mock/", kauth.Real, "http://127.0.0.1:8080/" + string(f.Name) + "/mock"},
		{"field beats env var", "http://proxy.internal/", "http://127.0.0.1:8080/" + string(f.Name) + "/mock", kauth.Mock, "http://proxy.internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(f.BaseURLEnv, tt.envVar)
			p, ok := f.New(tt.field, nil, nil).(kauth.Locator)
			if !ok {
				t.Fatalf("the provider is no kauth.Locator")
			}
			if got := p.URL(tt.env); got != tt.wantURL {
				t.Errorf("URL(%q) = %q; want %q", tt.env, got, tt.wantURL)
			}
		})
	}
}

func (f Facts) testEnvBaseURL(t *testing.T) {
	srv := NewServer(t, f.tokenRoute(t, http.StatusOK, f.Tokens[0].Body))
	t.Setenv(f.BaseURLEnv, srv.URL)
	if _, err := f.New("", nil, nil).Issue(context.Background(), f.creds(f.env())); err != nil {
		t.Fatalf("Issue() with $%s = %v; want nil", f.BaseURLEnv, err)
	}
}

func (f Facts) testRejected(t *testing.T) {
	p, ok := f.New("", nil, nil).(kauth.Authorizer)
	if !ok {
		t.Fatal("the provider is no kauth.Authorizer")
	}
	cases := append([]RejectCase{
		{Name: "bare 401", Status: 401, Rejected: true},
		{Name: "429", Status: 429, Body: `{"message":"Too Many Requests"}`},
		{Name: "502 page", Status: 502, Body: `<html>bad gateway</html>`},
	}, f.Rejections...)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			resp := Response(t, tc.Status, []string{"Content-Type", "application/json;charset=UTF-8"}, tc.Body)
			if got := p.Rejected(resp); got != tc.Rejected {
				t.Errorf("Rejected() = %v; want %v", got, tc.Rejected)
			}
			if rest, _ := io.ReadAll(resp.Body); string(rest) != tc.Body {
				t.Errorf("after Rejected() the body reads %q; want it whole", rest)
			}
		})
	}
	t.Run("nil response", func(t *testing.T) {
		if p.Rejected(nil) {
			t.Error("Rejected(nil) = true; want false")
		}
	})
	t.Run("streams", func(t *testing.T) { RejectedStreams(t, f.CallPath, f.CallOK, p.Rejected) })
}

func (f Facts) testAuthorize(t *testing.T) {
	p, ok := f.New("", nil, nil).(kauth.Authorizer)
	if !ok {
		t.Fatal("the provider is no kauth.Authorizer")
	}
	tok := kauth.Token{AccessToken: f.Token, Type: "Bearer"}
	for i, req := range []*http.Request{{}, {Header: http.Header{"Authorization": {"Bearer stale"}, "X-Caller": {"kept"}}}} {
		p.Authorize(req, f.creds(kauth.Real), tok)
		for k, want := range f.Authorization {
			if got := req.Header.Values(k); len(got) != 1 || got[0] != want {
				t.Errorf("after Authorize(), header %s = %q; want exactly [%q]", k, got, want)
			}
		}
		for _, k := range f.AuthorizeOmits {
			if got := req.Header.Values(k); len(got) != 0 {
				t.Errorf("after Authorize(), header %s = %q; want none", k, got)
			}
		}
		if i == 1 && req.Header.Get("X-Caller") != "kept" {
			t.Errorf("Authorize() dropped the caller's header X-Caller")
		}
	}
}

// testTZ checks that the broker's expiries, parsed and issued, do not
// depend on the local time zone.
func (f Facts) testTZ(t *testing.T) {
	var want strings.Builder
	for _, e := range f.Expiries {
		fmt.Fprintf(&want, "ParseExpiry(%s)=%s\n", e.In, e.Want.UTC().Format(time.RFC3339))
	}
	for _, tc := range f.Tokens {
		fmt.Fprintf(&want, "Issue(%s).ExpiresAt=%s\n", tc.Name, tc.Expires.UTC().Format(time.RFC3339))
	}
	SameUnderTZ(t, f.expiryReport, strings.TrimSpace(want.String()))
}

func (f Facts) expiryReport(t *testing.T) string {
	var b strings.Builder
	for _, e := range f.Expiries {
		tm, err := f.ParseExpiry(e.In)
		if err != nil {
			t.Fatalf("ParseExpiry(%q) = %v", e.In, err)
		}
		fmt.Fprintf(&b, "ParseExpiry(%s)=%s\n", e.In, tm.UTC().Format(time.RFC3339))
	}
	for _, tc := range f.Tokens {
		srv := NewServer(t, f.tokenRoute(t, http.StatusOK, tc.Body))
		tok, err := f.New(srv.URL, nil, f.now).Issue(context.Background(), f.creds(f.env()))
		if err != nil {
			t.Fatalf("Issue(%s) = %v", tc.Name, err)
		}
		fmt.Fprintf(&b, "Issue(%s).ExpiresAt=%s\n", tc.Name, tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// testReissue: kauth is right whatever the broker answers to a re-issue
// while a token is valid — the same token, a new one with the old still
// valid, or a new one that invalidates the old.
func (f Facts) testReissue(t *testing.T) {
	modes := f.ReissueModes
	if len(modes) == 0 {
		modes = []brokersim.ReissueMode{brokersim.ReissueSame, brokersim.ReissueNewKeepOld, brokersim.ReissueNewRevokeOld}
	}
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ReissueDays(t, f.Reissue, mode, 3, f.New)
		})
	}
}
