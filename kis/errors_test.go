package kis

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/brokertest"
)

func TestCheckResponse(t *testing.T) {
	tests := []struct {
		name   string
		op     string
		status int
		header []string
		body   string
		want   *errWant // nil: success
	}{
		{"success", OpCall, 200, nil, `{"rt_cd":"0","msg_cd":"MCA00000","msg1":"정상처리 되었습니다.","output":{"stck_prpr":"71000"}}`, nil},
		{"token answer", OpIssue, 200, nil, seedToken, nil},
		{"hashkey answer", OpHashKey, 200, nil, `{"BODY":{"CANO":"00000000"},"HASH":"8f1c0000fake"}`, nil},
		{"expired token under 200", OpCall, 200, nil, `{"rt_cd":"1","msg_cd":"EGW00123","msg1":"기간이 만료된 token 입니다."}`,
			&errWant{Kind: kauth.ErrTokenRejected, Code: "EGW00123", Status: 200, Contains: "기간이 만료된 token 입니다."}},
		{"expired token under 500", OpCall, 500, nil, `{"rt_cd":"1","msg_cd":"EGW00123","msg1":"기간이 만료된 token 입니다."}`,
			&errWant{Kind: kauth.ErrTokenRejected, Code: "EGW00123", Status: 500}},
		{"invalid token", OpCall, 500, nil, `{"rt_cd":"1","msg_cd":"EGW00121","msg1":"유효하지 않은 token 입니다."}`,
			&errWant{Kind: kauth.ErrTokenRejected, Code: "EGW00121", Status: 500}},
		{"token not found", OpCall, 200, nil, `{"rt_cd":"1","msg_cd":"EGW00122","msg1":"token을 찾을 수 없습니다."}`,
			&errWant{Kind: kauth.ErrTokenRejected, Code: "EGW00122", Status: 200}},
		{"rt_cd as a number", OpCall, 200, nil, `{"rt_cd":1,"msg_cd":"EGW00123","msg1":"기간이 만료된 token 입니다."}`,
			&errWant{Kind: kauth.ErrTokenRejected, Code: "EGW00123", Status: 200}},
		{"calls per second", OpCall, 500, nil, `{"rt_cd":"1","msg_cd":"EGW00201","msg1":"초당 거래건수를 초과하였습니다."}`,
			&errWant{Kind: kauth.ErrRateLimited, Code: "EGW00201", Status: 500, RetryAfter: time.Second}},
		{"calls per second with Retry-After", OpCall, 200, []string{"Retry-After", "2"}, `{"rt_cd":"1","msg_cd":"EGW00201","msg1":"초당 거래건수를 초과하였습니다."}`,
			&errWant{Kind: kauth.ErrRateLimited, Code: "EGW00201", Status: 200, RetryAfter: 2 * time.Second}},
		{"business error", OpCall, 200, nil, `{"rt_cd":"1","msg_cd":"APBK0919","msg1":"주문가능금액을 초과 했습니다"}`,
			&errWant{Kind: kauth.ErrBadRequest, Code: "APBK0919", Status: 200}},
		{"non-zero rt_cd without msg_cd", OpCall, 200, nil, `{"rt_cd":"7","msg1":"조회할 자료가 없습니다"}`,
			&errWant{Kind: kauth.ErrBadRequest, Code: "rt_cd=7", Status: 200}},
		{"issuance limit", OpIssue, 403, nil, `{"error_code":"EGW00133","error_description":"접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"}`,
			&errWant{Kind: kauth.ErrRateLimited, Code: "EGW00133", Status: 403, RetryAfter: time.Minute}},
		{"401 on a call", OpCall, 401, nil, ``, &errWant{Kind: kauth.ErrTokenRejected, Code: "HTTP 401", Status: 401}},
		{"401 on approval", OpApproval, 401, nil, ``, &errWant{Kind: kauth.ErrCredentials, Code: "HTTP 401", Status: 401}},
		{"429 with a date", OpCall, 429, []string{"Retry-After", "Wed, 21 Oct 2099 07:28:00 GMT"}, ``,
			&errWant{Kind: kauth.ErrRateLimited, Code: "HTTP 429", Status: 429, RetryAfter: -1}},
		{"500 JSON without a code", OpCall, 500, nil, `{"message":"Internal Server Error"}`,
			&errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 500", Status: 500}},
		{"400 JSON without a code", OpCall, 400, nil, `{"message":"Bad Request"}`,
			&errWant{Kind: kauth.ErrBadRequest, Code: "HTTP 400", Status: 400}},
		{"HTML page", OpCall, 503, []string{"Content-Type", "text/html"}, `<html><body>점검중</body></html>`,
			&errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 503", Status: 503, Contains: "HTML page instead of JSON"}},
		{"JSON array", OpCall, 200, nil, `[1,2,3]`, &errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "non-JSON body"}},
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
			want := *tt.want
			if want.RetryAfter < 0 {
				// A date far in the future: only check that it was read.
				var e *kauth.Error
				checkErrorKindOnly(t, err, want.Kind, &e)
				if e.RetryAfter < time.Hour {
					t.Errorf("CheckResponse().RetryAfter = %v; want the time until 2099", e.RetryAfter)
				}
				return
			}
			broker.CheckError(t, "CheckResponse()", err, want, tt.op, kauth.Real)
		})
	}
	t.Run("nil response", func(t *testing.T) {
		err := CheckResponse(realCreds, OpCall, nil, nil)
		broker.CheckError(t, "CheckResponse()", err, errWant{Kind: kauth.ErrUnavailable}, OpCall, kauth.Real)
	})
}

