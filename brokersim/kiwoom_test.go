package brokersim

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

func TestKiwoomIssue(t *testing.T) {
	sim, ts := newSim(t)
	app := DemoKiwoomMock
	first := kiwoomIssue(t, ts, kauth.Mock, app)
	if first.status != 200 || returnCode(t, first) != "0" || first.str("return_msg") != "정상적으로 처리되었습니다" {
		t.Fatalf("au10001 = %d %s", first.status, first.raw)
	}
	if got := first.str("token_type"); !strings.EqualFold(got, "bearer") {
		t.Errorf("token_type = %q; want bearer", got)
	}
	if got, want := first.str("expires_dt"), "20240311153000"; got != want {
		t.Errorf("expires_dt = %q; want %q (epoch + 24 h in KST)", got, want)
	}
	if got := first.header.Get("api-id"); got != "au10001" {
		t.Errorf("api-id header = %q; want the request's echoed", got)
	}
	// While the token is valid, re-issuing returns it — at once, and hours later.
	for _, d := range []time.Duration{0, time.Second, 23 * time.Hour} {
		sim.Advance(d)
		again := kiwoomIssue(t, ts, kauth.Mock, app)
		if again.str("token") != first.str("token") || again.str("expires_dt") != first.str("expires_dt") {
			t.Errorf("after +%v: got another token or expiry; want the same", d)
		}
	}
	sim.Advance(time.Hour) // 24 h after issue: expired
	if again := kiwoomIssue(t, ts, kauth.Mock, app); again.str("token") == first.str("token") {
		t.Errorf("after expiry: got the old token; want a new one")
	}
	if got := sim.Issued(kauth.Kiwoom, kauth.Mock, app.AppKey); got != 2 {
		t.Errorf("Issued = %d; want 2", got)
	}
	if got := sim.Stats().App(kauth.Kiwoom, kauth.Mock, app.AppKey).Reissued; got != 3 {
		t.Errorf("Reissued = %d; want 3", got)
	}
}

func TestKiwoomLifetime(t *testing.T) {
	sim, ts := newSim(t)
	sim.KiwoomTokenLifetime = 18*time.Hour + 30*time.Minute
	ans := kiwoomIssue(t, ts, kauth.Real, DemoKiwoomReal)
	// epoch is 15:30 KST; +18h30m = 10:00 KST next day.
	if got, want := ans.str("expires_dt"), "20240311100000"; got != want {
		t.Errorf("expires_dt = %q; want %q", got, want)
	}
}

func TestKiwoomIssueErrors(t *testing.T) {
	app := DemoKiwoomReal
	tests := []struct {
		name     string
		body     any
		wantCode string // the bracketed code
	}{
		{"unknown appkey", map[string]string{"grant_type": "client_credentials", "appkey": "NOSUCHKEY", "secretkey": app.Secret}, "8001"},
		{"wrong secretkey", map[string]string{"grant_type": "client_credentials", "appkey": app.AppKey, "secretkey": "wrong"}, "8002"},
		{"mock app key on real", map[string]string{"grant_type": "client_credentials", "appkey": DemoKiwoomMock.AppKey, "secretkey": DemoKiwoomMock.Secret}, "8030"},
		{"missing grant_type", map[string]string{"appkey": app.AppKey, "secretkey": app.Secret}, "8011"},
		{"wrong grant_type", map[string]string{"grant_type": "password", "appkey": app.AppKey, "secretkey": app.Secret}, "8012"},
		{"missing secretkey", map[string]string{"grant_type": "client_credentials", "appkey": app.AppKey}, "8020"},
		{"secret sent as appsecret", map[string]string{"grant_type": "client_credentials", "appkey": app.AppKey, "appsecret": app.Secret}, "8020"},
		{"not JSON", []byte("grant_type=client_credentials"), "1517"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := newSim(t)
			ans := do(t, "POST", base(ts, kauth.Kiwoom, kauth.Real)+"/oauth2/token", nil, tt.body)
			if ans.status != 200 || returnCode(t, ans) == "0" || !strings.Contains(ans.str("return_msg"), "["+tt.wantCode+":") {
				t.Errorf("au10001 = %d %s; want HTTP 200, non-zero return_code, [%s:…]", ans.status, ans.raw, tt.wantCode)
			}
			if ans.str("token") != "" {
				t.Errorf("error answer carries a token")
			}
		})
	}
}

func TestKiwoomReturnCodeAsString(t *testing.T) {
	for _, asString := range []bool{false, true} {
		sim, ts := newSim(t)
		sim.KiwoomReturnCodeAsString = asString
		ok := kiwoomIssue(t, ts, kauth.Mock, DemoKiwoomMock)
		bad := kiwoomStock(t, ts, kauth.Mock, "nope", nil, nil)
		for _, ans := range []answer{ok, bad} {
			_, isString := ans.body["return_code"].(string)
			if isString != asString {
				t.Errorf("KiwoomReturnCodeAsString=%v: return_code is %T in %s", asString, ans.body["return_code"], ans.raw)
			}
		}
		if returnCode(t, ok) != "0" || returnCode(t, bad) != "3" {
			t.Errorf("return codes = %s, %s; want 0, 3", returnCode(t, ok), returnCode(t, bad))
		}
	}
}

