package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/promtext"
)

type recorder struct {
	mu     sync.Mutex
	bodies []string
	paths  []string
	got    chan struct{}
}

func newRecorder(t *testing.T, status func(n int, w http.ResponseWriter) int) (*recorder, *httptest.Server) {
	r := &recorder{got: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		r.paths = append(r.paths, req.URL.Path)
		n := len(r.bodies)
		r.mu.Unlock()
		code := http.StatusOK
		if status != nil {
			code = status(n, w)
		}
		w.WriteHeader(code)
		r.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *recorder) wait(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-r.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("webhook got %d of %d requests", i, n)
		}
	}
}

func newDispatcher(t *testing.T, cfg Config) (*Dispatcher, *Metrics) {
	t.Helper()
	m := NewMetrics()
	cfg.Metrics = m
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d, m
}

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func TestFormats(t *testing.T) {
	rj, sj := newRecorder(t, nil)
	rs, ss := newRecorder(t, nil)
	rt, st := newRecorder(t, nil)
	d, m := newDispatcher(t, Config{Webhooks: []Webhook{
		{Name: "j", URL: sj.URL, Format: JSON},
		{Name: "s", URL: ss.URL, Format: Slack},
		{Name: "t", URL: st.URL, Format: Telegram, ChatID: "-100123", BotToken: "made-up-bot-token"},
	}})
	exp := t0.Add(24 * time.Hour)
	d.Send(Alert{Kind: Issued, Time: t0, Account: "main", App: "abc123abc123", Token: "fp0000000001", Reason: "first_token", ExpiresAt: &exp})
	rj.wait(t, 1)
	rs.wait(t, 1)
	rt.wait(t, 1)

	var a Alert
	if err := json.Unmarshal([]byte(rj.bodies[0]), &a); err != nil {
		t.Fatal(err)
	}
	if a.Kind != Issued || a.Account != "main" || a.Reason != "first_token" || a.Token != "fp0000000001" || !a.ExpiresAt.Equal(exp) {
		t.Fatalf("json body %s", rj.bodies[0])
	}
	var s map[string]string
	if err := json.Unmarshal([]byte(rs.bodies[0]), &s); err != nil || len(s) != 1 || !strings.Contains(s["text"], "issued on account main") || !strings.Contains(s["text"], "first_token") {
		t.Fatalf("slack body %s", rs.bodies[0])
	}
	var tg map[string]string
	if err := json.Unmarshal([]byte(rt.bodies[0]), &tg); err != nil || tg["chat_id"] != "-100123" || !strings.Contains(tg["text"], "issued on account main") {
		t.Fatalf("telegram body %s", rt.bodies[0])
	}
	if rt.paths[0] != "/botmade-up-bot-token/sendMessage" {
		t.Fatalf("telegram path %s", rt.paths[0])
	}
	if strings.Contains(rt.bodies[0], "made-up-bot-token") {
		t.Fatal("telegram body carries the bot token")
	}
	for _, n := range []string{"j", "s", "t"} {
		eventually(t, m, 1, "kauth_alerts_sent_total", "delivered", n)
	}
}

func TestFilter(t *testing.T) {
	r, srv := newRecorder(t, nil)
	d, _ := newDispatcher(t, Config{Webhooks: []Webhook{{Name: "j", URL: srv.URL, Format: JSON, Events: []Kind{CredentialsRejected}}}})
	d.Send(Alert{Kind: Issued, Account: "a"})
	d.Send(Alert{Kind: CredentialsRejected, Account: "b"})
	r.wait(t, 1)
	d.Close()
	if len(r.bodies) != 1 || !strings.Contains(r.bodies[0], `"credentials_rejected"`) {
		t.Fatalf("bodies %q", r.bodies)
	}
}