func checkErrorKindOnly(t *testing.T, err error, kind error, e **kauth.Error) {
	t.Helper()
	broker.NoSecrets(t, err)
	if !errorsAs(err, e) || !errorsIs(err, kind) {
		t.Fatalf("CheckResponse() = %v; want a *kauth.Error of kind %v", err, kind)
	}
}

func TestApprovalKey(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantKey string
		want    *errWant
	}{
		{"ok", 200, `{"approval_key":"a2585daf-fake-approval-key-000000000000"}`, "a2585daf-fake-approval-key-000000000000", nil},
		{"bad secret", 403, `{"error_code":"EGW00105","error_description":"유효하지 않은 AppSecret입니다."}`, "",
			&errWant{Kind: kauth.ErrCredentials, Code: "EGW00105", Status: 403}},
		{"no key", 200, `{}`, "", &errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "no approval_key"}},
		// A key goes into the WebSocket's first frame and the facade's
		// answers: one that cannot be a key is refused, not passed on.
		{"CRLF in key", 200, `{"approval_key":"a2585daf\r\nX-Injected: 1"}`, "",
			&errWant{Kind: kauth.ErrMalformedToken, Status: 200, Contains: "0x0d"}},
		{"NUL in key", 200, `{"approval_key":"a2585daf\u0000fake"}`, "",
			&errWant{Kind: kauth.ErrMalformedToken, Status: 200, Contains: "0x00"}},
		{"blank key", 200, `{"approval_key":"   "}`, "", &errWant{Kind: kauth.ErrMalformedToken, Status: 200}},
		{"huge key", 200, `{"approval_key":"` + strings.Repeat("a", 5000) + `"}`, "",
			&errWant{Kind: kauth.ErrMalformedToken, Status: 200, Contains: "longer than"}},
		{"HTML", 502, `<html></html>`, "", &errWant{Kind: kauth.ErrUnavailable, Code: "HTTP 502", Status: 502, Contains: "HTML page"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := brokertest.NewServer(t, map[string]http.HandlerFunc{
				"POST /oauth2/Approval": func(w http.ResponseWriter, r *http.Request) {
					// The approval key takes the app secret as "secretkey".
					broker.CheckJSONRequest(t, r, nil, map[string]string{
						"grant_type": "client_credentials",
						"appkey":     fakeAppKey,
						"secretkey":  fakeAppSecret,
					})
					brokertest.Reply(tt.status, tt.body)(w, r)
				},
			})
			p := &Provider{BaseURL: srv.URL}
			got, err := p.ApprovalKey(context.Background(), mockCreds)
			if tt.want == nil {
				if err != nil || got != tt.wantKey {
					t.Fatalf("ApprovalKey() = %q, %v; want %q, nil", got, err, tt.wantKey)
				}
				return
			}
			if got != "" {
				t.Errorf("ApprovalKey() = %q with an error; want \"\"", got)
			}
			broker.CheckError(t, "ApprovalKey()", err, *tt.want, OpApproval, kauth.Mock)
		})
	}
}

func TestHashKey(t *testing.T) {
	order := `{"CANO":"00000000","ACNT_PRDT_CD":"01","PDNO":"005930","ORD_DVSN":"00","ORD_QTY":"1","ORD_UNPR":"71000"}`
	tests := []struct {
		name     string
		status   int
		body     string
		wantHash string
		want     *errWant
	}{
		{"ok", 200, `{"BODY":` + order + `,"HASH":"8f1c8b0c0fakehash0000000000000000000000000000000000000000000000"}`,
			"8f1c8b0c0fakehash0000000000000000000000000000000000000000000000", nil},
		{"bad appkey", 403, `{"error_code":"EGW00103","error_description":"유효하지 않은 AppKey입니다."}`, "",
			&errWant{Kind: kauth.ErrCredentials, Code: "EGW00103", Status: 403}},
		{"no hash", 200, `{"BODY":{}}`, "", &errWant{Kind: kauth.ErrUnavailable, Status: 200, Contains: "no HASH"}},
		{"bare 401", 401, ``, "", &errWant{Kind: kauth.ErrCredentials, Status: 401}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := brokertest.NewServer(t, map[string]http.HandlerFunc{
				"POST /uapi/hashkey": func(w http.ResponseWriter, r *http.Request) {
					broker.CheckJSONRequest(t, r, map[string]string{"appkey": fakeAppKey, "appsecret": fakeAppSecret}, nil)
					if got, _ := io.ReadAll(r.Body); string(got) != order {
						t.Errorf("hashkey request body = %s; want %s", got, order)
					}
					brokertest.Reply(tt.status, tt.body)(w, r)
				},
			})
			p := &Provider{BaseURL: srv.URL}
			got, err := p.HashKey(context.Background(), realCreds, []byte(order))
			if tt.want == nil {
				if err != nil || got != tt.wantHash {
					t.Fatalf("HashKey() = %q, %v; want %q, nil", got, err, tt.wantHash)
				}
				return
			}
			broker.CheckError(t, "HashKey()", err, *tt.want, OpHashKey, kauth.Real)
		})
	}
	t.Run("body is not JSON", func(t *testing.T) {
		srv := brokertest.NewServer(t, nil)
		p := &Provider{BaseURL: srv.URL}
		_, err := p.HashKey(context.Background(), realCreds, []byte(`CANO=00000000`))
		broker.CheckError(t, "HashKey()", err, errWant{Kind: kauth.ErrBadRequest}, OpHashKey, kauth.Real)
	})
}
