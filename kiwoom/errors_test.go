package kiwoom

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
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
			&errWant{kind: kauth.ErrTokenRejected, code: "8005", status: 200, contains: "8005 token expired or invalid: 인증에 실패했습니다[8005:Token이 유효하지 않습니다]"}},
		{"8010 token from another IP", OpCall, 200, nil, authFail("8010", "Token을 발급받은 IP와 서비스를 요청한 IP가 동일하지 않습니다"),
			&errWant{kind: kauth.ErrTokenRejected, code: "8010", status: 200}},
		{"8031 token of the other env", OpCall, 200, nil, authFail("8031", "투자구분(실전/모의)이 달라서 Token를 사용할수가 없습니다"),
			&errWant{kind: kauth.ErrCredentials, code: "8031", status: 200}},
		{"8103 token or device", OpCall, 200, nil, authFail("8103", "토큰 인증 또는 단말기인증에 실패했습니다"),
			&errWant{kind: kauth.ErrCredentials, code: "8103", status: 200}},
		{"1700 on a call", OpCall, 200, nil, `{"return_code":5,"return_msg":"허용된 요청 개수를 초과하였습니다[1700:허용된 요청 개수를 초과하였습니다. API ID=ka10001]"}`,
			&errWant{kind: kauth.ErrRateLimited, code: "1700", status: 200, retryAfter: time.Second}},
		{"1634 on a call", OpCall, 200, nil, `{"return_code":"5","return_msg":"허용된 요청 개수를 초과하였습니다[1634]"}`,
			&errWant{kind: kauth.ErrBadRequest, code: "1634", status: 200}},
		{"1999 unexpected", OpCall, 200, nil, `{"return_code":1,"return_msg":"예기치 못한 에러가 발생했습니다[1999:예기치 못한 에러가 발생했습니다]"}`,
			&errWant{kind: kauth.ErrUnavailable, code: "1999", status: 200}},
		{"input error", OpCall, 200, nil, `{"return_code":2,"return_msg":"입력 값 오류입니다[1902:종목 정보가 없습니다]"}`,
			&errWant{kind: kauth.ErrBadRequest, code: "1902", status: 200}},
		{"8005 under 401", OpCall, 401, nil, authFail("8005", "Token이 유효하지 않습니다"),
			&errWant{kind: kauth.ErrTokenRejected, code: "8005", status: 401}},
		{"bare 401 on a call", OpCall, 401, nil, ``, &errWant{kind: kauth.ErrTokenRejected, code: "HTTP 401", status: 401}},
		{"bare 401 on issue", OpIssue, 401, nil, ``, &errWant{kind: kauth.ErrCredentials, code: "HTTP 401", status: 401}},
		{"429", OpCall, 429, []string{"Retry-After", "4"}, ``, &errWant{kind: kauth.ErrRateLimited, code: "HTTP 429", status: 429, retryAfter: 4 * time.Second}},
		{"500 JSON with return_code 0", OpCall, 500, nil, `{"return_code":0,"return_msg":""}`,
			&errWant{kind: kauth.ErrUnavailable, code: "HTTP 500", status: 500}},
		{"HTML maintenance page", OpCall, 503, []string{"Content-Type", "text/html; charset=utf-8"}, `<html><body>시스템 점검 중입니다</body></html>`,
			&errWant{kind: kauth.ErrUnavailable, code: "HTTP 503", status: 503, contains: "HTML page instead of JSON"}},
		{"message echoes an unknown token", OpCall, 200, nil, authFail("8005", "Token이 유효하지 않습니다 token=Zx9AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
			&errWant{kind: kauth.ErrTokenRejected, code: "8005", status: 200, contains: "<redacted>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawResponse(t, tt.status, tt.header, tt.body)
			err := CheckResponse(realCreds, tt.op, resp, []byte(tt.body))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckResponse() = %v; want nil", err)
				}
				return
			}
			checkError(t, "CheckResponse()", err, *tt.want, tt.op, kauth.Real)
			if strings.Contains(err.Error(), "Zx9AbCdEfGhIjKlMnOpQrStUvWxYz0123456789") {
				t.Errorf("CheckResponse() = %q; want the echoed token hidden", err)
			}
		})
	}
	t.Run("nil response", func(t *testing.T) {
		err := CheckResponse(realCreds, OpCall, nil, nil)
		checkError(t, "CheckResponse()", err, errWant{kind: kauth.ErrUnavailable}, OpCall, kauth.Real)
	})
}

