package kis

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/brokertest"
	"github.com/kauth/kauth/internal/wire"
)

// seedToken is the answer of /oauth2/tokenP as the KIS guide prints it,
// with a fake token.
const seedToken = `{
    "access_token": "` + fakeToken + `",
    "access_token_token_expired": "2023-12-22 08:16:59",
    "token_type": "Bearer",
    "expires_in": 86400
}`

func tokenRoute(t *testing.T, status int, body string, header ...string) map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /oauth2/tokenP": func(w http.ResponseWriter, r *http.Request) {
			broker.CheckJSONRequest(t, r, nil, map[string]string{
				"grant_type": "client_credentials",
				"appkey":     fakeAppKey,
				"appsecret":  fakeAppSecret,
			})
			brokertest.Reply(status, body, header...)(w, r)
		},
	}
}

func TestIssue(t *testing.T) {
	kst := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, kauth.KST)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name     string
		body     string
		wantType string
		wantExp  time.Time
	}{
		{
			name:     "seed answer",
			body:     seedToken,
			wantType: "Bearer",
			wantExp:  kst("2023-12-22 08:16:59"),
		},
		{
			// A re-issue within 6 h returns the old token: expires_in still
			// says a full day, the printed expiry says 5 h.
			name:     "reissued token keeps the printed expiry",
			body:     `{"access_token":"` + fakeToken + `","access_token_token_expired":"2023-12-21 13:16:59","token_type":"Bearer","expires_in":86400}`,
			wantType: "Bearer",
			wantExp:  received.Add(5 * time.Hour),
		},
		{
			name:     "expires_in earlier than the printed expiry",
			body:     `{"access_token":"` + fakeToken + `","access_token_token_expired":"2023-12-22 08:16:59","token_type":"Bearer","expires_in":3600}`,
			wantType: "Bearer",
			wantExp:  received.Add(time.Hour),
		},
		{
			name:     "expires_in as a string",
			body:     `{"access_token":"` + fakeToken + `","access_token_token_expired":"2023-12-22 08:16:59","token_type":"Bearer","expires_in":"7200"}`,
			wantType: "Bearer",
			wantExp:  received.Add(2 * time.Hour),
		},
		{
			name:     "no printed expiry",
			body:     `{"access_token":"` + fakeToken + `","token_type":"Bearer","expires_in":86400}`,
			wantType: "Bearer",
			wantExp:  received.Add(24 * time.Hour),
		},
		{
			name:     "no expires_in",
			body:     `{"access_token":"` + fakeToken + `","access_token_token_expired":"2023-12-21 20:00:00","token_type":"Bearer"}`,
			wantType: "Bearer",
			wantExp:  kst("2023-12-21 20:00:00"),
		},
		{
			name:     "lower-case token type",
			body:     `{"access_token":"` + fakeToken + `","access_token_token_expired":"2023-12-22 08:16:59","token_type":"bearer","expires_in":86400}`,
			wantType: "Bearer",
			wantExp:  kst("2023-12-22 08:16:59"),
		},
		{
			name:     "unknown fields are ignored",
			body:     `{"access_token":"` + fakeToken + `","access_token_token_expired":"2023-12-22 08:16:59","token_type":"Bearer","expires_in":86400,"rt_cd":"0","msg_cd":"","extra":{"a":[1,2]}}`,
			wantType: "Bearer",
			wantExp:  kst("2023-12-22 08:16:59"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := brokertest.NewServer(t, tokenRoute(t, http.StatusOK, tt.body))
			p := &Provider{BaseURL: srv.URL, Now: fixedNow}
			got, err := p.Issue(context.Background(), mockCreds)
			if err != nil {
				t.Fatalf("Issue() error = %v", err)
			}
			if got.AccessToken != fakeToken {
				t.Errorf("Issue().AccessToken = %q; want the fake token", got.AccessToken)
			}
			if got.Type != tt.wantType {
				t.Errorf("Issue().Type = %q; want %q", got.Type, tt.wantType)
			}
			if !got.IssuedAt.Equal(received) {
				t.Errorf("Issue().IssuedAt = %v; want %v", got.IssuedAt, received)
			}
			if !got.ExpiresAt.Equal(tt.wantExp) {
				t.Errorf("Issue().ExpiresAt = %v; want %v", got.ExpiresAt.In(kauth.KST), tt.wantExp.In(kauth.KST))
			}
		})
	}
}

