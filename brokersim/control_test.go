package brokersim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

func TestUnknownRoutes(t *testing.T) {
	_, ts := newSim(t)
	for _, p := range []string{
		"/", "/kis", "/kis/mock", "/kis/paper/oauth2/tokenP", "/nh/real/oauth2/tokenP",
		"/kis/mock/oauth2/token", "/kiwoom/mock/oauth2/tokenP", "/kis/mock/oauth2/tokenP/extra", "/_sim/nothing",
	} {
		ans := do(t, "POST", ts.URL+p, nil, map[string]string{})
		if ans.status != 404 || ans.str("path") != p || ans.str("error") == "" {
			t.Errorf("POST %s = %d %s; want 404 naming the path", p, ans.status, ans.raw)
		}
	}
}

func TestWrongMethod(t *testing.T) {
	_, ts := newSim(t)
	for _, tt := range []struct{ method, path, allow string }{
		{"GET", "/kis/mock/oauth2/tokenP", "POST"},
		{"POST", "/kis/real/uapi/domestic-stock/v1/quotations/inquire-price", "GET"},
		{"GET", "/kiwoom/real/api/dostk/stkinfo", "POST"},
		{"POST", "/_sim/stats", "GET"},
		{"GET", "/_sim/fault", "POST, DELETE"},
	} {
		ans := do(t, tt.method, ts.URL+tt.path, nil, nil)
		if ans.status != 405 || ans.header.Get("Allow") != tt.allow {
			t.Errorf("%s %s = %d Allow %q; want 405 Allow %q", tt.method, tt.path, ans.status, ans.header.Get("Allow"), tt.allow)
		}
	}
}

func TestZeroServer(t *testing.T) {
	var sim Server
	ts := httptest.NewServer(&sim)
	defer ts.Close()
	if ans := kisIssue(t, ts, DemoKISMock); ans.str("error_code") != "EGW00103" {
		t.Errorf("zero Server tokenP = %s; want EGW00103 (no apps)", ans.raw)
	}
	if ans := kiwoomStock(t, ts, kauth.Mock, "x", nil, nil); !strings.Contains(ans.str("return_msg"), "[8005:") {
		t.Errorf("zero Server ka10001 = %s; want 8005", ans.raw)
	}
	if d := time.Since(sim.Now()); d < -time.Second || d > time.Second {
		t.Errorf("zero Server Now() is %v off the real time", d)
	}
	sim.Register(kauth.KIS, kauth.Mock, DemoKISMock.AppKey, DemoKISMock.Secret)
	kisToken(t, ts, DemoKISMock)
	if st := sim.Stats(); st.Issued != 1 || st.Rejected != 2 {
		t.Errorf("stats = %+v", st.Counts)
	}
}

func TestClock(t *testing.T) {
	var sim Server
	start := sim.Now()
	sim.Advance(25 * time.Hour)
	if d := sim.Now().Sub(start); d < 25*time.Hour || d > 25*time.Hour+time.Second {
		t.Errorf("after Advance(25h), Now moved %v", d)
	}
	// The virtual clock runs with the real one.
	before := sim.Now()
	time.Sleep(20 * time.Millisecond)
	if d := sim.Now().Sub(before); d < 20*time.Millisecond {
		t.Errorf("virtual clock moved %v in 20ms of real time", d)
	}
}

func TestStartAt(t *testing.T) {
	start := time.Date(2027, time.February, 28, 23, 0, 0, 0, kauth.KST)
	sim := Server{Clock: StartAt(start)}
	if d := sim.Now().Sub(start); d < 0 || d > time.Second {
		t.Errorf("Now() = %v; want %v", sim.Now(), start)
	}
	before := sim.Now()
	time.Sleep(20 * time.Millisecond)
	if d := sim.Now().Sub(before); d < 20*time.Millisecond {
		t.Errorf("clock from StartAt moved %v in 20ms of real time", d)
	}
	sim.Advance(25 * time.Hour)
	if d := sim.Now().Sub(start); d < 25*time.Hour || d > 25*time.Hour+time.Second {
		t.Errorf("after Advance(25h), Now is %v past the start", d)
	}
}

func TestControlClock(t *testing.T) {
	sim, ts := newSim(t)
	ans := do(t, "POST", ts.URL+"/_sim/clock?advance=25h", nil, nil)
	if ans.status != 200 || ans.str("now") != "2024-03-11T16:30:00+09:00" || ans.str("offset") != "25h0m0s" {
		t.Errorf("POST /_sim/clock = %d %s", ans.status, ans.raw)
	}
	if !sim.Now().Equal(epoch.Add(25 * time.Hour)) {
		t.Errorf("Now() = %v; want epoch + 25h", sim.Now())
	}
	if ans := do(t, "GET", ts.URL+"/_sim/clock", nil, nil); ans.num("unix") != epoch.Add(25*time.Hour).Unix() {
		t.Errorf("GET /_sim/clock = %s", ans.raw)
	}
	if ans := do(t, "POST", ts.URL+"/_sim/clock?advance=soon", nil, nil); ans.status != 400 {
		t.Errorf("advance=soon = %d; want 400", ans.status)
	}
}

