package kiwoom

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/brokertest"
)

// publishedCodes is Kiwoom's published error-code list (the "error_codes"
// table of kiwoom/_data/kiwoom_api_spec.json in the official SDK,
// Kiwoom-Securities/Kiwoom-REST-API), with the return_code each is sent
// under in these tests and the kind kauth must give it.
var publishedCodes = []struct {
	code string
	rc   int
	text string
	kind error
}{
	{"1501", 2, "API ID가 Null이거나 값이 없습니다", kauth.ErrBadRequest},
	{"1504", 2, "해당 URI에서는 지원하는 API ID가 아닙니다. API ID=ka10081, URI=/api/dostk/stkinfo", kauth.ErrBadRequest},
	{"1505", 2, "해당 API ID는 존재하지 않습니다. API ID=ka99999", kauth.ErrBadRequest},
	{"1511", 2, "필수 입력 값에 값이 존재하지 않습니다. 필수입력 파라미터=stk_cd", kauth.ErrBadRequest},
	{"1512", 2, "Http header에 값이 설정되지 않았거나 읽을 수 없습니다", kauth.ErrBadRequest},
	{"1513", 2, "Http Header에 authorization 필드가 설정되어 있어야 합니다", kauth.ErrBadRequest},
	{"1514", 2, "입력으로 들어온 Http Header의 authorization 필드 형식이 맞지 않습니다", kauth.ErrBadRequest},
	{"1515", 2, "Http Header의 authorization 필드 내 Grant Type이 미리 정의된 형식이 아닙니다", kauth.ErrBadRequest},
	{"1516", 2, "Http Header의 authorization 필드 내 Token이 정의되어 있지 않습니다", kauth.ErrBadRequest},
	{"1517", 2, "입력 값 형식이 올바르지 않습니다. 파라미터=body 실패사유= JSON", kauth.ErrBadRequest},
	{"1687", 5, "재귀 호출이 발생하여 API 호출을 제한합니다, API ID=ka10001", kauth.ErrBadRequest},
	{"1700", 5, "허용된 API 요청 개수를 초과하였습니다. 유량=5, API ID=ka10001", kauth.ErrRateLimited},
	{"1701", 5, "허용된 전체 요청 개수를 초과하였습니다. 총유량=20", kauth.ErrRateLimited},
	{"1702", 5, "허용된 그룹 요청 개수를 초과하였습니다. 총유량=10, API_ID=ka10081", kauth.ErrRateLimited},
	{"1901", 2, "시장 코드값이 존재하지 않습니다. 종목코드=999999", kauth.ErrBadRequest},
	{"1902", 2, "종목 정보가 없습니다. 입력한 종목코드 값을 확인바랍니다. 종목코드=999999", kauth.ErrBadRequest},
	{"1903", 2, "종목 정보가 없습니다. 입력한 종목코드, 거래소구분 값을 확인바랍니다. 거래소구분=NXT, 종목코드=999999", kauth.ErrBadRequest},
	{"1999", 1, "예기치 못한 에러가 발생했습니다. 실패사유=timeout", kauth.ErrUnavailable},
	{"8001", 3, "App Key와 Secret Key 검증에 실패했습니다", kauth.ErrCredentials},
	{"8002", 3, "App Key와 Secret Key 검증에 실패했습니다. 실패사유=secretkey 불일치", kauth.ErrCredentials},
	{"8003", 3, "Access Token을 조회하는데 실패했습니다. 실패사유=no token", kauth.ErrTokenRejected},
	{"8005", 3, "Token이 유효하지 않습니다", kauth.ErrTokenRejected},
	{"8006", 3, "Access Token을 생성하는데 실패했습니다. 실패사유=internal", kauth.ErrUnavailable},
	{"8009", 3, "Access Token을 발급하는데 실패했습니다. 실패사유=internal", kauth.ErrUnavailable},
	{"8010", 3, "Token을 발급받은 IP와 서비스를 요청한 IP가 동일하지 않습니다", kauth.ErrCredentials},
	{"8011", 3, "Access Token을 발급하는데 실패했습니다. 입력값에 grant_type이 들어오지 않았습니다", kauth.ErrBadRequest},
	{"8012", 3, "Access Token을 발급하는데 실패했습니다. grant_type의 값이 맞지 않습니다", kauth.ErrBadRequest},
	{"8015", 3, "Access Token을 폐기하는데 실패했습니다. 실패사유=internal", kauth.ErrUnavailable},
	{"8016", 3, "Access Token을 폐기하는데 실패했습니다. 입력값에 Token이 들어오지 않았습니다", kauth.ErrBadRequest},
	{"8020", 3, "입력파라미터로 appkey 또는 secretkey가 들어오지 않았습니다.", kauth.ErrCredentials},
	{"8030", 3, "투자구분(실전/모의)이 달라서 Appkey를 사용할수가 없습니다", kauth.ErrCredentials},
	{"8031", 3, "투자구분(실전/모의)이 달라서 Token를 사용할수가 없습니다", kauth.ErrCredentials},
	{"8040", 3, "단말기 인증에 실패했습니다", kauth.ErrCredentials},
	{"8050", 3, "지정단말기 인증에 실패했습니다", kauth.ErrCredentials},
	{"8103", 3, "토큰 인증 또는 단말기인증에 실패했습니다. 실패사유=device", kauth.ErrCredentials},
	{"8104", 2, "모의투자에서 지원하지 않는 API 입니다.", kauth.ErrBadRequest},
	{"8200", 2, "법인 고객은 해당 API를 지원하지 않습니다. API ID=kt10000, URI=/api/dostk/ordr", kauth.ErrBadRequest},
	// Not in the list, but sent: return_code 5 like a rate limit.
	{"1634", 5, "허용된 요청 개수를 초과하였습니다", kauth.ErrBadRequest},
}