func TestRetryBackoffAndRetryAfter(t *testing.T) {
	r, srv := newRecorder(t, func(n int, w http.ResponseWriter) int {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "7")
			return http.StatusTooManyRequests
		case 2, 3:
			return http.StatusBadGateway
		}
		return http.StatusNoContent
	})
	var mu sync.Mutex
	var waits []time.Duration
	d, m := newDispatcher(t, Config{
		Webhooks: []Webhook{{Name: "j", URL: srv.URL, Format: JSON}},
		Backoff:  time.Second, MaxBackoff: time.Minute,
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return nil
		},
	})
	d.Send(Alert{Kind: StoreFailed, Account: "a"})
	r.wait(t, 4)
	eventually(t, m, 1, "kauth_alerts_sent_total", "delivered", "j")
	d.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 3 || waits[0] != 7*time.Second {
		t.Fatalf("waits %v: want Retry-After's 7s first", waits)
	}
	// after the 429 the backoff is 2s then 4s, each jittered into [b/2, b]
	if waits[1] < time.Second || waits[1] > 2*time.Second || waits[2] < 2*time.Second || waits[2] > 4*time.Second {
		t.Fatalf("waits %v: want jittered exponential backoff", waits)
	}
}

func TestGiveUp(t *testing.T) {
	r, srv := newRecorder(t, func(int, http.ResponseWriter) int { return http.StatusInternalServerError })
	d, m := newDispatcher(t, Config{
		Webhooks: []Webhook{{Name: "j", URL: srv.URL, Format: JSON}},
		Attempts: 3,
		Sleep:    func(context.Context, time.Duration) error { return nil },
	})
	d.Send(Alert{Kind: StoreFailed, Account: "a"})
	r.wait(t, 3)
	eventually(t, m, 1, "kauth_alerts_sent_total", "failed", "j")
	d.Close()
	if len(r.bodies) != 3 {
		t.Fatalf("%d attempts, want 3", len(r.bodies))
	}
	// a 4xx other than 408 and 429 is not retried
	r4, srv4 := newRecorder(t, func(int, http.ResponseWriter) int { return http.StatusNotFound })
	d4, m4 := newDispatcher(t, Config{Webhooks: []Webhook{{Name: "k", URL: srv4.URL, Format: JSON}}, Sleep: func(context.Context, time.Duration) error { return nil }})
	d4.Send(Alert{Kind: StoreFailed, Account: "a"})
	r4.wait(t, 1)
	eventually(t, m4, 1, "kauth_alerts_sent_total", "failed", "k")
	d4.Close()
	if len(r4.bodies) != 1 {
		t.Fatalf("404 tried %d times", len(r4.bodies))
	}
}

// A webhook that never answers fills its queue; Send still returns at once
// and the overflow is counted as dropped.
func TestHangingWebhookNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	in := make(chan struct{}, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in <- struct{}{}
		<-release
	}))
	defer srv.Close()
	defer close(release)
	d, m := newDispatcher(t, Config{Webhooks: []Webhook{{Name: "slow", URL: srv.URL, Format: JSON}}, QueueSize: 2})
	d.Send(Alert{Kind: Issued, Account: "a"})
	<-in // the sender is stuck in its first request
	start := time.Now()
	for i := 0; i < 100; i++ {
		d.Send(Alert{Kind: Issued, Account: "a"})
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("100 sends took %v", el)
	}
	if v := m.value("kauth_alerts_dropped_total", "slow"); v != 98 {
		t.Fatalf("dropped %v, want 98 (queue of 2)", v)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		w  Webhook
		ok bool
	}{
		{Webhook{Name: "a", URL: "https://hooks.example.com/x", Format: JSON}, true},
		{Webhook{Name: "a", URL: "http://127.0.0.1:9/x", Format: Slack}, true},
		{Webhook{Name: "a", URL: "http://localhost:9/x", Format: Slack}, true},
		{Webhook{Name: "a", URL: "http://hooks.example.com/x", Format: JSON}, false},
		{Webhook{Name: "a", URL: "http://hooks.example.com/x", Format: JSON, AllowInsecure: true}, true},
		{Webhook{Name: "a", URL: "ftp://hooks.example.com/x", Format: JSON}, false},
		{Webhook{Name: "a", URL: "/relative", Format: JSON}, false},
		{Webhook{Name: "a", URL: "https://x.example", Format: "xml"}, false},
		{Webhook{Name: "a", URL: "https://x.example", Format: JSON, Events: []Kind{"nope"}}, false},
		{Webhook{Name: "a", Format: Telegram, ChatID: "1", BotToken: "t"}, true},
		{Webhook{Name: "a", Format: Telegram, ChatID: "1"}, false},
		{Webhook{URL: "https://x.example", Format: JSON}, false},
	} {
		if err := c.w.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.w, err)
		}
	}
	_, err := New(Config{Metrics: NewMetrics(), Webhooks: []Webhook{
		{Name: "a", URL: "https://x.example", Format: JSON}, {Name: "a", URL: "https://y.example", Format: JSON}}})
	if err == nil {
		t.Fatal("a name used twice is accepted")
	}
}