func TestControlFaultInvalidateRegister(t *testing.T) {
	sim, ts := newSim(t)
	ans := do(t, "POST", ts.URL+"/_sim/fault", nil, []byte(`{"broker":"kis","path":"/oauth2/tokenP","kind":"server_error","status":502}`))
	if ans.status != 200 {
		t.Fatalf("POST /_sim/fault = %d %s", ans.status, ans.raw)
	}
	if got := kisIssue(t, ts, DemoKISMock); got.status != 502 {
		t.Errorf("tokenP after fault = %d; want 502", got.status)
	}
	for _, bad := range []string{`{"kind":"meteor"}`, `{"kind":"latency","delay":"soon"}`, `{"kind":"hang","broker":"nh"}`, `not json`} {
		if ans := do(t, "POST", ts.URL+"/_sim/fault", nil, []byte(bad)); ans.status != 400 {
			t.Errorf("POST /_sim/fault %s = %d; want 400", bad, ans.status)
		}
	}

	tok := kisToken(t, ts, DemoKISMock)
	ans = do(t, "POST", ts.URL+"/_sim/invalidate", nil, map[string]string{"token": tok})
	if ans.status != 200 || ans.body["invalidated"] != true || strings.Contains(string(ans.raw), tok) {
		t.Errorf("POST /_sim/invalidate = %d %s", ans.status, ans.raw)
	}
	if got := kisPrice(t, ts, kauth.Mock, DemoKISMock, tok); got.str("msg_cd") != "EGW00121" {
		t.Errorf("call after invalidate = %s", got.raw)
	}

	user := App{kauth.Kiwoom, kauth.Real, "USERKIWOOMKEY", "USERKIWOOMSECRET"}
	ans = do(t, "POST", ts.URL+"/_sim/register", nil, map[string]string{"broker": "kiwoom", "env": "real", "appkey": user.AppKey, "secret": user.Secret})
	if ans.status != 200 || strings.Contains(string(ans.raw), user.Secret) || strings.Contains(string(ans.raw), user.AppKey) {
		t.Errorf("POST /_sim/register = %d %s", ans.status, ans.raw)
	}
	kiwoomToken(t, ts, user)
	if ans := do(t, "POST", ts.URL+"/_sim/register", nil, map[string]string{"broker": "nomura", "env": "real", "appkey": "FAKE-KEY", "secret": "FAKE-SECRET"}); ans.status != 400 || !strings.Contains(string(ans.raw), "unknown broker") {
		t.Errorf("register at a broker the simulator does not serve = %d %s; want 400 unknown broker", ans.status, ans.raw)
	}
	if ans := do(t, "POST", ts.URL+"/_sim/register", nil, map[string]string{"broker": "kiwoom", "env": "real"}); ans.status != 400 {
		t.Errorf("register without key = %d; want 400", ans.status)
	}

	apps := do(t, "GET", ts.URL+"/_sim/apps", nil, nil)
	if strings.Contains(string(apps.raw), user.Secret) || !strings.Contains(string(apps.raw), kauth.Fingerprint(user.AppKey)) ||
		!strings.Contains(string(apps.raw), DemoKISMock.Secret) {
		t.Errorf("GET /_sim/apps = %s; want demo secrets shown, others as fingerprints", apps.raw)
	}
	if banner := sim.Banner(ts.URL); strings.Contains(banner, user.Secret) || strings.Contains(banner, user.AppKey) ||
		!strings.Contains(banner, ts.URL+"/kiwoom/mock") || !strings.Contains(banner, "KIS_APPKEY="+DemoKISReal.AppKey) {
		t.Errorf("Banner = %s", banner)
	}
}

