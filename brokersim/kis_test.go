package brokersim

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

func TestKISIssueTiming(t *testing.T) {
	const day = 86400
	type step struct {
		advance time.Duration
		revoke  bool // revoke the first token before this step's issue
		// want: "new" (a new token), "same" (the first token again), or an
		// error code.
		want          string
		wantExpiresIn int64
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"10s apart: rate limited", []step{{0, false, "new", day}, {10 * time.Second, false, "EGW00133", 0}}},
		{"59s apart: rate limited", []step{{0, false, "new", day}, {59 * time.Second, false, "EGW00133", 0}}},
		{"61s apart: same token", []step{{0, false, "new", day}, {61 * time.Second, false, "same", day - 61}}},
		{"2h apart: same token, remaining seconds", []step{{0, false, "new", day}, {2 * time.Hour, false, "same", day - 7200}}},
		{"5h59m apart: same token", []step{{0, false, "new", day}, {5*time.Hour + 59*time.Minute, false, "same", day - 21540}}},
		{"7h apart: new token", []step{{0, false, "new", day}, {7 * time.Hour, false, "new", day}}},
		{"25h apart: new token", []step{{0, false, "new", day}, {25 * time.Hour, false, "new", day}}},
		{"refused calls do not restart the minute", []step{
			{0, false, "new", day}, {30 * time.Second, false, "EGW00133", 0},
			{31 * time.Second, false, "same", day - 61}}},
		{"same-token answers count toward the minute", []step{
			{0, false, "new", day}, {2 * time.Hour, false, "same", day - 7200},
			{30 * time.Second, false, "EGW00133", 0}}},
		{"after revoke: a fresh token", []step{{0, false, "new", day}, {2 * time.Minute, true, "new", day}}},
		{"revoke does not lift the minute", []step{{0, false, "new", day}, {10 * time.Second, true, "EGW00133", 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts := newSim(t)
			app := DemoKISMock
			var first, firstExpiry string
			seen := map[string]bool{}
			for i, st := range tt.steps {
				sim.Advance(st.advance)
				if st.revoke {
					if ans := kisRevoke(t, ts, app, first); ans.status != 200 {
						t.Fatalf("step %d: revokeP = %d %s", i, ans.status, ans.raw)
					}
				}
				ans := kisIssue(t, ts, app)
				switch st.want {
				case "new", "same":
					if ans.status != 200 {
						t.Fatalf("step %d: tokenP = %d %s; want 200", i, ans.status, ans.raw)
					}
					tok := ans.str("access_token")
					if i == 0 {
						first, firstExpiry = tok, ans.str("access_token_token_expired")
					}
					if st.want == "same" && (tok != first || ans.str("access_token_token_expired") != firstExpiry) {
						t.Errorf("step %d: got a different token or expiry; want the first one again", i)
					}
					if st.want == "new" && seen[tok] {
						t.Errorf("step %d: got an earlier token again; want a new one", i)
					}
					seen[tok] = true
					if got := ans.num("expires_in"); got != st.wantExpiresIn {
						t.Errorf("step %d: expires_in = %d; want %d", i, got, st.wantExpiresIn)
					}
					wantExp := kst(sim.Now().Truncate(time.Second).Add(time.Duration(st.wantExpiresIn)*time.Second), kstLayoutKIS)
					if got := ans.str("access_token_token_expired"); got != wantExp {
						t.Errorf("step %d: access_token_token_expired = %q; want %q", i, got, wantExp)
					}
					if got := ans.str("token_type"); got != "Bearer" {
						t.Errorf("step %d: token_type = %q; want Bearer", i, got)
					}
				default:
					if ans.status != http.StatusForbidden || ans.str("error_code") != st.want {
						t.Errorf("step %d: tokenP = %d %s; want 403 %s", i, ans.status, ans.raw, st.want)
					}
				}
			}
			var news int
			for _, st := range tt.steps {
				if st.want == "new" {
					news++
				}
			}
			if got := sim.Issued(kauth.KIS, kauth.Mock, app.AppKey); got != news {
				t.Errorf("Issued = %d; want %d", got, news)
			}
		})
	}
}