func codeBody(rc int, code, text string) string {
	return `{"return_code":` + strconv.Itoa(rc) + `,"return_msg":"요청이 실패했습니다[` + code + `:` + text + `]"}`
}

// TestEveryPublishedCode classifies every code of the published list, on
// a call and on the token endpoint, under HTTP 200 as Kiwoom sends them.
func TestEveryPublishedCode(t *testing.T) {
	if n := len(publishedCodes) - 1; n != 37 {
		t.Fatalf("the table holds %d published codes; the list has 37", n)
	}
	for _, c := range publishedCodes {
		for _, op := range []string{OpCall, OpIssue} {
			t.Run(c.code+"/"+op, func(t *testing.T) {
				body := codeBody(c.rc, c.code, c.text)
				err := CheckResponse(realCreds, op, brokertest.Response(t, 200, nil, body), []byte(body))
				want := errWant{Kind: c.kind, Code: c.code, Status: 200}
				if c.kind == kauth.ErrRateLimited {
					want.RetryAfter = RateLimitRetryAfter
				}
				broker.CheckError(t, "CheckResponse()", err, want, op, kauth.Real)
				if _, ok := codeKinds[c.code]; !ok {
					t.Errorf("code %s is not in codeKinds", c.code)
				}
				retry := c.kind == kauth.ErrRateLimited || c.kind == kauth.ErrUnavailable
				if got := kauth.Retryable(err); got != retry {
					t.Errorf("Retryable(%s) = %v; want %v", c.code, got, retry)
				}
			})
		}
	}
}

// TestIPBoundTokenIsNotHealed: 8010 says the token was issued to another
// IP. No re-issue fixes that, so it is neither a rejection that the
// Transport heals nor retryable, and the error tells what to fix.
func TestIPBoundTokenIsNotHealed(t *testing.T) {
	body := authFail("8010", "Token을 발급받은 IP와 서비스를 요청한 IP가 동일하지 않습니다")
	if New().Rejected(brokertest.Response(t, 200, nil, body)) {
		t.Error("Rejected(8010) = true; want false (a new token does not fix an IP mismatch)")
	}
	err := CheckResponse(realCreds, OpCall, brokertest.Response(t, 200, nil, body), []byte(body))
	if kauth.Retryable(err) {
		t.Errorf("Retryable(8010) = true")
	}
	if msg := err.Error(); !strings.Contains(msg, "egress IP") || !strings.Contains(msg, "8010") || strings.Count(msg, "\n") != 0 {
		t.Errorf("8010 error = %q; want one line naming the code and the shared egress IP", msg)
	}
}

// TestCodeAsReturnCode: the official SDK reads the table's codes from
// return_code itself (kiwoom/core/client.py retries when return_code is
// 8005, 8031 or 8103; kiwoom/core/errors.py maps return_code through the
// table), so an answer may carry the code there rather than in brackets.
func TestCodeAsReturnCode(t *testing.T) {
	for _, c := range []struct {
		body     string
		kind     error
		code     string
		rejected bool
	}{
		{`{"return_code":8005,"return_msg":"Token이 유효하지 않습니다"}`, kauth.ErrTokenRejected, "8005", true},
		{`{"return_code":"8005","return_msg":"Token이 유효하지 않습니다"}`, kauth.ErrTokenRejected, "8005", true},
		{`{"return_code":1700,"return_msg":"허용된 API 요청 개수를 초과하였습니다"}`, kauth.ErrRateLimited, "1700", false},
		{`{"return_code":8010,"return_msg":"Token을 발급받은 IP와 서비스를 요청한 IP가 동일하지 않습니다"}`, kauth.ErrCredentials, "8010", false},
		// A bracketed code wins over return_code.
		{`{"return_code":3,"return_msg":"인증에 실패했습니다[8001:App Key와 Secret Key 검증에 실패했습니다]"}`, kauth.ErrCredentials, "8001", false},
	} {
		t.Run(c.body, func(t *testing.T) {
			err := CheckResponse(realCreds, OpCall, brokertest.Response(t, 200, nil, c.body), []byte(c.body))
			want := errWant{Kind: c.kind, Code: c.code, Status: 200}
			if c.kind == kauth.ErrRateLimited {
				want.RetryAfter = RateLimitRetryAfter
			}
			broker.CheckError(t, "CheckResponse()", err, want, OpCall, kauth.Real)
			if got := New().Rejected(brokertest.Response(t, 200, nil, c.body)); got != c.rejected {
				t.Errorf("Rejected() = %v; want %v", got, c.rejected)
			}
		})
	}
}