func TestIssueErrors(t *testing.T) {
	html := "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1>" + fakeAppKey + "</body></html>"
	tests := []struct {
		name   string
		status int
		body   string
		header []string
		want   errWant
	}{
		{"EGW00133 issuance limit", 403,
			`{"error_code":"EGW00133","error_description":"접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"}`, nil,
			errWant{Kind: kauth.ErrRateLimited, Code: "EGW00133", Status: 403, RetryAfter: time.Minute, Contains: "EGW00133 rate limited: 접근토큰 발급"}},
		{"EGW00133 with Retry-After", 403,
			`{"error_code":"EGW00133","error_description":"접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"}`, []string{"Retry-After", "42"},
			errWant{Kind: kauth.ErrRateLimited, Code: "EGW00133", Status: 403, RetryAfter: 42 * time.Second}},
		{"EGW00102 appkey missing", 403, `{"error_code":"EGW00102","error_description":"AppKey는 필수입니다."}`, nil,
			errWant{Kind: kauth.ErrCredentials, Code: "EGW00102", Status: 403}},
		{"EGW00103 appkey invalid", 403, `{"error_code":"EGW00103","error_description":"유효하지 않은 AppKey입니다."}`, nil,
			errWant{Kind: kauth.ErrCredentials, Code: "EGW00103", Status: 403, Contains: "유효하지 않은 AppKey입니다."}},
		{"EGW00104 appsecret missing", 403, `{"error_code":"EGW00104","error_description":"AppSecret는 필수입니다."}`, nil,
			errWant{Kind: kauth.ErrCredentials, Code: "EGW00104", Status: 403}},
		{"EGW00105 appsecret invalid", 403, `{"error_code":"EGW00105","error_description":"유효하지 않은 AppSecret입니다."}`, nil,
			errWant{Kind: kauth.ErrCredentials, Code: "EGW00105", Status: 403}},
		{"EGW00115 grant_type missing", 403, `{"error_code":"EGW00115","error_description":"grant_type은 필수입니다."}`, nil,
			errWant{Kind: kauth.ErrBadRequest, Code: "EGW00115", Status: 403}},
		{"EGW00116 grant_type invalid", 403, `{"error_code":"EGW00116","error_description":"grant_type이 유효하지 않습니다."}`, nil,
			errWant{Kind: kauth.ErrBadRequest, Code: "EGW00116", Status: 403}},
		{"unknown token-endpoint code", 403, `{"error_code":"EGW09999","error_description":"새로운 오류"}`, nil,
			errWant{Kind: kauth.ErrBadRequest, Code: "EGW09999", Status: 403}},
		{"unknown code under 500", 500, `{"error_code":"EGW09999","error_description":"새로운 오류"}`, nil,
			errWant{Kind: kauth.ErrUnavailable, Code: "EGW09999", Status: 500}},
		{"description echoes the credentials", 403,
			`{"error_code":"EGW00103","error_description":"유효하지 않은 AppKey입니다: ` + fakeAppKey + ` / ` + fakeAppSecret + `"}`, nil,
			errWant{Kind: kauth.ErrCredentials, Code: "EGW00103", Status: 403, Contains: "<redacted>"}},
		{"code field holds a secret", 403, `{"error_code":"` + fakeAppSecret + `","error_description":"x"}`, nil,
			errWant{Kind: kauth.ErrBadRequest, Status: 403}},
		{"call-style rate limit", 500, `{"rt_cd":"1","msg_cd":"EGW00201","msg1":"초당 거래건수를 초과하였습니다."}`, nil,
			errWant{Kind: kauth.ErrRateLimited, Code: "EGW00201", Status: 500, RetryAfter: time.Second}},
		{"HTML page", 502, html, []string{"Content-Type", "text/html"},
			errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 502", Status: 502, Contains: "HTML page instead of JSON"}},
		{"HTML page under 200", 200, html, []string{"Content-Type", "text/html"},
			errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 200", Status: 200, Contains: "HTML page instead of JSON"}},
		{"malformed JSON", 200, `{"access_token":"` + fakeToken, nil,
			errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "malformed JSON"}},
		{"wrong JSON types", 200, `{"access_token":42,"expires_in":86400}`, nil,
			errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "unexpected JSON"}},
		{"plain text", 200, `Service temporarily unavailable ` + fakeAppSecret, []string{"Content-Type", "text/plain"},
			errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "non-JSON body"}},
		{"empty body under 200", 200, ``, nil,
			errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 200", Status: 200, Contains: "empty body"}},
		{"502 without body", 502, ``, nil,
			errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 502", Status: 502}},
		{"503 with Retry-After", 503, ``, []string{"Retry-After", "5"},
			errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 503", Status: 503, RetryAfter: 5 * time.Second}},
		{"429", 429, ``, []string{"Retry-After", "3"},
			errWant{Kind: kauth.ErrRateLimited, Code: "HTTP 429", Status: 429, RetryAfter: 3 * time.Second}},
		{"401 on the token endpoint", 401, ``, nil,
			errWant{Kind: kauth.ErrCredentials, Code: "HTTP 401", Status: 401}},
		{"404 page", 404, `<html>not found</html>`, []string{"Content-Type", "text/html"},
			errWant{Kind: kauth.ErrBadRequest, Code: "HTTP 404", Status: 404}},
		{"success without a token", 200, `{"token_type":"Bearer","expires_in":86400}`, nil,
			errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "no access_token"}},
		{"success without any expiry", 200, `{"access_token":"` + fakeToken + `","token_type":"Bearer","access_token_token_expired":"soon"}`, nil,
			errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "no usable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := brokertest.NewServer(t, tokenRoute(t, tt.status, tt.body, tt.header...))
			p := &Provider{BaseURL: srv.URL, Now: fixedNow}
			tok, err := p.Issue(context.Background(), mockCreds)
			if tok != (kauth.Token{}) {
				t.Errorf("Issue() = %v with error %v; want a zero Token", tok, err)
			}
			broker.CheckError(t, "Issue()", err, tt.want, OpIssue, kauth.Mock)
		})
	}
}