func TestKISTokenErrors(t *testing.T) {
	app := DemoKISReal
	tests := []struct {
		name        string
		contentType string
		body        any
		wantCode    string
	}{
		{"missing appkey", "", map[string]string{"grant_type": "client_credentials", "appsecret": app.Secret}, "EGW00102"},
		{"unknown appkey", "", map[string]string{"grant_type": "client_credentials", "appkey": "PSNOSUCHKEY", "appsecret": app.Secret}, "EGW00103"},
		{"mock appkey on real", "", map[string]string{"grant_type": "client_credentials", "appkey": DemoKISMock.AppKey, "appsecret": DemoKISMock.Secret}, "EGW00103"},
		{"missing appsecret", "", map[string]string{"grant_type": "client_credentials", "appkey": app.AppKey}, "EGW00104"},
		{"wrong appsecret", "", map[string]string{"grant_type": "client_credentials", "appkey": app.AppKey, "appsecret": "nope"}, "EGW00105"},
		{"secret sent as secretkey", "", map[string]string{"grant_type": "client_credentials", "appkey": app.AppKey, "secretkey": app.Secret}, "EGW00104"},
		{"missing grant_type", "", map[string]string{"appkey": app.AppKey, "appsecret": app.Secret}, "EGW00115"},
		{"wrong grant_type", "", map[string]string{"grant_type": "password", "appkey": app.AppKey, "appsecret": app.Secret}, "EGW00116"},
		{"form content type", "application/x-www-form-urlencoded", []byte("grant_type=client_credentials"), "EGW00132"},
		{"not JSON", "", []byte("{grant_type"), "EGW00101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts := newSim(t)
			var h map[string]string
			if tt.contentType != "" {
				h = map[string]string{"Content-Type": tt.contentType}
			}
			ans := do(t, "POST", base(ts, kauth.KIS, kauth.Real)+"/oauth2/tokenP", h, tt.body)
			if ans.status != http.StatusForbidden || ans.str("error_code") != tt.wantCode || ans.str("error_description") == "" {
				t.Errorf("tokenP = %d %s; want 403 %s", ans.status, ans.raw, tt.wantCode)
			}
			if st := sim.Stats(); st.Issued != 0 || st.Rejected != 1 {
				t.Errorf("stats issued=%d rejected=%d; want 0, 1", st.Issued, st.Rejected)
			}
		})
	}
}

func TestKISRateLimitMessage(t *testing.T) {
	_, ts := newSim(t)
	kisToken(t, ts, DemoKISMock)
	ans := kisIssue(t, ts, DemoKISMock)
	want := `{"error_code":"EGW00133","error_description":"접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"}`
	if ans.status != 403 || string(ans.raw) != want {
		t.Errorf("tokenP = %d %s; want 403 %s", ans.status, ans.raw, want)
	}
	// The limit is per app key: the real app is not affected.
	kisToken(t, ts, DemoKISReal)
}

func TestKISIssueIntervalSettings(t *testing.T) {
	sim, ts := newSim(t)
	sim.KISIssueInterval = -1
	sim.KISReissueWindow = time.Hour
	sim.KISTokenLifetime = 2 * time.Hour
	a := kisIssue(t, ts, DemoKISMock)
	b := kisIssue(t, ts, DemoKISMock)
	if b.status != 200 || b.str("access_token") != a.str("access_token") {
		t.Fatalf("second tokenP without limit = %d %s; want the same token", b.status, b.raw)
	}
	if a.num("expires_in") != 7200 {
		t.Errorf("expires_in = %d; want 7200", a.num("expires_in"))
	}
	sim.Advance(time.Hour)
	if c := kisIssue(t, ts, DemoKISMock); c.str("access_token") == a.str("access_token") {
		t.Errorf("tokenP after the 1 h window returned the old token")
	}
}

