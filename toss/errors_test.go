package toss

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/brokertest"
)

func TestCheckResponse(t *testing.T) {
	rateLimited := `{"error":{"requestId":"01HX","code":"rate-limit-exceeded","message":"요청 한도를 초과했습니다. 잠시 후 다시 시도해 주세요."}}`
	for _, tc := range []struct {
		name   string
		op     string
		status int
		header []string
		body   string
		want   *errWant // nil: success
		ip     bool     // an *IPNotAllowedError
	}{
		{"token", OpIssue, 200, nil, `{"access_token":"x","token_type":"Bearer","expires_in":86400}`, nil, false},
		{"result", OpCall, 200, nil, `{"result":[]}`, nil, false},
		{"invalid_client", OpIssue, 401, []string{"WWW-Authenticate", `Basic realm="openapi"`},
			`{"error":"invalid_client","error_description":"Client authentication failed."}`,
			&errWant{Kind: kauth.ErrCredentials, Code: "invalid_client", Status: 401, Contains: "Client authentication failed."}, false},
		{"unsupported_grant_type", OpIssue, 400, nil, `{"error":"unsupported_grant_type","error_description":"Only client_credentials grant type is supported."}`,
			&errWant{Kind: kauth.ErrBadRequest, Code: "unsupported_grant_type", Status: 400}, false},
		{"access_denied", OpIssue, 403, nil, `{"error":"access_denied","error_description":"IP address not allowed"}`,
			&errWant{Kind: kauth.ErrCredentials, Code: "access_denied", Status: 403, Contains: "register this host's public IP"}, true},
		{"edge-blocked 403", OpCall, 403, nil, `{"error":{"requestId":"01HX","code":"edge-blocked","message":"허용되지 않은 요청입니다."}}`,
			&errWant{Kind: kauth.ErrCredentials, Code: "edge-blocked", Status: 403, Contains: "allow-list"}, true},
		{"bare 403", OpCall, 403, []string{"Content-Type", "text/html"}, `<html>Forbidden</html>`,
			&errWant{Kind: kauth.ErrCredentials, Code: "HTTP 403", Status: 403}, false},
		{"forbidden", OpCall, 403, nil, `{"error":{"requestId":"01HX","code":"forbidden","message":"요청에 필요한 권한이 부족합니다."}}`,
			&errWant{Kind: kauth.ErrCredentials, Code: "forbidden", Status: 403}, false},
		{"invalid-token", OpCall, 401, nil, `{"error":{"requestId":"01HX","code":"invalid-token","message":"유효하지 않은 토큰입니다."}}`,
			&errWant{Kind: kauth.ErrTokenRejected, Code: "invalid-token", Status: 401}, false},
		{"expired-token", OpCall, 401, nil, `{"error":{"requestId":"01HX","code":"expired-token","message":"토큰이 만료되었습니다."}}`,
			&errWant{Kind: kauth.ErrTokenRejected, Code: "expired-token", Status: 401}, false},
		{"edge-blocked 401", OpCall, 401, nil, `{"error":{"requestId":"01HX","code":"edge-blocked","message":""}}`,
			&errWant{Kind: kauth.ErrBadRequest, Code: "edge-blocked", Status: 401}, false},
		{"rate limit with Retry-After", OpCall, 429, []string{"Retry-After", "2", "X-RateLimit-Remaining", "0"}, rateLimited,
			&errWant{Kind: kauth.ErrRateLimited, Code: "rate-limit-exceeded", Status: 429, RetryAfter: 2 * time.Second}, false},
		{"rate limit with retryAfterSeconds", OpCall, 429, nil,
			`{"error":{"requestId":"01HX","code":"rate-limit-exceeded","message":"","data":{"retryAfterSeconds":3}}}`,
			&errWant{Kind: kauth.ErrRateLimited, Code: "rate-limit-exceeded", Status: 429, RetryAfter: 3 * time.Second}, false},
		{"rate limit on the token endpoint", OpIssue, 429, nil, rateLimited,
			&errWant{Kind: kauth.ErrRateLimited, Code: "rate-limit-exceeded", Status: 429, RetryAfter: time.Second}, false},
		{"edge rate limit", OpCall, 429, nil, `{"error":{"requestId":"01HX","code":"edge-rate-limit-exceeded","message":""}}`,
			&errWant{Kind: kauth.ErrRateLimited, Code: "edge-rate-limit-exceeded", Status: 429, RetryAfter: time.Second}, false},
		{"maintenance", OpCall, 500, nil, `{"error":{"requestId":"01HX","code":"maintenance","message":"시스템 점검 중입니다."}}`,
			&errWant{Kind: kauth.ErrUnavailable, Code: "maintenance", Status: 500}, false},
		{"unknown code", OpCall, 422, nil, `{"error":{"requestId":"01HX","code":"insufficient-buying-power","message":"주문 가능 금액이 부족합니다."}}`,
			&errWant{Kind: kauth.ErrBadRequest, Code: "insufficient-buying-power", Status: 422}, false},
		{"error under 200", OpCall, 200, nil, `{"error":{"requestId":"01HX","code":"something-new","message":""}}`,
			&errWant{Kind: kauth.ErrBadRequest, Code: "something-new", Status: 200}, false},
		{"bare 401 at issue", OpIssue, 401, nil, `{}`, &errWant{Kind: kauth.ErrCredentials, Code: "HTTP 401", Status: 401}, false},
		{"html 502", OpCall, 502, []string{"Content-Type", "text/html"}, `<html>bad gateway</html>`,
			&errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 502", Status: 502}, false},
		{"echoed secret", OpIssue, 401, nil, `{"error":"invalid_client","error_description":"client ` + fakeClientID + ` secret ` + fakeSecret + `"}`,
			&errWant{Kind: kauth.ErrCredentials, Code: "invalid_client", Status: 401}, false},
		{"code that is not a code", OpCall, 400, nil, `{"error":{"requestId":"01HX","code":"` + fakeToken + `","message":""}}`,
			&errWant{Kind: kauth.ErrBadRequest, Code: "HTTP 400", Status: 400}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := brokertest.Response(t, tc.status, tc.header, tc.body)
			err := checkResponse(realCreds, tc.op, resp, []byte(tc.body), received)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("CheckResponse = %v; want nil", err)
				}
				return
			}
			broker.CheckError(t, "CheckResponse", err, *tc.want, tc.op, kauth.Real)
			var ipErr *IPNotAllowedError
			if got := errors.As(err, &ipErr); got != (tc.ip || tc.want.Code == "HTTP 403") {
				t.Errorf("errors.As(%v, *IPNotAllowedError) = %v", err, got)
			}
			if errors.Is(err, kauth.ErrTokenRejected) && tc.status == 403 {
				t.Errorf("a 403 reads as a rejected token: %v", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
}

func TestRejected(t *testing.T) {
	p := New()
	for _, tc := range []struct {
		name   string
		status int
		header []string
		body   string
		want   bool
	}{
		{"invalid-token", 401, nil, `{"error":{"requestId":"1","code":"invalid-token","message":""}}`, true},
		{"expired-token", 401, nil, `{"error":{"requestId":"1","code":"expired-token","message":""}}`, true},
		{"bare 401 with invalid_token", 401, []string{"WWW-Authenticate", `Bearer realm="openapi", error="invalid_token"`}, ``, true},
		{"bare 401", 401, nil, ``, true},
		{"edge-blocked 401", 401, nil, `{"error":{"requestId":"1","code":"edge-blocked","message":""}}`, false},
		{"login-user-not-found", 401, nil, `{"error":{"requestId":"1","code":"login-user-not-found","message":""}}`, false},
		{"ip allow-list", 403, nil, `{"error":{"requestId":"1","code":"edge-blocked","message":""}}`, false},
		{"invalid-token under 200", 200, nil, `{"result":{"note":"invalid-token"}}`, false},
		{"rate limit", 429, nil, `{"error":{"requestId":"1","code":"rate-limit-exceeded","message":""}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := brokertest.Response(t, tc.status, tc.header, tc.body)
			if got := p.Rejected(resp); got != tc.want {
				t.Errorf("Rejected = %v; want %v", got, tc.want)
			}
			// The body is still readable from its beginning.
			b, err := io.ReadAll(resp.Body)
			if err != nil || string(b) != tc.body {
				t.Errorf("body after Rejected = %q, %v; want %q", b, err, tc.body)
			}
		})
	}
	if p.Rejected(nil) {
		t.Error("Rejected(nil) = true")
	}
}
