package kiwoom

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/brokertest"
	"github.com/kauth/kauth/internal/wire"
)

// seedToken is the answer of au10001 as Kiwoom sends it, with a fake token.
const seedToken = `{"expires_dt":"20241107083713","return_msg":"정상적으로 처리되었습니다","token_type":"bearer","return_code":0,"token":"` + fakeToken + `"}`

func authFail(code, text string) string {
	return `{"return_code":3,"return_msg":"인증에 실패했습니다[` + code + `:` + text + `]"}`
}

func tokenRoute(t *testing.T, status int, body string, header ...string) map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /oauth2/token": func(w http.ResponseWriter, r *http.Request) {
			// The spec marks api-id required on au10001 too.
			broker.CheckJSONRequest(t, r, map[string]string{"api-id": APIIDIssue}, map[string]string{
				"grant_type": "client_credentials",
				"appkey":     fakeAppKey,
				"secretkey":  fakeAppSecret,
			})
			brokertest.Reply(status, body, header...)(w, r)
		},
	}
}

func TestIssue(t *testing.T) {
	kst := func(s string) time.Time {
		tm, err := time.ParseInLocation("20060102150405", s, kauth.KST)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name    string
		body    string
		wantExp time.Time
	}{
		{"seed answer", seedToken, kst("20241107083713")},
		{
			// Lifetimes vary: trust expires_dt, never "now + 24 h".
			name:    "18 hour token",
			body:    `{"expires_dt":"20241107023713","return_msg":"정상적으로 처리되었습니다","token_type":"bearer","return_code":0,"token":"` + fakeToken + `"}`,
			wantExp: received.Add(18 * time.Hour),
		},
		{
			name:    "return_code as a string",
			body:    `{"expires_dt":"20241107083713","return_msg":"정상적으로 처리되었습니다","token_type":"Bearer","return_code":"0","token":"` + fakeToken + `"}`,
			wantExp: kst("20241107083713"),
		},
		{
			name:    "no return_code",
			body:    `{"expires_dt":"20241107083713","token_type":"BEARER","token":"` + fakeToken + `"}`,
			wantExp: kst("20241107083713"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := brokertest.NewServer(t, tokenRoute(t, http.StatusOK, tt.body, "api-id", "au10001"))
			p := &Provider{BaseURL: srv.URL, Now: fixedNow}
			got, err := p.Issue(context.Background(), mockCreds)
			if err != nil {
				t.Fatalf("Issue() error = %v", err)
			}
			if got.AccessToken != fakeToken {
				t.Errorf("Issue().AccessToken = %q; want the fake token", got.AccessToken)
			}
			if got.Type != "Bearer" {
				t.Errorf("Issue().Type = %q; want %q", got.Type, "Bearer")
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
		{"8001 bad appkey", 200, authFail("8001", "App Key와 Secret Key 검증에 실패했습니다"), nil,
			errWant{Kind: kauth.ErrCredentials, Code: "8001", Status: 200, Contains: "8001 credentials rejected: 인증에 실패했습니다[8001:"}},
		{"8002 bad secretkey, return_code as a string", 200,
			`{"return_code":"3","return_msg":"인증에 실패했습니다[8002:App Key와 Secret Key 검증에 실패했습니다. 실패사유=secretkey 불일치]"}`, nil,
			errWant{Kind: kauth.ErrCredentials, Code: "8002", Status: 200}},
		{"8020 key missing", 200, authFail("8020", "입력파라미터로 appkey 또는 secretkey가 들어오지 않았습니다."), nil,
			errWant{Kind: kauth.ErrCredentials, Code: "8020", Status: 200}},
		{"8030 app key of the other env", 200, authFail("8030", "투자구분(실전/모의)이 달라서 Appkey를 사용할수가 없습니다"), nil,
			errWant{Kind: kauth.ErrCredentials, Code: "8030", Status: 200}},
		{"8040 device", 200, authFail("8040", "단말기 인증에 실패했습니다"), nil,
			errWant{Kind: kauth.ErrCredentials, Code: "8040", Status: 200}},
		{"8050 designated device", 200, authFail("8050", "지정단말기 인증에 실패했습니다"), nil,
			errWant{Kind: kauth.ErrCredentials, Code: "8050", Status: 200}},
		{"8012 grant_type", 200, authFail("8012", "Access Token을 발급하는데 실패했습니다. grant_type의 값이 맞지 않습니다"), nil,
			errWant{Kind: kauth.ErrBadRequest, Code: "8012", Status: 200}},
		{"1700 request limit", 200,
			`{"return_code":5,"return_msg":"허용된 요청 개수를 초과하였습니다[1700:허용된 요청 개수를 초과하였습니다. API ID=au10001]"}`, nil,
			errWant{Kind: kauth.ErrRateLimited, Code: "1700", Status: 200, RetryAfter: time.Second}},
		{"1700 with Retry-After", 200,
			`{"return_code":"5","return_msg":"허용된 요청 개수를 초과하였습니다[1700:허용된 요청 개수를 초과하였습니다. API ID=au10001]"}`, []string{"Retry-After", "3"},
			errWant{Kind: kauth.ErrRateLimited, Code: "1700", Status: 200, RetryAfter: 3 * time.Second}},
		{"1634 shares return_code 5 but is an input error", 200,
			`{"return_code":5,"return_msg":"허용된 요청 개수를 초과하였습니다[1634]"}`, nil,
			errWant{Kind: kauth.ErrBadRequest, Code: "1634", Status: 200}},
		{"return_code 5 without a code is no rate limit", 200,
			`{"return_code":5,"return_msg":"허용된 요청 개수를 초과하였습니다"}`, nil,
			errWant{Kind: kauth.ErrBadRequest, Code: "return_code=5", Status: 200}},
		{"unknown code under 500", 500, authFail("8999", "새로운 오류"), nil,
			errWant{Kind: kauth.ErrUnavailable, Code: "8999", Status: 500}},
		{"message echoes the credentials", 200, authFail("8001", "검증 실패 appkey="+fakeAppKey+" secretkey="+fakeAppSecret), nil,
			errWant{Kind: kauth.ErrCredentials, Code: "8001", Status: 200, Contains: "<redacted>"}},
		{"HTML page", 502, html, []string{"Content-Type", "text/html"},
			errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 502", Status: 502, Contains: "HTML page instead of JSON"}},
		{"malformed JSON", 200, `{"token":"` + fakeToken, nil,
			errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "malformed JSON"}},
		{"wrong JSON types", 200, `{"return_code":true}`, nil,
			errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "unexpected JSON"}},
		{"empty body under 200", 200, ``, nil,
			errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 200", Status: 200, Contains: "empty body"}},
		{"502 without body", 502, ``, nil,
			errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 502", Status: 502}},
		{"503 with Retry-After", 503, ``, []string{"Retry-After", "7"},
			errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 503", Status: 503, RetryAfter: 7 * time.Second}},
		{"429", 429, `{"message":"Too Many Requests"}`, []string{"Retry-After", "2"},
			errWant{Kind: kauth.ErrRateLimited, Code: "HTTP 429", Status: 429, RetryAfter: 2 * time.Second}},
		{"429 without Retry-After", 429, ``, nil,
			errWant{Kind: kauth.ErrRateLimited, Code: "HTTP 429", Status: 429}},
		{"401 on the token endpoint", 401, ``, nil,
			errWant{Kind: kauth.ErrCredentials, Code: "HTTP 401", Status: 401}},
		{"400", 400, `{"message":"Bad Request"}`, nil,
			errWant{Kind: kauth.ErrBadRequest, Code: "HTTP 400", Status: 400}},
		{"success without a token", 200, `{"expires_dt":"20241107083713","token_type":"bearer","return_code":0,"return_msg":"정상적으로 처리되었습니다"}`, nil,
			errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "no token"}},
		{"success without expires_dt", 200, `{"token_type":"bearer","return_code":0,"token":"` + fakeToken + `"}`, nil,
			errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "no usable expires_dt"}},
		{"expires_dt in another layout", 200, `{"expires_dt":"2024-11-07 08:37:13","token_type":"bearer","return_code":0,"token":"` + fakeToken + `"}`, nil,
			errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "no usable expires_dt"}},
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
		{"no app key", kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Real, AppSecret: fakeAppSecret}, kauth.ErrCredentials},
		{"no secret key", kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Real, AppKey: fakeAppKey}, kauth.ErrCredentials},
		{"no env", kauth.Credentials{Broker: kauth.Kiwoom, AppKey: fakeAppKey, AppSecret: fakeAppSecret}, kauth.ErrBadRequest},
		{"KIS credentials", kauth.Credentials{Broker: kauth.KIS, Env: kauth.Real, AppKey: fakeAppKey, AppSecret: fakeAppSecret}, kauth.ErrBadRequest},
	}
	srv := brokertest.NewServer(t, nil) // any request fails the test
	p := &Provider{BaseURL: srv.URL}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Issue(context.Background(), tt.c)
			broker.NoSecrets(t, err)
			if !errors.Is(err, tt.kind) {
				t.Errorf("Issue() = %v; want %v", err, tt.kind)
			}
			if err := p.Revoke(context.Background(), tt.c, fakeToken); !errors.Is(err, tt.kind) {
				t.Errorf("Revoke() = %v; want %v", err, tt.kind)
			}
		})
	}
}