func TestKiwoomRevoke(t *testing.T) {
	sim, ts := newSim(t)
	app := DemoKiwoomMock
	tok := kiwoomToken(t, ts, app)
	url := base(ts, kauth.Kiwoom, kauth.Mock) + "/oauth2/revoke"
	ans := do(t, "POST", url, map[string]string{"api-id": "au10002"}, map[string]string{"appkey": app.AppKey, "secretkey": app.Secret, "token": tok})
	if ans.status != 200 || returnCode(t, ans) != "0" {
		t.Fatalf("au10002 = %d %s", ans.status, ans.raw)
	}
	if got := kiwoomStock(t, ts, kauth.Mock, tok, nil, nil); !strings.Contains(got.str("return_msg"), "[8005:") {
		t.Errorf("call with revoked token = %s; want 8005", got.raw)
	}
	if fresh := kiwoomToken(t, ts, app); fresh == tok {
		t.Errorf("au10001 after revoke returned the revoked token")
	}
	for _, tt := range []struct{ name, tok, want string }{
		{"no token", "", "8016"},
		{"unknown token", "nope", "8005"},
	} {
		got := do(t, "POST", url, nil, map[string]string{"appkey": app.AppKey, "secretkey": app.Secret, "token": tt.tok})
		if !strings.Contains(got.str("return_msg"), "["+tt.want+":") {
			t.Errorf("au10002 %s = %s; want %s", tt.name, got.raw, tt.want)
		}
	}
	if st := sim.Stats(); st.Revoked != 1 || st.Issued != 2 {
		t.Errorf("stats revoked=%d issued=%d; want 1, 2", st.Revoked, st.Issued)
	}
}

func TestKiwoomProtectedCall(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, sim *Server, ts *httptest.Server) string
		header  map[string]string
		body    any
		wantRC  string
		want    string // bracketed code, or "" for success
	}{
		{"good token", func(t *testing.T, sim *Server, ts *httptest.Server) string {
			return kiwoomToken(t, ts, DemoKiwoomMock)
		}, nil, nil, "0", ""},
		{"expired token", func(t *testing.T, sim *Server, ts *httptest.Server) string {
			tok := kiwoomToken(t, ts, DemoKiwoomMock)
			sim.Advance(25 * time.Hour)
			return tok
		}, nil, nil, "3", "8005"},
		{"forced invalid token", func(t *testing.T, sim *Server, ts *httptest.Server) string {
			tok := kiwoomToken(t, ts, DemoKiwoomMock)
			sim.InvalidateToken(tok)
			return tok
		}, nil, nil, "3", "8005"},
		{"unknown token", func(t *testing.T, sim *Server, ts *httptest.Server) string {
			return "AAAAAAAAAAAAAAAAAAAAAAAA"
		}, nil, nil, "3", "8005"},
		{"token of the real env", func(t *testing.T, sim *Server, ts *httptest.Server) string {
			return kiwoomToken(t, ts, DemoKiwoomReal)
		}, nil, nil, "3", "8031"},
		{"a KIS token", func(t *testing.T, sim *Server, ts *httptest.Server) string {
			return kisToken(t, ts, DemoKISMock)
		}, nil, nil, "3", "8005"},
		{"no authorization", func(t *testing.T, sim *Server, ts *httptest.Server) string {
			return ""
		}, nil, nil, "2", "1513"},
		{"no api-id", func(t *testing.T, sim *Server, ts *httptest.Server) string {
			return kiwoomToken(t, ts, DemoKiwoomMock)
		}, map[string]string{"api-id": ""}, nil, "2", "1501"},
		{"wrong api-id", func(t *testing.T, sim *Server, ts *httptest.Server) string {
			return kiwoomToken(t, ts, DemoKiwoomMock)
		}, map[string]string{"api-id": "ka10081"}, nil, "2", "1504"},
		{"no stk_cd", func(t *testing.T, sim *Server, ts *httptest.Server) string {
			return kiwoomToken(t, ts, DemoKiwoomMock)
		}, nil, map[string]string{}, "2", "1511"},
		{"unknown stock", func(t *testing.T, sim *Server, ts *httptest.Server) string {
			return kiwoomToken(t, ts, DemoKiwoomMock)
		}, nil, map[string]string{"stk_cd": "999999"}, "2", "1902"},
		{"101 stocks: 1634, return_code 5 like a rate limit", func(t *testing.T, sim *Server, ts *httptest.Server) string {
			return kiwoomToken(t, ts, DemoKiwoomMock)
		}, nil, map[string]string{"stk_cd": strings.TrimSuffix(strings.Repeat("005930|", 101), "|")}, "5", "1634"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts := newSim(t)
			tok := tt.prepare(t, sim, ts)
			ans := kiwoomStock(t, ts, kauth.Mock, tok, mergeHeaders(map[string]string{"cont-yn": "Y", "next-key": "K123"}, tt.header), tt.body)
			if ans.status != 200 || returnCode(t, ans) != tt.wantRC {
				t.Fatalf("ka10001 = %d %s; want HTTP 200, return_code %s", ans.status, ans.raw, tt.wantRC)
			}
			if tt.want == "" {
				if ans.str("stk_cd") != "005930" || ans.str("stk_nm") != "삼성전자" {
					t.Errorf("record = %s", ans.raw)
				}
			} else if msg := ans.str("return_msg"); !strings.Contains(msg, "["+tt.want) {
				t.Errorf("return_msg = %q; want [%s…]", msg, tt.want)
			}
			if tt.want == "8005" && ans.str("return_msg") != "인증에 실패했습니다[8005:Token이 유효하지 않습니다]" {
				t.Errorf("return_msg = %q", ans.str("return_msg"))
			}
			if tt.header == nil {
				if ans.header.Get("api-id") != "ka10001" || ans.header.Get("cont-yn") != "Y" || ans.header.Get("next-key") != "K123" {
					t.Errorf("headers api-id=%q cont-yn=%q next-key=%q; want echoed", ans.header.Get("api-id"), ans.header.Get("cont-yn"), ans.header.Get("next-key"))
				}
			}
		})
	}
}

