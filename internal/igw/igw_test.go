package igw_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/db"
	"github.com/kauth/kauth/internal/brokertest"
	"github.com/kauth/kauth/internal/igw"
	"github.com/kauth/kauth/ls"
)

// checkResponses are the brokers' CheckResponse, each the one place its
// answers become errors.
var checkResponses = map[kauth.Broker]func(kauth.Credentials, string, *http.Response, []byte) error{
	ls.Broker: ls.CheckResponse,
	db.Broker: db.CheckResponse,
}

func TestCheckResponseOfACall(t *testing.T) {
	for broker, check := range checkResponses {
		t.Run(string(broker), func(t *testing.T) { testCheckResponseOfACall(t, broker, check) })
	}
}

func testCheckResponseOfACall(t *testing.T, broker kauth.Broker, check func(kauth.Credentials, string, *http.Response, []byte) error) {
	c := kauth.Credentials{Broker: broker, Env: kauth.Real, AppKey: "FAKE-KEY-0000000000", AppSecret: "FAKE-SECRET-000000000"}
	for _, tt := range []struct {
		name   string
		status int
		body   string
		kind   error // nil for success
	}{
		{"ok", 200, `{"rsp_cd":"00000","rsp_msg":"조회완료","t1102OutBlock":{}}`, nil},
		{"token under 500", 500, `{"rsp_cd":"IGW00121","rsp_msg":"유효하지 않은 토큰입니다."}`, kauth.ErrTokenRejected},
		{"token under 200", 200, `{"rsp_cd":"IGW00123","rsp_msg":"토큰 만료"}`, kauth.ErrTokenRejected},
		{"rate limit", 200, `{"rsp_cd":"IGW00201","rsp_msg":"호출 거래건수를 초과하였습니다."}`, kauth.ErrRateLimited},
		{"401", 401, `{}`, kauth.ErrTokenRejected},
		{"business error", 200, `{"rsp_cd":"01234","rsp_msg":"장 운영시간이 아닙니다"}`, nil},
		{"unknown refusal", 200, `{"rsp_cd":"IGW00999","rsp_msg":"x"}`, kauth.ErrBadRequest},
		{"gateway page", 502, `<html>bad gateway</html>`, kauth.ErrUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := brokertest.Response(t, tt.status, []string{"Content-Type", "application/json; charset=utf-8"}, tt.body)
			err := check(c, igw.OpCall, resp, []byte(tt.body))
			if (tt.kind == nil) != (err == nil) || (tt.kind != nil && !errors.Is(err, tt.kind)) {
				t.Errorf("CheckResponse() = %v; want %v", err, tt.kind)
			}
			var e *kauth.Error
			if err != nil && (!errors.As(err, &e) || e.Broker != broker || e.Op != igw.OpCall) {
				t.Errorf("CheckResponse() = %#v; want a *kauth.Error of %s call", err, broker)
			}
		})
	}
}

// provider is what the broker list and the agent ask of a gateway broker
// beyond kauth.Provider.
type provider interface {
	kauth.Provider
	MinIssueInterval() time.Duration
	MaxLifetime() time.Duration
	Probe(ctx context.Context, base *url.URL) (*http.Request, error)
	ProbeOK(body []byte) bool
}

// TestBrokerFacts checks that each broker's facts reach its Provider: the
// issuance spacing, the longest lifetime and the probe call.
func TestBrokerFacts(t *testing.T) {
	for _, tt := range []struct {
		p        provider
		interval time.Duration
		lifetime time.Duration
		path     string
		header   map[string]string
		body     string
	}{
		{ls.New(), time.Second, 31 * time.Hour, "/base/stock/market-data",
			map[string]string{"tr_cd": "t1102", "tr_cont": "N", "tr_cont_key": "", "Content-Type": "application/json; charset=utf-8"},
			`{"t1102InBlock":{"shcode":"005930","exchgubun":"K"}}`},
		{db.New(), 61 * time.Second, 24 * time.Hour, "/base/api/v1/quote/kr-stock/inquiry/price",
			map[string]string{"cont_yn": "N", "cont_key": "", "Content-Type": "application/json; charset=UTF-8"},
			`{"In":{"InputCondMrktDivCode":"J","InputIscd1":"005930"}}`},
	} {
		name := "ls"
		if _, ok := tt.p.(*db.Provider); ok {
			name = "db"
		}
		t.Run(name, func(t *testing.T) {
			if got := tt.p.MinIssueInterval(); got != tt.interval {
				t.Errorf("MinIssueInterval() = %v; want %v", got, tt.interval)
			}
			if got := tt.p.MaxLifetime(); got != tt.lifetime {
				t.Errorf("MaxLifetime() = %v; want %v", got, tt.lifetime)
			}
			base, _ := url.Parse("http://127.0.0.1:1/base/")
			req, err := tt.p.Probe(context.Background(), base)
			if err != nil {
				t.Fatal(err)
			}
			if req.Method != http.MethodPost || req.URL.Path != tt.path {
				t.Errorf("Probe() = %s %s; want POST %s", req.Method, req.URL.Path, tt.path)
			}
			for k, want := range tt.header {
				// The gateway's own header names go out as written.
				if got, ok := req.Header[k]; !ok || len(got) != 1 || got[0] != want {
					t.Errorf("Probe() header %s = %q; want [%q]", k, got, want)
				}
			}
			if body, _ := io.ReadAll(req.Body); string(body) != tt.body {
				t.Errorf("Probe() body = %s; want %s", body, tt.body)
			}
			if !tt.p.ProbeOK([]byte(`{"rsp_cd":"00000","rsp_msg":"ok"}`)) || tt.p.ProbeOK([]byte(`{"rsp_cd":"IGW00121"}`)) || tt.p.ProbeOK([]byte(`<html>`)) {
				t.Error("ProbeOK() must accept rsp_cd 00000 and only it")
			}
		})
	}
}

// FuzzCheckResponse: whatever the gateway answers, CheckResponse returns
// nil or one well-formed *kauth.Error that holds no secret.
func FuzzCheckResponse(f *testing.F) {
	const key, secret = "FAKE-FUZZ-APPKEY-00000000000", "FAKE-FUZZ-SECRET-00000000000"
	for _, seed := range []struct {
		status int
		body   string
	}{
		{200, `{"access_token":"x.y.z","scope":"oob","token_type":"Bearer","expires_in":86400}`},
		{403, `{"error_code":"IGW00105","error_description":"유효하지 않은 AppSecret입니다."}`},
		{500, `{"rsp_cd":"IGW00121","rsp_msg":"유효하지 않은 토큰입니다."}`},
		{200, `{"rsp_cd":"IGW00201","rsp_msg":"호출 거래건수를 초과하였습니다."}`},
		{200, `{"code":400,"message":"` + secret + `"}`},
		{502, `<html>bad gateway</html>`},
	} {
		f.Add(seed.status, seed.body, igw.OpCall)
		f.Add(seed.status, seed.body, igw.OpIssue)
	}
	b := brokertest.Broker{Name: ls.Broker, Secrets: []string{key, secret}}
	c := kauth.Credentials{Broker: ls.Broker, Env: kauth.Real, AppKey: key, AppSecret: secret}
	f.Fuzz(func(t *testing.T, status int, body, op string) {
		if status < 100 || status > 599 {
			return
		}
		resp := brokertest.Response(t, status, []string{"Content-Type", "application/json"}, body)
		b.CheckFuzzError(t, ls.CheckResponse(c, op, resp, []byte(body)))
	})
}
