package wire

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

func TestNumber(t *testing.T) {
	tests := []struct {
		in      string
		want    Number
		wantInt int64
		zero    bool
		wantErr bool
	}{
		{`0`, "0", 0, true, false},
		{`"0"`, "0", 0, true, false},
		{`5`, "5", 5, false, false},
		{`" 5 "`, "5", 5, false, false},
		{`200`, "200", 200, false, false},
		{`"200"`, "200", 200, false, false},
		{`86400.0`, "86400.0", 86400, false, false},
		{`-1`, "-1", -1, false, false},
		{`null`, "", 0, true, false},
		{`true`, "", 0, false, true},
		{`{}`, "", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var n Number
			err := json.Unmarshal([]byte(tt.in), &n)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error = %v; want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if n != tt.want {
				t.Errorf("Unmarshal(%s) = %q; want %q", tt.in, n, tt.want)
			}
			if i, ok := n.Int(); n != "" && (!ok || i != tt.wantInt) {
				t.Errorf("Number(%q).Int() = %d, %v; want %d", n, i, ok, tt.wantInt)
			}
			if n.IsZero() != tt.zero {
				t.Errorf("Number(%q).IsZero() = %v; want %v", n, n.IsZero(), tt.zero)
			}
		})
	}
}

func TestPeek(t *testing.T) {
	body := strings.Repeat("0123456789", 1000)
	tests := []struct {
		name string
		n    int
		want string
	}{
		{"prefix", 16, body[:16]},
		{"whole", len(body) + 10, body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			closed := false
			resp := &http.Response{Body: closer{strings.NewReader(body), &closed}}
			if got := Peek(resp, tt.n); string(got) != tt.want {
				t.Errorf("Peek() = %q; want %q", got, tt.want)
			}
			rest, err := io.ReadAll(resp.Body)
			if err != nil || string(rest) != body {
				t.Errorf("body after Peek() = %d bytes, %v; want the whole body", len(rest), err)
			}
			resp.Body.Close()
			if !closed {
				t.Error("closing the body after Peek() did not close the original")
			}
		})
	}
	t.Run("read error is kept", func(t *testing.T) {
		boom := errors.New("connection reset")
		resp := &http.Response{Body: io.NopCloser(io.MultiReader(strings.NewReader("abc"), errReader{boom}))}
		if got := Peek(resp, 10); string(got) != "abc" {
			t.Errorf("Peek() = %q; want %q", got, "abc")
		}
		got, err := io.ReadAll(resp.Body)
		if string(got) != "abc" || !errors.Is(err, boom) {
			t.Errorf("body after Peek() = %q, %v; want %q, %v", got, err, "abc", boom)
		}
	})
	t.Run("no body", func(t *testing.T) {
		if got := Peek(&http.Response{Body: http.NoBody}, 10); got != nil {
			t.Errorf("Peek(NoBody) = %q; want nil", got)
		}
	})
}

type closer struct {
	io.Reader
	closed *bool
}

func (c closer) Close() error { *c.closed = true; return nil }

func TestTopLevel(t *testing.T) {
	tests := []struct {
		name string
		data string
		want map[string]string
	}{
		{"whole", `{"rt_cd":"1","msg_cd":"EGW00123","msg1":"x"}`, map[string]string{"msg_cd": "EGW00123"}},
		{"cut short after the key", `{"rt_cd":"1","msg_cd":"EGW00123","output":[1,2,`, map[string]string{"msg_cd": "EGW00123"}},
		{"nested keys are not top level", `{"output":{"msg_cd":"EGW00123"}}`, map[string]string{}},
		{"number", `{"return_code":3}`, map[string]string{"return_code": "3"}},
		{"not JSON", `<html>`, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TopLevel([]byte(tt.data), "msg_cd", "return_code")
			if len(got) != len(tt.want) {
				t.Errorf("TopLevel(%s) = %v; want %v", tt.data, got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("TopLevel(%s)[%s] = %q; want %q", tt.data, k, got[k], v)
				}
			}
		})
	}
}