func TestIssueTransportErrors(t *testing.T) {
	hang := func(release chan struct{}) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}
	t.Run("connection reset", func(t *testing.T) {
		srv := brokertest.NewServer(t, map[string]http.HandlerFunc{
			"POST /oauth2/token": func(w http.ResponseWriter, r *http.Request) {
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
		_, err := (&Provider{BaseURL: srv.URL}).Issue(context.Background(), mockCreds)
		broker.CheckError(t, "Issue()", err, errWant{Kind: kauth.ErrUnavailable}, OpIssue, kauth.Mock)
		var e *kauth.Error
		if errors.As(err, &e); e.Err == nil {
			t.Errorf("Issue() = %v; want the cause in Err", err)
		}
	})
	t.Run("caller's deadline", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		srv := brokertest.NewServer(t, map[string]http.HandlerFunc{"POST /oauth2/token": hang(release)})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := (&Provider{BaseURL: srv.URL}).Issue(ctx, mockCreds)
		broker.CheckError(t, "Issue()", err, errWant{Kind: kauth.ErrUnavailable}, OpIssue, kauth.Mock)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Issue() = %v; want it to match context.DeadlineExceeded", err)
		}
	})
	t.Run("deadline while reading the body", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		srv := brokertest.NewServer(t, map[string]http.HandlerFunc{
			"POST /oauth2/token": func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"token":"`)
				w.(http.Flusher).Flush()
				hang(release)(w, r)
			},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := (&Provider{BaseURL: srv.URL}).Issue(ctx, mockCreds)
		broker.CheckError(t, "Issue()", err, errWant{Kind: kauth.ErrUnavailable}, OpIssue, kauth.Mock)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Issue() = %v; want it to match context.DeadlineExceeded", err)
		}
	})
	t.Run("client timeout", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		srv := brokertest.NewServer(t, map[string]http.HandlerFunc{"POST /oauth2/token": hang(release)})
		p := &Provider{BaseURL: srv.URL, HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}}
		_, err := p.Issue(context.Background(), mockCreds)
		broker.CheckError(t, "Issue()", err, errWant{Kind: kauth.ErrUnavailable}, OpIssue, kauth.Mock)
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := brokertest.NewServer(t, nil)
		url := srv.URL
		srv.Close()
		_, err := (&Provider{BaseURL: url}).Issue(context.Background(), mockCreds)
		broker.CheckError(t, "Issue()", err, errWant{Kind: kauth.ErrUnavailable}, OpIssue, kauth.Mock)
	})
	t.Run("body over the limit", func(t *testing.T) {
		srv := brokertest.NewServer(t, map[string]http.HandlerFunc{
			"POST /oauth2/token": func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"token":"`+strings.Repeat("a", wire.MaxBody)+`"}`)
			},
		})
		_, err := (&Provider{BaseURL: srv.URL}).Issue(context.Background(), mockCreds)
		broker.CheckError(t, "Issue()", err, errWant{Kind: kauth.ErrUnavailable}, OpIssue, kauth.Mock)
	})
}

func TestRevoke(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   *errWant
	}{
		{"ok", 200, `{"return_code":0,"return_msg":"정상적으로 처리되었습니다"}`, nil},
		{"ok, return_code as a string", 200, `{"return_code":"0","return_msg":"정상적으로 처리되었습니다"}`, nil},
		{"unknown token", 200, authFail("8005", "Token이 유효하지 않습니다"),
			&errWant{Kind: kauth.ErrTokenRejected, Code: "8005", Status: 200}},
		{"bad secretkey", 200, authFail("8002", "App Key와 Secret Key 검증에 실패했습니다"),
			&errWant{Kind: kauth.ErrCredentials, Code: "8002", Status: 200}},
		{"message echoes the token", 200, authFail("8005", "Token이 유효하지 않습니다 token="+fakeToken),
			&errWant{Kind: kauth.ErrTokenRejected, Code: "8005", Status: 200, Contains: "<redacted>"}},
		{"bare 401", 401, ``, &errWant{Kind: kauth.ErrCredentials, Code: "HTTP 401", Status: 401}},
		{"bare 400", 400, ``, &errWant{Kind: kauth.ErrBadRequest, Code: "HTTP 400", Status: 400}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := brokertest.NewServer(t, map[string]http.HandlerFunc{
				"POST /oauth2/revoke": func(w http.ResponseWriter, r *http.Request) {
					broker.CheckJSONRequest(t, r, map[string]string{"api-id": APIIDRevoke}, map[string]string{
						"appkey":    fakeAppKey,
						"secretkey": fakeAppSecret,
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
		err := (&Provider{BaseURL: srv.URL}).Revoke(context.Background(), realCreds, "")
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
		{"env var", "", "http://127.0.0.1:8080/kiwoom/mock/", kauth.Real, "http://127.0.0.1:8080/kiwoom/mock"},
		{"field beats env var", "http://proxy.internal/", "http://127.0.0.1:8080/kiwoom/mock", kauth.Mock, "http://proxy.internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(BaseURLEnv, tt.envVar)
			if got := (&Provider{BaseURL: tt.field}).URL(tt.env); got != tt.wantURL {
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
