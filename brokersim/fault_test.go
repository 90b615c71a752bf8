package brokersim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// rawPost posts a KIS tokenP request with a client of its own (no
// connection reuse) and returns whatever came back.
func rawPost(t *testing.T, url string, timeout time.Duration) (*http.Response, []byte, error) {
	t.Helper()
	a := DemoKISMock
	body, _ := json.Marshal(map[string]string{"grant_type": "client_credentials", "appkey": a.AppKey, "appsecret": a.Secret})
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	defer c.CloseIdleConnections()
	resp, err := c.Post(url, "application/json; charset=UTF-8", bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp, raw, err
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault Fault
		check func(t *testing.T, resp *http.Response, raw []byte, err error, elapsed time.Duration)
	}{
		{"latency", Fault{Kind: Latency, Delay: 150 * time.Millisecond}, func(t *testing.T, resp *http.Response, raw []byte, err error, elapsed time.Duration) {
			if err != nil || resp.StatusCode != 200 || !bytes.Contains(raw, []byte("access_token")) {
				t.Errorf("got %v %s; want a normal answer", err, raw)
			}
			if elapsed < 150*time.Millisecond {
				t.Errorf("answered after %v; want at least 150ms", elapsed)
			}
		}},
		{"server error", Fault{Kind: ServerError}, func(t *testing.T, resp *http.Response, raw []byte, err error, _ time.Duration) {
			if err != nil || resp.StatusCode != 503 {
				t.Errorf("got %v; want 503", err)
			}
		}},
		{"server error 500", Fault{Kind: ServerError, Status: 500}, func(t *testing.T, resp *http.Response, raw []byte, err error, _ time.Duration) {
			if err != nil || resp.StatusCode != 500 {
				t.Errorf("got %v; want 500", err)
			}
		}},
		{"reset", Fault{Kind: Reset}, func(t *testing.T, resp *http.Response, raw []byte, err error, _ time.Duration) {
			if err == nil {
				t.Fatalf("got HTTP %d %s; want a connection error", resp.StatusCode, raw)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("got a timeout (%v); want a reset", err)
			}
		}},
		{"malformed JSON", Fault{Kind: MalformedJSON}, func(t *testing.T, resp *http.Response, raw []byte, err error, _ time.Duration) {
			if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("got %v; want 200 application/json", err)
			}
			var v any
			if json.Unmarshal(raw, &v) == nil {
				t.Errorf("body %s is valid JSON; want malformed", raw)
			}
		}},
		{"HTML page", Fault{Kind: HTMLPage}, func(t *testing.T, resp *http.Response, raw []byte, err error, _ time.Duration) {
			if err != nil || resp.StatusCode != 502 || resp.Header.Get("Content-Type") != "text/html" || !bytes.Contains(raw, []byte("<html>")) {
				t.Errorf("got %v %s; want a 502 HTML page", err, raw)
			}
		}},
		{"rate limit on tokenP", Fault{Kind: RateLimit}, func(t *testing.T, resp *http.Response, raw []byte, err error, _ time.Duration) {
			if err != nil || resp.StatusCode != 403 || !bytes.Contains(raw, []byte(`"EGW00133"`)) {
				t.Errorf("got %v %s; want 403 EGW00133", err, raw)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts := newSim(t)
			sim.Inject(tt.fault)
			url := base(ts, kauth.KIS, kauth.Mock) + "/oauth2/tokenP"
			start := time.Now()
			resp, raw, err := rawPost(t, url, 5*time.Second)
			tt.check(t, resp, raw, err, time.Since(start))
			// The fault is used up: the next request is answered normally.
			sim.Advance(time.Hour)
			if resp, raw, err := rawPost(t, url, 5*time.Second); err != nil || resp.StatusCode != 200 {
				t.Errorf("after the fault: %v %s; want 200", err, raw)
			}
			if got := sim.Stats().Faults; got != 1 {
				t.Errorf("Stats().Faults = %d; want 1", got)
			}
		})
	}
}