func TestShape(t *testing.T) {
	tests := []struct {
		body, contentType, want string
	}{
		{`{"a":1}`, "application/json", ""},
		{``, "", "empty body"},
		{"  \n", "", "empty body"},
		{`<html></html>`, "", "HTML page instead of JSON"},
		{`Bad Gateway`, "text/html", "HTML page instead of JSON"},
		{`503 Service Unavailable`, "text/plain", "non-JSON body"},
		{`[1]`, "", "non-JSON body"},
		{`{"a":`, "", "malformed JSON"},
	}
	for _, tt := range tests {
		h := http.Header{"Content-Type": {tt.contentType}}
		if got := Shape([]byte(tt.body), h); got != tt.want {
			t.Errorf("Shape(%q, %q) = %q; want %q", tt.body, tt.contentType, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 11, 6, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"Wed, 06 Nov 2024 00:01:00 GMT", time.Minute},
		{"Tue, 05 Nov 2024 00:00:00 GMT", 0},
		{"999999999", 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := RetryAfter(http.Header{"Retry-After": {tt.value}}, now); got != tt.want {
			t.Errorf("RetryAfter(%q) = %v; want %v", tt.value, got, tt.want)
		}
	}
}

func TestRedaction(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"기간이 만료된 token 입니다.", "기간이 만료된 token 입니다."},
		{"인증에 실패했습니다[8005:Token이 유효하지 않습니다]", "인증에 실패했습니다[8005:Token이 유효하지 않습니다]"},
		{"ERROR INVALID INPUT_FILED_SIZE [FID_INPUT_ISCD] [0]", "ERROR INVALID INPUT_FILED_SIZE [FID_INPUT_ISCD] [0]"},
		{"path /uapi/domestic-stock/v1/quotations/inquire-price", "path /uapi/domestic-stock/v1/quotations/inquire-price"},
		{"key PSg5dctL9dKPo727J13Ur405OSXXXXXXXXXX rejected", "key <redacted> rejected"},
		{"token eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJ0b2tlbiJ9.sig", "token <redacted>"},
		{"the secret: s3cr3t", "the secret: <redacted>"},
	}
	for _, tt := range tests {
		if got := Message(tt.in, "s3cr3t"); got != tt.want {
			t.Errorf("Message(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	long := strings.Repeat("가", 300)
	if got := Message(long); len(got) > 210 || !strings.HasSuffix(got, "…") || !utf8Valid(got) {
		t.Errorf("Message(300 runes) = %d bytes %q; want at most ~200 bytes of valid UTF-8 ending in …", len(got), got)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestCode(t *testing.T) {
	for in, want := range map[string]string{
		"EGW00123":               "EGW00123",
		" 8005 ":                 "8005",
		"OPSQ0002":               "OPSQ0002",
		"a b":                    "",
		"<script>":               "",
		strings.Repeat("A", 25):  "",
		"fake/APPSECRET+value==": "",
		"APBK0919":               "APBK0919",
	} {
		if got := Code(in); got != want {
			t.Errorf("Code(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestBaseURL(t *testing.T) {
	t.Setenv("KAUTH_WIRE_TEST_URL", "http://env.example/")
	tests := []struct{ field, env, def, want string }{
		{"http://field.example/", "KAUTH_WIRE_TEST_URL", "http://def.example", "http://field.example"},
		{"", "KAUTH_WIRE_TEST_URL", "http://def.example", "http://env.example"},
		{"", "KAUTH_WIRE_TEST_UNSET", "http://def.example", "http://def.example"},
	}
	for _, tt := range tests {
		if got := BaseURL(tt.field, tt.env, tt.def); got != tt.want {
			t.Errorf("BaseURL(%q, %q, %q) = %q; want %q", tt.field, tt.env, tt.def, got, tt.want)
		}
	}
}

func TestEnvURL(t *testing.T) {
	tests := []struct {
		env  kauth.Env
		want string
	}{
		{kauth.Real, "http://real.example"},
		{kauth.Mock, "http://mock.example"},
		{"paper", ""},
	}
	for _, tt := range tests {
		if got := EnvURL("", "KAUTH_WIRE_TEST_UNSET", tt.env, "http://real.example/", "http://mock.example"); got != tt.want {
			t.Errorf("EnvURL(%q) = %q; want %q", tt.env, got, tt.want)
		}
	}
	if got := EnvURL("http://field.example", "KAUTH_WIRE_TEST_UNSET", "paper", "http://real.example", "http://mock.example"); got != "http://field.example" {
		t.Errorf("EnvURL with a field = %q; want the field", got)
	}
}

func TestNow(t *testing.T) {
	at := time.Date(2024, 11, 7, 8, 37, 13, 0, kauth.KST)
	if got := Now(func() time.Time { return at }); !got.Equal(at) {
		t.Errorf("Now(clock) = %v; want %v", got, at)
	}
	if got := Now(nil); time.Since(got) > time.Minute || time.Since(got) < 0 {
		t.Errorf("Now(nil) = %v; want about time.Now()", got)
	}
}

func TestTokenType(t *testing.T) {
	for in, want := range map[string]string{"": "Bearer", "bearer": "Bearer", " BEARER ": "Bearer", "MAC": "MAC"} {
		if got := TokenType(in); got != want {
			t.Errorf("TokenType(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestCheckCredentials(t *testing.T) {
	ok := kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Mock, AppKey: "k", AppSecret: "s"}
	tests := []struct {
		name    string
		edit    func(*kauth.Credentials)
		kind    error
		message string
	}{
		{"valid", func(*kauth.Credentials) {}, nil, ""},
		{"no broker", func(c *kauth.Credentials) { c.Broker = "" }, nil, ""},
		{"other broker", func(c *kauth.Credentials) { c.Broker = kauth.KIS }, kauth.ErrBadRequest, "credentials are for kis"},
		{"unknown env", func(c *kauth.Credentials) { c.Env = "paper" }, kauth.ErrBadRequest, `unknown env "paper"`},
		{"no app key", func(c *kauth.Credentials) { c.AppKey = "" }, kauth.ErrCredentials, "app key is empty"},
		{"no secret", func(c *kauth.Credentials) { c.AppSecret = "" }, kauth.ErrCredentials, "secret key is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := CheckCredentials(kauth.Kiwoom, c, "issue", "secret key")
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("CheckCredentials() = %v; want nil", err)
				}
				return
			}
			var e *kauth.Error
			if !errors.As(err, &e) || !errors.Is(err, tt.kind) || e.Message != tt.message || e.Broker != kauth.Kiwoom || e.Op != "issue" {
				t.Errorf("CheckCredentials() = %#v; want a kiwoom issue error of kind %v saying %q", err, tt.kind, tt.message)
			}
		})
	}
}

func TestPostJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || string(body) != `{"appkey":"k"}` {
			t.Errorf("request = %s %q %s; want POST application/json {\"appkey\":\"k\"}", r.Method, r.Header.Get("Content-Type"), body)
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	resp, data, err := PostJSON(t.Context(), srv.Client(), srv.URL, http.Header{"Content-Type": {"application/json"}}, map[string]string{"appkey": "k"})
	if err != nil || resp.StatusCode != http.StatusOK || string(data) != `{"ok":true}` {
		t.Fatalf("PostJSON() = %v, %s, %v; want 200 {\"ok\":true}", resp, data, err)
	}
	if _, _, err := PostJSON(t.Context(), srv.Client(), srv.URL, nil, func() {}); err == nil {
		t.Error("PostJSON(a func) succeeded; want the encoding error")
	}
}

func TestRedirectNamesHostOnly(t *testing.T) {
	req := httptest.NewRequest("POST", "https://broker.example:9443/oauth2/tokenP", nil)
	tests := []struct {
		status   int
		location string
		want     *kauth.RedirectError
	}{
		{200, "https://elsewhere.example/", nil},
		{404, "", nil},
		{307, "https://user:pass@elsewhere.example:8443/oauth2/tokenP?appkey=PSsecret", &kauth.RedirectError{StatusCode: 307, Host: "elsewhere.example:8443"}},
		{302, "/login?next=%2Foauth2", &kauth.RedirectError{StatusCode: 302, Host: "broker.example:9443"}},
		{308, "", &kauth.RedirectError{StatusCode: 308}},
		{301, "http://[::1", &kauth.RedirectError{StatusCode: 301}},
	}
	for _, tt := range tests {
		resp := &http.Response{StatusCode: tt.status, Header: http.Header{}, Request: req}
		if tt.location != "" {
			resp.Header.Set("Location", tt.location)
		}
		got := Redirect(resp)
		switch {
		case tt.want == nil && got != nil:
			t.Errorf("Redirect(%d %q) = %+v; want nil", tt.status, tt.location, *got)
		case tt.want != nil && (got == nil || *got != *tt.want):
			t.Errorf("Redirect(%d %q) = %v; want %+v", tt.status, tt.location, got, *tt.want)
		case got != nil && strings.ContainsAny(got.Error(), "?@"):
			t.Errorf("Redirect(%d %q).Error() = %q shows more than the host", tt.status, tt.location, got.Error())
		}
	}
}

func TestNoRedirectsLeavesTheClient(t *testing.T) {
	own := &http.Client{Timeout: time.Second}
	nc := NoRedirects(own)
	if own.CheckRedirect != nil {
		t.Error("NoRedirects set the caller's CheckRedirect")
	}
	if nc == own || nc.Timeout != time.Second || nc.CheckRedirect == nil {
		t.Errorf("NoRedirects(own) = %+v; want a copy with its timeout and a CheckRedirect", nc)
	}
	if NoRedirects(nil) == DefaultClient || DefaultClient.CheckRedirect != nil {
		t.Error("NoRedirects(nil) changed DefaultClient")
	}
}