func TestIssueInvalidCredentials(t *testing.T) {
	tests := []struct {
		name string
		c    kauth.Credentials
		kind error
	}{
		{"no app key", kauth.Credentials{Broker: kauth.KIS, Env: kauth.Real, AppSecret: fakeAppSecret}, kauth.ErrCredentials},
		{"no app secret", kauth.Credentials{Broker: kauth.KIS, Env: kauth.Real, AppKey: fakeAppKey}, kauth.ErrCredentials},
		{"no env", kauth.Credentials{Broker: kauth.KIS, AppKey: fakeAppKey, AppSecret: fakeAppSecret}, kauth.ErrBadRequest},
		{"kiwoom credentials", kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Real, AppKey: fakeAppKey, AppSecret: fakeAppSecret}, kauth.ErrBadRequest},
	}
	srv := brokertest.NewServer(t, nil) // any request fails the test
	p := &Provider{BaseURL: srv.URL}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			_, err := p.Issue(ctx, tt.c)
			broker.NoSecrets(t, err)
			if !errors.Is(err, tt.kind) {
				t.Errorf("Issue() = %v; want %v", err, tt.kind)
			}
			if err := p.Revoke(ctx, tt.c, fakeToken); !errors.Is(err, tt.kind) {
				t.Errorf("Revoke() = %v; want %v", err, tt.kind)
			}
			if _, err := p.ApprovalKey(ctx, tt.c); !errors.Is(err, tt.kind) {
				t.Errorf("ApprovalKey() = %v; want %v", err, tt.kind)
			}
			if _, err := p.HashKey(ctx, tt.c, []byte(`{}`)); !errors.Is(err, tt.kind) {
				t.Errorf("HashKey() = %v; want %v", err, tt.kind)
			}
		})
	}
}

