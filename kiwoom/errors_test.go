package kiwoom

import (
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/brokertest"
)

func TestBracketCode(t *testing.T) {
	tests := []struct{ msg, want string }{
		{"인증에 실패했습니다[8005:Token이 유효하지 않습니다]", "8005"},
		{"허용된 요청 개수를 초과하였습니다[1634]", "1634"},
		{"[1700:허용된 요청 개수를 초과하였습니다. API ID=ka10001]", "1700"},
		{"note [x] then [8001:bad]", "8001"},
		{"정상적으로 처리되었습니다", ""},
		{"[]", ""},
		{"[8005", ""},
		{"[123456789012:too long]", ""},
	}
	for _, tt := range tests {
		if got := bracketCode(tt.msg); got != tt.want {
			t.Errorf("bracketCode(%q) = %q; want %q", tt.msg, got, tt.want)
		}
	}
}

func TestCheckResponse(t *testing.T) {
	tests := []struct {
		name   string
		op     string
		status int
		header []string
		body   string
		want   *errWant // nil: success
	}{
		{"success", OpCall, 200, nil, `{"stk_cd":"005930","stk_nm":"삼성전자","return_code":0,"return_msg":"정상적으로 처리되었습니다"}`, nil},
		{"success, return_code as a string", OpCall, 200, nil, `{"return_code":"0","return_msg":"정상적으로 처리되었습니다"}`, nil},
		{"token answer", OpIssue, 200, nil, seedToken, nil},
		{"8005 invalid token", OpCall, 200, nil, authFail("8005", "Token이 유효하지 않습니다"),
			&errWant{Kind: kauth.ErrTokenRejected, Code: "8005", Status: 200, Contains: "8005 token expired or invalid: 인증에 실패했습니다[8005:Token이 유효하지 않습니다]"}},
		{"8010 token from another IP", OpCall, 200, nil, authFail("8010", "Token을 발급받은 IP와 서비스를 요청한 IP가 동일하지 않습니다"),
			&errWant{Kind: kauth.ErrCredentials, Code: "8010", Status: 200, Contains: "egress IP"}},
		{"8031 token of the other env", OpCall, 200, nil, authFail("8031", "투자구분(실전/모의)이 달라서 Token를 사용할수가 없습니다"),
			&errWant{Kind: kauth.ErrCredentials, Code: "8031", Status: 200}},
		{"8103 token or device", OpCall, 200, nil, authFail("8103", "토큰 인증 또는 단말기인증에 실패했습니다"),
			&errWant{Kind: kauth.ErrCredentials, Code: "8103", Status: 200}},
		{"1700 on a call", OpCall, 200, nil, `{"return_code":5,"return_msg":"허용된 요청 개수를 초과하였습니다[1700:허용된 요청 개수를 초과하였습니다. API ID=ka10001]"}`,
			&errWant{Kind: kauth.ErrRateLimited, Code: "1700", Status: 200, RetryAfter: time.Second}},
		{"1634 on a call", OpCall, 200, nil, `{"return_code":"5","return_msg":"허용된 요청 개수를 초과하였습니다[1634]"}`,
			&errWant{Kind: kauth.ErrBadRequest, Code: "1634", Status: 200}},
		{"1999 unexpected", OpCall, 200, nil, `{"return_code":1,"return_msg":"예기치 못한 에러가 발생했습니다[1999:예기치 못한 에러가 발생했습니다]"}`,
			&errWant{Kind: kauth.ErrUnavailable, Code: "1999", Status: 200}},
		{"input error", OpCall, 200, nil, `{"return_code":2,"return_msg":"입력 값 오류입니다[1902:종목 정보가 없습니다]"}`,
			&errWant{Kind: kauth.ErrBadRequest, Code: "1902", Status: 200}},
		{"8005 under 401", OpCall, 401, nil, authFail("8005", "Token이 유효하지 않습니다"),
			&errWant{Kind: kauth.ErrTokenRejected, Code: "8005", Status: 401}},
		{"bare 401 on a call", OpCall, 401, nil, ``, &errWant{Kind: kauth.ErrTokenRejected, Code: "HTTP 401", Status: 401}},
		{"bare 401 on issue", OpIssue, 401, nil, ``, &errWant{Kind: kauth.ErrCredentials, Code: "HTTP 401", Status: 401}},
		{"429", OpCall, 429, []string{"Retry-After", "4"}, ``, &errWant{Kind: kauth.ErrRateLimited, Code: "HTTP 429", Status: 429, RetryAfter: 4 * time.Second}},
		{"500 JSON with return_code 0", OpCall, 500, nil, `{"return_code":0,"return_msg":""}`,
			&errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 500", Status: 500}},
		{"HTML maintenance page", OpCall, 503, []string{"Content-Type", "text/html; charset=utf-8"}, `<html><body>시스템 점검 중입니다</body></html>`,
			&errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 503", Status: 503, Contains: "HTML page instead of JSON"}},
		{"message echoes an unknown token", OpCall, 200, nil, authFail("8005", "Token이 유효하지 않습니다 token=Zx9AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
			&errWant{Kind: kauth.ErrTokenRejected, Code: "8005", Status: 200, Contains: "<redacted>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := brokertest.Response(t, tt.status, tt.header, tt.body)
			err := CheckResponse(realCreds, tt.op, resp, []byte(tt.body))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckResponse() = %v; want nil", err)
				}
				return
			}
			broker.CheckError(t, "CheckResponse()", err, *tt.want, tt.op, kauth.Real)
			if strings.Contains(err.Error(), "Zx9AbCdEfGhIjKlMnOpQrStUvWxYz0123456789") {
				t.Errorf("CheckResponse() = %q; want the echoed token hidden", err)
			}
		})
	}
	t.Run("nil response", func(t *testing.T) {
		err := CheckResponse(realCreds, OpCall, nil, nil)
		broker.CheckError(t, "CheckResponse()", err, errWant{Kind: kauth.ErrUnavailable}, OpCall, kauth.Real)
	})
}
