package brokersim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// epoch is the fixed base of the virtual clock in most tests:
// 2024-03-10 06:30:00 UTC = 15:30:00 KST.
var epoch = time.Date(2024, 3, 10, 6, 30, 0, 0, time.UTC)

// newSim returns a simulator with the demo apps whose clock stands still at
// epoch (Advance still moves it), served by an httptest server.
func newSim(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	sim := New()
	sim.Clock = func() time.Time { return epoch }
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, ts
}

// answer is a decoded response.
type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (a answer) str(k string) string {
	v, _ := a.body[k].(string)
	return v
}

func (a answer) num(k string) int64 {
	n, _ := a.body[k].(json.Number).Int64()
	return n
}

func do(t *testing.T, method, url string, header map[string]string, body any) answer {
	t.Helper()
	a, err := tryDo(method, url, header, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tryDo sends a request, with body (if not nil) as JSON or as raw bytes, and
// decodes a JSON answer. Unlike do it may run on any goroutine.
func tryDo(method, url string, header map[string]string, body any) (answer, error) {
	var rd io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(body); err != nil {
				return answer{}, err
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return answer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return answer{}, fmt.Errorf("%s %s: decoding %q: %w", method, url, raw, err)
		}
		a.body, _ = v.(map[string]any)
	}
	return a, nil
}

func base(ts *httptest.Server, b kauth.Broker, e kauth.Env) string { return BaseURL(ts.URL, b, e) }

func kisIssue(t *testing.T, ts *httptest.Server, a App) answer {
	t.Helper()
	return do(t, "POST", base(ts, kauth.KIS, a.Env)+"/oauth2/tokenP", nil,
		map[string]string{"grant_type": "client_credentials", "appkey": a.AppKey, "appsecret": a.Secret})
}

func kisToken(t *testing.T, ts *httptest.Server, a App) string {
	t.Helper()
	ans := kisIssue(t, ts, a)
	if ans.status != 200 || ans.str("access_token") == "" {
		t.Fatalf("tokenP = %d %s", ans.status, ans.raw)
	}
	return ans.str("access_token")
}

func kisRevoke(t *testing.T, ts *httptest.Server, a App, tok string) answer {
	t.Helper()
	return do(t, "POST", base(ts, kauth.KIS, a.Env)+"/oauth2/revokeP", nil,
		map[string]string{"appkey": a.AppKey, "appsecret": a.Secret, "token": tok})
}

// kisPrice calls inquire-price at env e as app a with token tok.
func kisPrice(t *testing.T, ts *httptest.Server, e kauth.Env, a App, tok string) answer {
	t.Helper()
	h := map[string]string{"appkey": a.AppKey, "appsecret": a.Secret, "tr_id": kisTrIDInquirePrice, "custtype": "P"}
	if tok != "" {
		h["authorization"] = "Bearer " + tok
	}
	return do(t, "GET", base(ts, kauth.KIS, e)+"/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", h, nil)
}

func kiwoomIssue(t *testing.T, ts *httptest.Server, e kauth.Env, a App) answer {
	t.Helper()
	return do(t, "POST", base(ts, kauth.Kiwoom, e)+"/oauth2/token", map[string]string{"api-id": "au10001"},
		map[string]string{"grant_type": "client_credentials", "appkey": a.AppKey, "secretkey": a.Secret})
}

func kiwoomToken(t *testing.T, ts *httptest.Server, a App) string {
	t.Helper()
	ans := kiwoomIssue(t, ts, a.Env, a)
	if ans.num("return_code") != 0 || ans.str("token") == "" {
		t.Fatalf("au10001 = %d %s", ans.status, ans.raw)
	}
	return ans.str("token")
}

func kiwoomStock(t *testing.T, ts *httptest.Server, e kauth.Env, tok string, header map[string]string, body any) answer {
	t.Helper()
	h := map[string]string{"api-id": "ka10001"}
	if tok != "" {
		h["authorization"] = "Bearer " + tok
	}
	for k, v := range header {
		h[k] = v
	}
	if body == nil {
		body = map[string]string{"stk_cd": "005930"}
	}
	return do(t, "POST", base(ts, kauth.Kiwoom, e)+"/api/dostk/stkinfo", h, body)
}

// returnCode returns a Kiwoom return_code, whether a number or a string.
func returnCode(t *testing.T, a answer) string {
	t.Helper()
	switch v := a.body["return_code"].(type) {
	case json.Number:
		return v.String()
	case string:
		return v
	}
	t.Fatalf("return_code missing or of type %T in %s", a.body["return_code"], a.raw)
	return ""
}