func TestStats(t *testing.T) {
	sim, ts := newSim(t)
	kisTok := kisToken(t, ts, DemoKISMock)                              // issued
	kisIssue(t, ts, DemoKISMock)                                        // rejected: EGW00133
	sim.Advance(2 * time.Minute)                                        //
	kisToken(t, ts, DemoKISMock)                                        // reissued
	kisPrice(t, ts, kauth.Mock, DemoKISMock, kisTok)                    // call ok
	kisRevoke(t, ts, DemoKISMock, kisTok)                               // revoked
	kisPrice(t, ts, kauth.Mock, DemoKISMock, kisTok)                    // call, token rejected
	kwTok := kiwoomToken(t, ts, DemoKiwoomReal)                         // issued
	kiwoomStock(t, ts, kauth.Real, kwTok, nil, nil)                     // call ok
	kiwoomIssue(t, ts, kauth.Real, App{AppKey: "nope", Secret: "nope"}) // rejected

	st := sim.Stats()
	want := Counts{Requests: 9, Issued: 2, Reissued: 1, Revoked: 1, Calls: 3, OK: 2, Rejected: 3, RateLimited: 1, TokenRejected: 1}
	if st.Counts != want {
		t.Errorf("totals = %+v\nwant     %+v", st.Counts, want)
	}
	if got := st.Brokers[kauth.KIS]; got.Issued != 1 || got.Reissued != 1 || got.Calls != 2 || got.Revoked != 1 {
		t.Errorf("kis = %+v", got)
	}
	if got := st.Envs[kauth.Real]; got.Issued != 1 || got.Calls != 1 || got.Rejected != 1 {
		t.Errorf("real = %+v", got)
	}
	if got := st.Targets["kiwoom/real"]; got.Issued != 1 || got.Requests != 3 {
		t.Errorf("kiwoom/real = %+v", got)
	}
	key := kauth.Key{Broker: kauth.KIS, Env: kauth.Mock, Fingerprint: kauth.Fingerprint(DemoKISMock.AppKey)}.String()
	if got := st.Apps[key]; got.Fingerprint != kauth.Fingerprint(DemoKISMock.AppKey) || got.Issued != 1 || got.Reissued != 1 || got.Rejected != 2 {
		t.Errorf("apps[%s] = %+v", key, got)
	}
	if got := sim.Issued(kauth.KIS, kauth.Mock, DemoKISMock.AppKey); got != 1 {
		t.Errorf("Issued = %d; want 1", got)
	}

	// Over HTTP: the same numbers, totals at the top level, no secrets.
	ans := do(t, "GET", ts.URL+"/_sim/stats", nil, nil)
	if ans.num("issued") != 2 || ans.num("revoked") != 1 || ans.num("calls") != 3 {
		t.Errorf("GET /_sim/stats = %s", ans.raw)
	}
	for _, secret := range []string{DemoKISMock.AppKey, DemoKISMock.Secret, kisTok, kwTok} {
		if strings.Contains(string(ans.raw), secret) {
			t.Errorf("stats JSON reveals a key, secret or token")
		}
	}
	var back Stats
	if err := json.Unmarshal(ans.raw, &back); err != nil || back.Issued != 2 || back.Apps[key].Issued != 1 {
		t.Errorf("Stats JSON does not round-trip: %v %+v", err, back.Counts)
	}
}

func TestKISConcurrentIssueOnePerMinute(t *testing.T) {
	sim, ts := newSim(t)
	const n = 20
	statuses := make(chan int, n)
	for i := 0; i < n; i++ {
		go func() {
			a := DemoKISMock
			ans, err := tryDo("POST", base(ts, kauth.KIS, kauth.Mock)+"/oauth2/tokenP", nil,
				map[string]string{"grant_type": "client_credentials", "appkey": a.AppKey, "appsecret": a.Secret})
			if err != nil {
				t.Error(err)
			}
			statuses <- ans.status
		}()
	}
	count := map[int]int{}
	for i := 0; i < n; i++ {
		count[<-statuses]++
	}
	if count[http.StatusOK] != 1 || count[http.StatusForbidden] != n-1 {
		t.Errorf("statuses = %v; want one 200 and %d 403", count, n-1)
	}
	if st := sim.Stats(); st.Issued != 1 || st.RateLimited != n-1 {
		t.Errorf("stats = %+v", st.Counts)
	}
}

func TestLogfNeverSeesSecrets(t *testing.T) {
	sim, ts := newSim(t)
	var lines []string
	sim.Logf = func(format string, args ...any) {
		lines = append(lines, strings.TrimSpace(fmtSprintf(format, args...)))
	}
	tok := kisToken(t, ts, DemoKISMock)
	kisPrice(t, ts, kauth.Mock, DemoKISMock, tok)
	kwTok := kiwoomToken(t, ts, DemoKiwoomMock)
	kiwoomStock(t, ts, kauth.Mock, kwTok, nil, nil)
	sim.Inject(Fault{Kind: ServerError})
	kisIssue(t, ts, DemoKISMock)
	if len(lines) < 5 {
		t.Fatalf("got %d log lines; want at least 5", len(lines))
	}
	for _, l := range lines {
		for _, secret := range []string{DemoKISMock.AppKey, DemoKISMock.Secret, DemoKiwoomMock.AppKey, DemoKiwoomMock.Secret, tok, kwTok} {
			if strings.Contains(l, secret) {
				t.Errorf("log line reveals a secret: %s", l)
			}
		}
	}
}

var fmtSprintf = fmt.Sprintf