func TestAccountReasons(t *testing.T) {
	var got []Alert
	w := NewAccount("main", "app0fp", func(a Alert) { got = append(got, a) }, func() time.Time { return t0 })
	for _, ev := range []kauth.Event{
		{Kind: kauth.EventIssued, Token: "fp1", Source: "broker"},
		{Kind: kauth.EventIssued, Token: "fp2", Source: "broker"}, // the first expired
		{Kind: kauth.EventRefreshed, Token: "fp3", Source: "broker"},
		{Kind: kauth.EventRefreshed, Token: "fp3b", Source: "broker", Turnover: true},
		{Kind: kauth.EventInvalidated, Token: "fp3b"},
		{Kind: kauth.EventIssued, Token: "fp4", Source: "broker"},
		{Kind: kauth.EventReused, Token: "fp4", Source: "store"}, // no alert
		{Kind: kauth.EventReused, Token: "fp4", Source: "broker"},
		{Kind: kauth.EventFailed, Err: kauth.ErrCredentials},
		{Kind: kauth.EventFailed, Err: kauth.ErrRateLimited},
		{Kind: kauth.EventFailed, Err: errors.New("network")}, // no alert
		{Kind: kauth.EventWaiting, Duration: time.Minute},
		{Kind: kauth.EventStoreFailed, Err: errors.New("redis down")},
	} {
		w.OnEvent(ev)
	}
	want := []struct {
		k      Kind
		reason string
	}{
		{Issued, "first_token"}, {Issued, "expiry"}, {Issued, "expiry"}, {Issued, "turnover"}, {Issued, "rejected_token"},
		{TokenReturnedAgain, ""}, {CredentialsRejected, ""}, {RateLimited, ""}, {RateLimited, "waiting 1m0s"}, {StoreFailed, "redis down"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d alerts %+v", len(got), got)
	}
	for i, w := range want {
		if got[i].Kind != w.k || !strings.HasPrefix(got[i].Reason, w.reason) || got[i].Account != "main" || got[i].App != "app0fp" {
			t.Errorf("alert %d = %+v, want %s %q", i, got[i], w.k, w.reason)
		}
	}
}

// value reads a series of m's registry.
func (m *Metrics) value(name string, labels ...string) float64 {
	b := promtext.NewBatch()
	m.Collect(b)
	var text strings.Builder
	b.WriteTo(&text)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(text.String()))
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			var got []string // by label name: outcome before webhook
			for _, l := range s.GetLabel() {
				got = append(got, l.GetValue())
			}
			if slices.Equal(got, labels) {
				return s.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// eventually waits until m's series reaches want.
func eventually(t *testing.T, m *Metrics, want float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for m.value(name, labels...) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, m.value(name, labels...), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// A webhook that redirects has failed: the alert goes nowhere else.
func TestRedirectIsAFailure(t *testing.T) {
	other, otherSrv := newRecorder(t, nil)
	r, srv := newRecorder(t, func(_ int, w http.ResponseWriter) int {
		w.Header().Set("Location", otherSrv.URL+"/elsewhere")
		return http.StatusTemporaryRedirect
	})
	d, m := newDispatcher(t, Config{
		Webhooks: []Webhook{{Name: "r", URL: srv.URL, Format: JSON}},
		Attempts: 1,
		Sleep:    func(context.Context, time.Duration) error { return nil },
	})
	d.Send(Alert{Kind: StoreFailed, Account: "a"})
	r.wait(t, 1)
	eventually(t, m, 1, "kauth_alerts_sent_total", "failed", "r")
	d.Close()
	other.mu.Lock()
	defer other.mu.Unlock()
	if len(other.bodies) != 0 {
		t.Fatalf("the redirect's target got %d alerts; want none", len(other.bodies))
	}
}