func mergeHeaders(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range []map[string]string{a, b} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestKiwoomCallLimit(t *testing.T) {
	for _, limit := range []int{0, 3} {
		sim, ts := newSim(t)
		sim.KiwoomCallsPerSecond = limit
		want := limit
		if want == 0 {
			want = 5
		}
		tok := kiwoomToken(t, ts, DemoKiwoomReal)
		for i := 0; i < want; i++ {
			if ans := kiwoomStock(t, ts, kauth.Real, tok, nil, nil); returnCode(t, ans) != "0" {
				t.Fatalf("limit %d: call %d = %s", want, i+1, ans.raw)
			}
		}
		ans := kiwoomStock(t, ts, kauth.Real, tok, nil, nil)
		if returnCode(t, ans) != "5" || !strings.Contains(ans.str("return_msg"), "[1700:") || !strings.Contains(ans.str("return_msg"), "API ID=ka10001") {
			t.Errorf("limit %d: call %d = %s; want return_code 5 [1700:…]", want, want+1, ans.raw)
		}
		sim.Advance(time.Second)
		if ans := kiwoomStock(t, ts, kauth.Real, tok, nil, nil); returnCode(t, ans) != "0" {
			t.Errorf("after a second = %s; want success", ans.raw)
		}
	}
}

func TestKiwoomBindIP(t *testing.T) {
	sim, ts := newSim(t)
	sim.KiwoomBindIP = true
	tok := kiwoomToken(t, ts, DemoKiwoomMock) // issued to 127.0.0.1
	if ans := kiwoomStock(t, ts, kauth.Mock, tok, nil, nil); returnCode(t, ans) != "0" {
		t.Fatalf("same IP = %s", ans.raw)
	}
	req := httptest.NewRequest("POST", "/kiwoom/mock/api/dostk/stkinfo", strings.NewReader(`{"stk_cd":"005930"}`))
	req.RemoteAddr = "192.0.2.7:40000"
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	req.Header.Set("authorization", "Bearer "+tok)
	req.Header.Set("api-id", "ka10001")
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), "[8010:") {
		t.Errorf("other IP = %s; want 8010", rec.Body)
	}
}

func TestKiwoomConcurrentIssueMintsOnce(t *testing.T) {
	sim, ts := newSim(t)
	const n = 20
	toks := make(chan string, n)
	for i := 0; i < n; i++ {
		go func() {
			a := DemoKiwoomReal
			ans, err := tryDo("POST", base(ts, kauth.Kiwoom, kauth.Real)+"/oauth2/token", nil,
				map[string]string{"grant_type": "client_credentials", "appkey": a.AppKey, "secretkey": a.Secret})
			if err != nil {
				t.Error(err)
			}
			toks <- ans.str("token")
		}()
	}
	first := <-toks
	for i := 1; i < n; i++ {
		if tok := <-toks; tok != first {
			t.Errorf("concurrent au10001 returned different tokens")
		}
	}
	if got := sim.Issued(kauth.Kiwoom, kauth.Real, DemoKiwoomReal.AppKey); got != 1 {
		t.Errorf("Issued = %d; want 1", got)
	}
}