func TestIssueTransportErrors(t *testing.T) {
	t.Run("connection reset", func(t *testing.T) {
		srv := brokertest.NewServer(t, map[string]http.HandlerFunc{
			"POST /oauth2/tokenP": func(w http.ResponseWriter, r *http.Request) {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					t.Errorf("Hijack: %v", err)
					return
				}
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0) // RST rather than FIN
				}
				conn.Close()
			},
		})
		p := &Provider{BaseURL: srv.URL}
		_, err := p.Issue(context.Background(), mockCreds)
		broker.CheckError(t, "Issue()", err, errWant{Kind: kauth.ErrUnavailable}, OpIssue, kauth.Mock)
		var e *kauth.Error
		if errors.As(err, &e); e.Err == nil {
			t.Errorf("Issue() = %v; want the cause in Err", err)
		}
	})
	t.Run("reset in the middle of the body", func(t *testing.T) {
		srv := brokertest.NewServer(t, map[string]http.HandlerFunc{
			"POST /oauth2/tokenP": func(w http.ResponseWriter, r *http.Request) {
				conn, buf, err := w.(http.Hijacker).Hijack()
				if err != nil {
					t.Errorf("Hijack: %v", err)
					return
				}
				buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"access_token\":\"")
				buf.Flush()
				conn.Close()
			},
		})
		p := &Provider{BaseURL: srv.URL}
		_, err := p.Issue(context.Background(), mockCreds)
		broker.CheckError(t, "Issue()", err, errWant{Kind: kauth.ErrUnavailable}, OpIssue, kauth.Mock)
	})
	t.Run("caller's deadline", func(t *testing.T) {
		release := make(chan struct{})
		srv := brokertest.NewServer(t, map[string]http.HandlerFunc{
			"POST /oauth2/tokenP": func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			},
		})
		defer close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		p := &Provider{BaseURL: srv.URL}
		_, err := p.Issue(ctx, mockCreds)
		broker.CheckError(t, "Issue()", err, errWant{Kind: kauth.ErrUnavailable}, OpIssue, kauth.Mock)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Issue() = %v; want it to match context.DeadlineExceeded", err)
		}
	})
	t.Run("caller's cancel", func(t *testing.T) {
		srv := brokertest.NewServer(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		p := &Provider{BaseURL: srv.URL}
		_, err := p.Issue(ctx, mockCreds)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, kauth.ErrUnavailable) {
			t.Errorf("Issue() = %v; want ErrUnavailable matching context.Canceled", err)
		}
	})
	t.Run("client timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := brokertest.NewServer(t, map[string]http.HandlerFunc{
			"POST /oauth2/tokenP": func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			},
		})
		defer close(release)
		p := &Provider{BaseURL: srv.URL, HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}}
		_, err := p.Issue(context.Background(), mockCreds)
		broker.CheckError(t, "Issue()", err, errWant{Kind: kauth.ErrUnavailable}, OpIssue, kauth.Mock)
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := brokertest.NewServer(t, nil)
		url := srv.URL
		srv.Close()
		p := &Provider{BaseURL: url}
		_, err := p.Issue(context.Background(), mockCreds)
		broker.CheckError(t, "Issue()", err, errWant{Kind: kauth.ErrUnavailable}, OpIssue, kauth.Mock)
	})
	t.Run("body over the limit", func(t *testing.T) {
		srv := brokertest.NewServer(t, map[string]http.HandlerFunc{
			"POST /oauth2/tokenP": func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"access_token":"`)
				io.Copy(w, io.LimitReader(neverEnding('a'), wire.MaxBody+10))
				io.WriteString(w, `"}`)
			},
		})
		p := &Provider{BaseURL: srv.URL}
		_, err := p.Issue(context.Background(), mockCreds)
		broker.CheckError(t, "Issue()", err, errWant{Kind: kauth.ErrUnavailable}, OpIssue, kauth.Mock)
	})
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestRevoke(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   *errWant
	}{
		{"code as a number", 200, `{"code":200,"message":"접근토큰 폐기에 성공하였습니다"}`, nil},
		{"code as a string", 200, `{"code":"200","message":"접근토큰 폐기에 성공하였습니다"}`, nil},
		{"no code", 200, `{"message":"접근토큰 폐기에 성공하였습니다"}`, nil},
		{"expired token", 200, `{"rt_cd":"1","msg_cd":"EGW00123","msg1":"기간이 만료된 token 입니다."}`,
			&errWant{Kind: kauth.ErrTokenRejected, Code: "EGW00123", Status: 200}},
		{"bad appsecret", 403, `{"error_code":"EGW00105","error_description":"유효하지 않은 AppSecret입니다."}`,
			&errWant{Kind: kauth.ErrCredentials, Code: "EGW00105", Status: 403}},
		{"failure code in the body", 200, `{"code":"400","message":"폐기 실패: ` + fakeToken + `"}`,
			&errWant{Kind: kauth.ErrBadRequest, Code: "400", Status: 200, Contains: "<redacted>"}},
		{"message echoes the token", 500, `{"rt_cd":"1","msg_cd":"EGW00121","msg1":"유효하지 않은 token 입니다: ` + fakeToken + `"}`,
			&errWant{Kind: kauth.ErrTokenRejected, Code: "EGW00121", Status: 500, Contains: "<redacted>"}},
		{"502 without body", 502, ``, &errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 502", Status: 502}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := brokertest.NewServer(t, map[string]http.HandlerFunc{
				"POST /oauth2/revokeP": func(w http.ResponseWriter, r *http.Request) {
					broker.CheckJSONRequest(t, r, nil, map[string]string{
						"appkey":    fakeAppKey,
						"appsecret": fakeAppSecret,
						"token":     fakeToken,
					})
					brokertest.Reply(tt.status, tt.body)(w, r)
				},
			})
			p := &Provider{BaseURL: srv.URL, Now: fixedNow}
			err := p.Revoke(context.Background(), realCreds, fakeToken)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Revoke() = %v; want nil", err)
				}
				return
			}
			broker.CheckError(t, "Revoke()", err, *tt.want, OpRevoke, kauth.Real)
		})
	}
	t.Run("empty token", func(t *testing.T) {
		srv := brokertest.NewServer(t, nil)
		p := &Provider{BaseURL: srv.URL}
		err := p.Revoke(context.Background(), realCreds, "")
		broker.CheckError(t, "Revoke()", err, errWant{Kind: kauth.ErrBadRequest}, OpRevoke, kauth.Real)
	})
}