func TestKISRevoke(t *testing.T) {
	sim, ts := newSim(t)
	app := DemoKISMock
	tok := kisToken(t, ts, app)
	other := kisToken(t, ts, DemoKISReal)

	ans := kisRevoke(t, ts, app, tok)
	if ans.status != 200 || string(ans.raw) != `{"code":200,"message":"접근토큰 폐기에 성공하였습니다"}` {
		t.Fatalf("revokeP = %d %s", ans.status, ans.raw)
	}
	if _, ok := ans.body["code"].(interface{ Int64() (int64, error) }); !ok {
		t.Errorf("code is %T; want a JSON number", ans.body["code"])
	}
	if again := kisRevoke(t, ts, app, tok); again.status != 200 {
		t.Errorf("second revokeP = %d %s; want 200", again.status, again.raw)
	}
	if got := kisPrice(t, ts, kauth.Mock, app, tok); got.str("msg_cd") != "EGW00121" {
		t.Errorf("call with revoked token: %s; want EGW00121", got.raw)
	}
	for _, tt := range []struct {
		name, tok, want string
	}{
		{"no token", "", "EGW00122"},
		{"unknown token", "not-a-token", "EGW00121"},
		{"token of another app", other, "EGW00121"},
	} {
		if got := kisRevoke(t, ts, app, tt.tok); got.status != 403 || got.str("error_code") != tt.want {
			t.Errorf("revokeP %s = %d %s; want 403 %s", tt.name, got.status, got.raw, tt.want)
		}
	}
	if st := sim.Stats(); st.Revoked != 1 {
		t.Errorf("Stats().Revoked = %d; want 1", st.Revoked)
	}
}

func TestKISApproval(t *testing.T) {
	_, ts := newSim(t)
	app := DemoKISMock
	url := base(ts, kauth.KIS, kauth.Mock) + "/oauth2/Approval"
	ans := do(t, "POST", url, nil, map[string]string{"grant_type": "client_credentials", "appkey": app.AppKey, "secretkey": app.Secret})
	if ans.status != 200 || len(ans.str("approval_key")) < 32 {
		t.Fatalf("Approval = %d %s", ans.status, ans.raw)
	}
	// The secret goes in "secretkey"; "appsecret" alone is not enough.
	ans = do(t, "POST", url, nil, map[string]string{"grant_type": "client_credentials", "appkey": app.AppKey, "appsecret": app.Secret})
	if ans.status != 403 || ans.str("error_code") != "EGW00104" {
		t.Errorf("Approval with appsecret = %d %s; want 403 EGW00104", ans.status, ans.raw)
	}
}

func TestKISHashkey(t *testing.T) {
	sim, ts := newSim(t)
	app := DemoKISMock
	url := base(ts, kauth.KIS, kauth.Mock) + "/uapi/hashkey"
	order := map[string]string{"CANO": "00000000", "ACNT_PRDT_CD": "01", "PDNO": "005930", "ORD_QTY": "1"}
	ans := do(t, "POST", url, map[string]string{"appkey": app.AppKey, "appsecret": app.Secret}, order)
	if ans.status != 200 || len(ans.str("HASH")) != 64 {
		t.Fatalf("hashkey = %d %s", ans.status, ans.raw)
	}
	if echo, _ := ans.body["BODY"].(map[string]any); echo["PDNO"] != "005930" {
		t.Errorf("BODY = %v; want the request echoed", ans.body["BODY"])
	}
	again := do(t, "POST", url, map[string]string{"appkey": app.AppKey, "appsecret": app.Secret}, order)
	if again.str("HASH") != ans.str("HASH") {
		t.Errorf("HASH differs for the same body")
	}
	bad := do(t, "POST", url, map[string]string{"appkey": app.AppKey, "appsecret": "wrong"}, order)
	if bad.str("rt_cd") != "1" || bad.str("msg_cd") != "EGW00105" {
		t.Errorf("hashkey with wrong secret = %d %s; want EGW00105", bad.status, bad.raw)
	}
	if got := sim.Stats().Hashkeys; got != 2 {
		t.Errorf("Stats().Hashkeys = %d; want 2", got)
	}
}