func TestRejected(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   bool
	}{
		{"8005", 200, authFail("8005", "Token이 유효하지 않습니다"), true},
		{"8005, return_code as a string", 200, `{"return_code":"3","return_msg":"인증에 실패했습니다[8005:Token이 유효하지 않습니다]"}`, true},
		{"8010", 200, authFail("8010", "Token을 발급받은 IP와 서비스를 요청한 IP가 동일하지 않습니다"), true},
		{"8031", 200, authFail("8031", "투자구분(실전/모의)이 달라서 Token를 사용할수가 없습니다"), true},
		{"8103", 200, authFail("8103", "토큰 인증 또는 단말기인증에 실패했습니다"), true},
		{"fields in the other order", 200, `{"return_msg":"인증에 실패했습니다[8005:Token이 유효하지 않습니다]","return_code":3}`, true},
		{"bare 401", 401, ``, true},
		{"401 with a body", 401, `{"return_code":3,"return_msg":"인증에 실패했습니다"}`, true},
		{"success", 200, `{"stk_cd":"005930","return_code":0,"return_msg":"정상적으로 처리되었습니다"}`, false},
		{"bad appkey", 200, authFail("8001", "App Key와 Secret Key 검증에 실패했습니다"), false},
		{"rate limit", 200, `{"return_code":5,"return_msg":"허용된 요청 개수를 초과하였습니다[1700:허용된 요청 개수를 초과하였습니다. API ID=ka10001]"}`, false},
		{"code with return_code 0", 200, `{"return_code":0,"return_msg":"[8005:이상한 응답]"}`, false},
		{"HTML", 500, `<html>[8005:Token]</html>`, false},
		{"empty", 200, ``, false},
	}
	p := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawResponse(t, tt.status, nil, tt.body)
			if got := p.Rejected(resp); got != tt.want {
				t.Errorf("Rejected() = %v; want %v", got, tt.want)
			}
			got, err := io.ReadAll(resp.Body)
			if err != nil || string(got) != tt.body {
				t.Errorf("body after Rejected() = %q, %v; want %q", got, err, tt.body)
			}
			if err := resp.Body.Close(); err != nil {
				t.Errorf("Body.Close() = %v", err)
			}
		})
	}
	t.Run("nil", func(t *testing.T) {
		if p.Rejected(nil) {
			t.Error("Rejected(nil) = true; want false")
		}
	})
}

// TestRejectedStreams checks that Rejected reads only the start of a large
// successful body: the server holds back the rest until Rejected returns,
// and the caller then reads the whole body intact.
func TestRejectedStreams(t *testing.T) {
	for _, length := range []string{"chunked", "content-length"} {
		t.Run(length, func(t *testing.T) {
			big := make([]byte, 2<<20)
			rand.Read(big)
			copy(big, `{"return_code":0,"return_msg":"정상적으로 처리되었습니다","stk_list":"`)
			peeked := make(chan struct{})
			srv := newServer(t, map[string]http.HandlerFunc{
				"POST /api/dostk/stkinfo": func(w http.ResponseWriter, r *http.Request) {
					if length == "content-length" {
						w.Header().Set("Content-Length", "2097152")
					}
					w.Write(big[:64<<10])
					w.(http.Flusher).Flush()
					select {
					case <-peeked:
					case <-time.After(10 * time.Second):
						t.Error("Rejected() did not return before the whole body was sent")
					}
					w.Write(big[64<<10:])
				},
			})
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/dostk/stkinfo", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if New().Rejected(resp) {
				t.Error("Rejected() = true; want false")
			}
			close(peeked)
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading body after Rejected(): %v", err)
			}
			if !bytes.Equal(got, big) {
				t.Errorf("body after Rejected() has %d bytes; want the %d bytes sent, intact", len(got), len(big))
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPost, RealURL+"/api/dostk/stkinfo", nil)
	req.Header.Set("api-id", "ka10001")
	req.Header.Set("cont-yn", "N")
	New().Authorize(req, realCreds, kauth.Token{AccessToken: fakeToken, Type: "Bearer"})
	want := map[string]string{
		"authorization": "Bearer " + fakeToken,
		"api-id":        "ka10001",
		"cont-yn":       "N",
	}
	for k, v := range want {
		if got := req.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("Authorize(): header %s = %q; want [%q]", k, got, v)
		}
	}
	for _, k := range []string{"appkey", "secretkey", "appsecret"} {
		if got := req.Header.Get(k); got != "" {
			t.Errorf("Authorize(): header %s = %q; want none", k, got)
		}
	}
}