func TestURL(t *testing.T) {
	tests := []struct {
		name    string
		field   string
		envVar  string
		env     kauth.Env
		wantURL string
	}{
		{"real default", "", "", kauth.Real, RealURL},
		{"mock default", "", "", kauth.Mock, MockURL},
		{"unknown env", "", "", "paper", ""},
		{"env var", "", "http://127.0.0.1:8080/kis/mock/", kauth.Real, "http://127.0.0.1:8080/kis/mock"},
		{"field beats env var", "http://proxy.internal/", "http://127.0.0.1:8080/kis/mock", kauth.Mock, "http://proxy.internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(BaseURLEnv, tt.envVar)
			p := &Provider{BaseURL: tt.field}
			if got := p.URL(tt.env); got != tt.wantURL {
				t.Errorf("URL(%q) = %q; want %q", tt.env, got, tt.wantURL)
			}
		})
	}
}

func TestEnvBaseURLIsUsed(t *testing.T) {
	srv := brokertest.NewServer(t, tokenRoute(t, 200, seedToken))
	t.Setenv(BaseURLEnv, srv.URL)
	if _, err := New().Issue(context.Background(), mockCreds); err != nil {
		t.Fatalf("Issue() with $%s = %v; want nil", BaseURLEnv, err)
	}
}

func TestDefaultClientHasTimeout(t *testing.T) {
	if c := wire.Client(New().HTTPClient); c == http.DefaultClient || c.Timeout <= 0 {
		t.Errorf("default client timeout = %v; want a positive timeout", c.Timeout)
	}
}