func TestKISProtectedCall(t *testing.T) {
	other := App{kauth.KIS, kauth.Mock, "PSDEMOSECONDMOCKAPPKEY00000000000000", strings.Repeat("S", 180)}
	tests := []struct {
		name string
		// prepare returns the token and the app whose headers go with it.
		prepare    func(t *testing.T, sim *Server, ts *httptest.Server) (string, App)
		header     map[string]string
		wantMsgCd  string
		authStatus bool // the answer's status is KISAuthErrorStatus
	}{
		{"good token", func(t *testing.T, sim *Server, ts *httptest.Server) (string, App) {
			return kisToken(t, ts, DemoKISMock), DemoKISMock
		}, nil, "MCA00000", false},
		{"expired token", func(t *testing.T, sim *Server, ts *httptest.Server) (string, App) {
			tok := kisToken(t, ts, DemoKISMock)
			sim.Advance(25 * time.Hour)
			return tok, DemoKISMock
		}, nil, "EGW00123", true},
		{"revoked token", func(t *testing.T, sim *Server, ts *httptest.Server) (string, App) {
			tok := kisToken(t, ts, DemoKISMock)
			kisRevoke(t, ts, DemoKISMock, tok)
			return tok, DemoKISMock
		}, nil, "EGW00121", true},
		{"forced invalid token", func(t *testing.T, sim *Server, ts *httptest.Server) (string, App) {
			tok := kisToken(t, ts, DemoKISMock)
			sim.InvalidateToken(tok)
			return tok, DemoKISMock
		}, nil, "EGW00121", true},
		{"token of the other env", func(t *testing.T, sim *Server, ts *httptest.Server) (string, App) {
			// The same app key registered at both envs: tokens stay per env.
			sim.Register(kauth.KIS, kauth.Real, DemoKISMock.AppKey, DemoKISMock.Secret)
			return kisToken(t, ts, App{kauth.KIS, kauth.Real, DemoKISMock.AppKey, DemoKISMock.Secret}), DemoKISMock
		}, nil, "EGW00121", true},
		{"token of another app key", func(t *testing.T, sim *Server, ts *httptest.Server) (string, App) {
			sim.Register(other.Broker, other.Env, other.AppKey, other.Secret)
			return kisToken(t, ts, other), DemoKISMock
		}, nil, "EGW00121", true},
		{"unknown token", func(t *testing.T, sim *Server, ts *httptest.Server) (string, App) {
			return "eyJhbGciOiJIUzUxMiJ9.e30.c2ln", DemoKISMock
		}, nil, "EGW00121", true},
		{"no authorization header", func(t *testing.T, sim *Server, ts *httptest.Server) (string, App) {
			return "", DemoKISMock
		}, nil, "EGW00122", true},
		{"not a bearer token", func(t *testing.T, sim *Server, ts *httptest.Server) (string, App) {
			return kisToken(t, ts, DemoKISMock), DemoKISMock
		}, map[string]string{"authorization": "Basic Zm9vOmJhcg=="}, "EGW00205", true},
		{"lower-case bearer scheme", func(t *testing.T, sim *Server, ts *httptest.Server) (string, App) {
			tok := kisToken(t, ts, DemoKISMock)
			return tok, DemoKISMock
		}, map[string]string{"authorization": "bearer <tok>"}, "MCA00000", false},
		{"no appkey header", func(t *testing.T, sim *Server, ts *httptest.Server) (string, App) {
			return kisToken(t, ts, DemoKISMock), DemoKISMock
		}, map[string]string{"appkey": ""}, "EGW00102", true},
		{"wrong appsecret header", func(t *testing.T, sim *Server, ts *httptest.Server) (string, App) {
			return kisToken(t, ts, DemoKISMock), DemoKISMock
		}, map[string]string{"appsecret": "wrong"}, "EGW00105", true},
		{"no tr_id", func(t *testing.T, sim *Server, ts *httptest.Server) (string, App) {
			return kisToken(t, ts, DemoKISMock), DemoKISMock
		}, map[string]string{"tr_id": ""}, "OPSQ9999", false},
	}
	for _, status := range []int{0, 200, 500} {
		for _, tt := range tests {
			t.Run(tt.name+"/status="+http.StatusText(status), func(t *testing.T) {
				sim, ts := newSim(t)
				sim.KISAuthErrorStatus = status
				tok, app := tt.prepare(t, sim, ts)
				h := map[string]string{"appkey": app.AppKey, "appsecret": app.Secret, "tr_id": kisTrIDInquirePrice}
				if tok != "" {
					h["authorization"] = "Bearer " + tok
				}
				for k, v := range tt.header {
					h[k] = strings.ReplaceAll(v, "<tok>", tok)
				}
				ans := do(t, "GET", base(ts, kauth.KIS, kauth.Mock)+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", h, nil)
				if got := ans.str("msg_cd"); got != tt.wantMsgCd {
					t.Fatalf("msg_cd = %q (%d %s); want %s", got, ans.status, ans.raw, tt.wantMsgCd)
				}
				wantRt, wantStatus := "1", 500
				if tt.wantMsgCd == "MCA00000" {
					wantRt, wantStatus = "0", 200
					if out, _ := ans.body["output"].(map[string]any); out["stck_prpr"] != "71000" {
						t.Errorf("output = %v; want stck_prpr 71000", ans.body["output"])
					}
				}
				if tt.authStatus && status != 0 {
					wantStatus = status
				}
				if ans.str("rt_cd") != wantRt || ans.status != wantStatus || ans.str("msg1") == "" {
					t.Errorf("answer = %d %s; want HTTP %d, rt_cd %s", ans.status, ans.raw, wantStatus, wantRt)
				}
			})
		}
	}
}

func TestKISCallLimit(t *testing.T) {
	tests := []struct {
		env   kauth.Env
		limit int
	}{
		{kauth.Mock, 2},
		{kauth.Real, 20},
	}
	for _, tt := range tests {
		t.Run(string(tt.env), func(t *testing.T) {
			sim, ts := newSim(t)
			app := Demo(kauth.KIS, tt.env)
			tok := kisToken(t, ts, app)
			for i := 0; i < tt.limit; i++ {
				if ans := kisPrice(t, ts, tt.env, app, tok); ans.str("rt_cd") != "0" {
					t.Fatalf("call %d = %d %s; want success", i+1, ans.status, ans.raw)
				}
			}
			ans := kisPrice(t, ts, tt.env, app, tok)
			if ans.status != 500 || ans.str("rt_cd") != "1" || ans.str("msg_cd") != "EGW00201" || ans.str("msg1") != "초당 거래건수를 초과하였습니다." {
				t.Fatalf("call %d = %d %s; want 500 EGW00201", tt.limit+1, ans.status, ans.raw)
			}
			// Another app key has its own budget.
			other := Demo(kauth.KIS, tt.env)
			other.AppKey = "PSDEMOOTHERAPPKEY"
			sim.Register(kauth.KIS, tt.env, other.AppKey, other.Secret)
			sim.KISIssueInterval = -1
			if ans := kisPrice(t, ts, tt.env, other, kisToken(t, ts, other)); ans.str("rt_cd") != "0" {
				t.Errorf("other app = %s; want success", ans.raw)
			}
			sim.Advance(time.Second)
			if ans := kisPrice(t, ts, tt.env, app, tok); ans.str("rt_cd") != "0" {
				t.Errorf("after a second = %d %s; want success", ans.status, ans.raw)
			}
			if st := sim.Stats().App(kauth.KIS, tt.env, app.AppKey); st.RateLimited != 1 || st.Calls != tt.limit+2 {
				t.Errorf("app stats = %+v; want 1 rate limited, %d calls", st, tt.limit+2)
			}
		})
	}
}