func TestFaultHangEndsWithClient(t *testing.T) {
	for _, method := range []string{"POST tokenP", "GET inquire-price"} {
		t.Run(method, func(t *testing.T) {
			sim, ts := newSim(t)
			sim.Inject(Fault{Kind: Hang})
			c := &http.Client{Timeout: 200 * time.Millisecond}
			defer c.CloseIdleConnections()
			var err error
			start := time.Now()
			if method == "POST tokenP" {
				_, _, err = rawPost(t, base(ts, kauth.KIS, kauth.Mock)+"/oauth2/tokenP", 200*time.Millisecond)
			} else {
				var resp *http.Response
				resp, err = c.Get(base(ts, kauth.KIS, kauth.Mock) + "/uapi/domestic-stock/v1/quotations/inquire-price")
				if err == nil {
					resp.Body.Close()
				}
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("got %v; want a client timeout", err)
			}
			if e := time.Since(start); e > 2*time.Second {
				t.Errorf("client gave up after %v", e)
			}
			deadline := time.Now().Add(2 * time.Second)
			for sim.hanging.Load() != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the hung handler did not return after the client gave up")
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

func TestFaultHangWithDelayGivesUp(t *testing.T) {
	sim, ts := newSim(t)
	sim.Inject(Fault{Kind: Hang, Delay: 50 * time.Millisecond})
	resp, raw, err := rawPost(t, base(ts, kauth.KIS, kauth.Mock)+"/oauth2/tokenP", 5*time.Second)
	if err != nil || resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("got %v %s; want 504", err, raw)
	}
}

func TestFaultRateLimitAndInvalidToken(t *testing.T) {
	sim, ts := newSim(t)
	kisTok := kisToken(t, ts, DemoKISMock)
	kwTok := kiwoomToken(t, ts, DemoKiwoomMock)

	sim.Inject(Fault{Broker: kauth.KIS, Kind: RateLimit})
	if ans := kisPrice(t, ts, kauth.Mock, DemoKISMock, kisTok); ans.status != 500 || ans.str("msg_cd") != "EGW00201" {
		t.Errorf("KIS call under RateLimit = %d %s; want 500 EGW00201", ans.status, ans.raw)
	}
	sim.Inject(Fault{Broker: kauth.Kiwoom, Kind: RateLimit})
	if ans := kiwoomStock(t, ts, kauth.Mock, kwTok, nil, nil); returnCode(t, ans) != "5" || !strings.Contains(ans.str("return_msg"), "[1700:") {
		t.Errorf("Kiwoom call under RateLimit = %s; want return_code 5 [1700:…]", ans.raw)
	}

	sim.Inject(Fault{Broker: kauth.KIS, Path: "/uapi/domestic-stock/v1/quotations/inquire-price", Kind: InvalidToken})
	if ans := kisPrice(t, ts, kauth.Mock, DemoKISMock, kisTok); ans.str("msg_cd") != "EGW00121" {
		t.Errorf("KIS call under InvalidToken = %s; want EGW00121", ans.raw)
	}
	// The token stays invalid, and the next issue mints a new one.
	if ans := kisPrice(t, ts, kauth.Mock, DemoKISMock, kisTok); ans.str("msg_cd") != "EGW00121" {
		t.Errorf("KIS call after InvalidToken = %s; want EGW00121", ans.raw)
	}
	sim.Advance(time.Minute)
	if fresh := kisToken(t, ts, DemoKISMock); fresh == kisTok {
		t.Errorf("tokenP after InvalidToken returned the rejected token")
	}
	sim.Inject(Fault{Broker: kauth.Kiwoom, Kind: InvalidToken})
	if ans := kiwoomStock(t, ts, kauth.Mock, kwTok, nil, nil); returnCode(t, ans) != "3" || !strings.Contains(ans.str("return_msg"), "[8005:") {
		t.Errorf("Kiwoom call under InvalidToken = %s; want 8005", ans.raw)
	}
}

func TestReissueInvalidated(t *testing.T) {
	sim, ts := newSim(t)
	sim.ReissueInvalidated = true
	tok := kisToken(t, ts, DemoKISMock)
	sim.InvalidateToken(tok)
	sim.Advance(2 * time.Minute)
	if again := kisToken(t, ts, DemoKISMock); again != tok {
		t.Errorf("with ReissueInvalidated, tokenP minted a new token; want the rejected one back")
	}
	if ans := kisPrice(t, ts, kauth.Mock, DemoKISMock, tok); ans.str("msg_cd") != "EGW00121" {
		t.Errorf("call = %s; want EGW00121 still", ans.raw)
	}
}

func TestFaultMatching(t *testing.T) {
	sim, ts := newSim(t)
	sim.Inject(Fault{Broker: kauth.Kiwoom, Env: kauth.Real, Path: "/oauth2/token", Kind: ServerError, Count: 2})
	// Other brokers, envs and paths are untouched.
	kisToken(t, ts, DemoKISMock)
	kiwoomToken(t, ts, DemoKiwoomMock)
	for i := 0; i < 2; i++ {
		if ans := kiwoomIssue(t, ts, kauth.Real, DemoKiwoomReal); ans.status != 503 {
			t.Errorf("matching request %d = %d; want 503", i+1, ans.status)
		}
	}
	if ans := kiwoomIssue(t, ts, kauth.Real, DemoKiwoomReal); ans.status != 200 {
		t.Errorf("third request = %d; want 200 (Count 2 used up)", ans.status)
	}
	sim.Inject(Fault{Kind: ServerError})
	sim.ClearFaults()
	if ans := kisIssue(t, ts, DemoKISReal); ans.status != 200 {
		t.Errorf("after ClearFaults = %d; want 200", ans.status)
	}
}

func TestFaultKindText(t *testing.T) {
	for k, name := range faultKindNames {
		for _, s := range []string{name, strings.ToUpper(name), strings.ReplaceAll(name, "_", "-")} {
			if got, err := ParseFaultKind(s); err != nil || got != k {
				t.Errorf("ParseFaultKind(%q) = %v, %v; want %v", s, got, err, k)
			}
		}
	}
	if got, err := ParseFaultKind("ServerError"); err != nil || got != ServerError {
		t.Errorf("ParseFaultKind(ServerError) = %v, %v", got, err)
	}
	if _, err := ParseFaultKind("meteor"); err == nil {
		t.Errorf("ParseFaultKind(meteor) succeeded")
	}
	f := Fault{Broker: kauth.KIS, Kind: Latency, Delay: 250 * time.Millisecond, Count: 2}
	b, _ := json.Marshal(f)
	if want := `{"broker":"kis","kind":"latency","count":2,"delay":"250ms"}`; string(b) != want {
		t.Errorf("json = %s; want %s", b, want)
	}
	var back Fault
	if err := json.Unmarshal(b, &back); err != nil || back != f {
		t.Errorf("round trip = %+v, %v; want %+v", back, err, f)
	}
}

func TestReleaseHangs(t *testing.T) {
	sim, ts := newSim(t)
	sim.Inject(Fault{Kind: Hang, Count: 3})
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			_, err := tryDo("POST", base(ts, kauth.Kiwoom, kauth.Mock)+"/oauth2/token", nil, map[string]string{})
			errs <- err
		}()
	}
	for deadline := time.Now().Add(2 * time.Second); sim.hanging.Load() != 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests hanging; want 3", sim.hanging.Load())
		}
	}
	sim.ReleaseHangs()
	for i := 0; i < 3; i++ {
		if err := <-errs; err == nil {
			t.Errorf("released request got an answer; want a closed connection")
		}
	}
	for deadline := time.Now().Add(2 * time.Second); sim.hanging.Load() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still hanging", sim.hanging.Load())
		}
	}
	// Later hangs are not pre-released.
	sim.Inject(Fault{Kind: Hang, Delay: 30 * time.Millisecond})
	if ans := kiwoomIssue(t, ts, kauth.Mock, DemoKiwoomMock); ans.status != http.StatusGatewayTimeout {
		t.Errorf("hang after release = %d; want 504 after its delay", ans.status)
	}
}
