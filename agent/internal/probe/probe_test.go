package probe_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/probe"
	"github.com/kauth/kauth/internal/fakeclock"
	"github.com/kauth/kauth/internal/testlog"
)

// account is a served account as a Checker sees it: its current token, the
// probe answers it will get, and the tokens it dropped.
type account struct {
	mu          sync.Mutex
	current     string
	rejected    bool
	err         error
	probes      int
	invalidated []string
}

func (a *account) target(name string, key kauth.Key) probe.Target {
	return probe.Target{
		Account: name,
		Key:     key,
		Current: func() string { a.mu.Lock(); defer a.mu.Unlock(); return a.current },
		Probe: func(ctx context.Context, token string) (bool, error) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.probes++
			return a.rejected, a.err
		},
		Invalidate: func(token string) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.invalidated = append(a.invalidated, token)
			if a.current == token {
				a.current = ""
			}
		},
	}
}

var key = kauth.Credentials{Broker: "kis", Env: kauth.Mock, AppKey: "made-up-app-key", AppSecret: "made-up-secret"}.Key()

func TestCheckerDropsOnlyTheServedTokenTheBrokerRejects(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	c := probe.NewChecker(clock.Now, nil)
	acct := &account{current: "tok-1"}
	tg := acct.target("kis-mock", key)
	ctx := context.Background()

	// A token that is not the served one changes nothing and costs no call.
	if v, retry := c.Check(ctx, tg, "tok-old"); v != probe.NotCurrent || retry != 0 {
		t.Errorf("report of an old token = %s %v; want not_current 0", v, retry)
	}
	// The broker accepts the served token: it stays.
	if v, retry := c.Check(ctx, tg, "tok-1"); v != probe.Accepted || retry != 0 {
		t.Errorf("first report = %s %v; want accepted 0", v, retry)
	}
	// A report within the minute makes no call and says when one may run.
	clock.Advance(20 * time.Second)
	acct.rejected = true
	if v, retry := c.Check(ctx, tg, "tok-1"); v != probe.Accepted || retry != 40*time.Second {
		t.Errorf("second report = %s %v; want accepted 40s", v, retry)
	}
	if acct.probes != 1 || len(acct.invalidated) != 0 {
		t.Fatalf("probes %d, invalidated %q; want 1 probe, nothing dropped", acct.probes, acct.invalidated)
	}
	// A minute later the broker rejects it: it is dropped.
	clock.Advance(40 * time.Second)
	if v, _ := c.Check(ctx, tg, "tok-1"); v != probe.Confirmed {
		t.Errorf("report after a minute = %s; want confirmed", v)
	}
	if acct.probes != 2 || len(acct.invalidated) != 1 || acct.invalidated[0] != "tok-1" {
		t.Errorf("probes %d, invalidated %q; want 2 probes, tok-1 dropped", acct.probes, acct.invalidated)
	}
	// The Manager got the same token back at once: a new report within the
	// minute is confirmed without a call.
	acct.current = "tok-1"
	if v, _ := c.Check(ctx, tg, "tok-1"); v != probe.Confirmed || acct.probes != 2 {
		t.Errorf("report of the confirmed token = %s after %d probes; want confirmed, 2", v, acct.probes)
	}
	// Another token of the app key within the minute: unverified.
	acct.current = "tok-2"
	if v, retry := c.Check(ctx, tg, "tok-2"); v != probe.Unverified || retry != time.Minute {
		t.Errorf("report of a new token within the minute = %s %v; want unverified 1m", v, retry)
	}
}

func TestCheckerKeepsATokenItCouldNotCheck(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	var logs testlog.Buffer
	c := probe.NewChecker(clock.Now, logs.Logger())
	acct := &account{current: "tok-secret-value", rejected: true, err: errors.New("broker down")}
	if v, retry := c.Check(context.Background(), acct.target("kis-mock", key), "tok-secret-value"); v != probe.Unverified || retry != probe.Every {
		t.Errorf("verdict = %s %v; want unverified %v", v, retry, probe.Every)
	}
	if len(acct.invalidated) != 0 {
		t.Errorf("dropped %q on a failed probe", acct.invalidated)
	}
	w := logs.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "could not check a reported token") || !strings.Contains(w[0], "account=kis-mock") {
		t.Errorf("warnings = %q; want one naming the account", w)
	}
	if strings.Contains(logs.String(), "tok-secret-value") {
		t.Errorf("the log shows the whole token:\n%s", logs.String())
	}
}

func TestCheckerSharesProbesPerAppKey(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	c := probe.NewChecker(clock.Now, nil)
	acct := &account{current: "tok"}
	otherKey := kauth.Credentials{Broker: "kis", Env: kauth.Mock, AppKey: "other-made-up-key", AppSecret: "s"}.Key()
	c.Check(context.Background(), acct.target("a", key), "tok")
	c.Check(context.Background(), acct.target("b", key), "tok")
	if acct.probes != 1 {
		t.Errorf("two accounts of one app key made %d probes within a minute; want 1", acct.probes)
	}
	c.Check(context.Background(), acct.target("c", otherKey), "tok")
	if acct.probes != 2 {
		t.Errorf("another app key made no probe of its own (%d probes)", acct.probes)
	}
}

// provider authorizes with a bearer header, calls a token rejected on 401
// and probes GET /quote, whose success is {"ok":true}.
type provider struct{ kauth.Provider }

func (provider) Authorize(req *http.Request, c kauth.Credentials, t kauth.Token) {
	req.Header.Set("Authorization", "Bearer "+t.AccessToken)
}
func (provider) Rejected(resp *http.Response) bool { return resp.StatusCode == http.StatusUnauthorized }
func (provider) Probe(ctx context.Context, base *url.URL) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, "GET", base.JoinPath("/quote").String(), nil)
}
func (provider) ProbeOK(body []byte) bool { return string(body) == `{"ok":true}` }

// noProbe authorizes but has no probe call.
type noProbe struct{ kauth.Provider }

func (noProbe) Authorize(*http.Request, kauth.Credentials, kauth.Token) {}
func (noProbe) Rejected(*http.Response) bool                            { return false }

func TestCall(t *testing.T) {
	creds := kauth.Credentials{Broker: "kis", Env: kauth.Mock, AppKey: "made-up-app-key", AppSecret: "made-up-secret"}
	answers := map[string]func(w http.ResponseWriter){
		"good":     func(w http.ResponseWriter) { w.Write([]byte(`{"ok":true}`)) },
		"bad":      func(w http.ResponseWriter) { w.WriteHeader(http.StatusUnauthorized) },
		"limited":  func(w http.ResponseWriter) { w.Write([]byte(`{"ok":false,"code":"rate"}`)) },
		"html":     func(w http.ResponseWriter) { w.Write([]byte(`<html>`)) },
		"down":     func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) },
		"redirect": func(w http.ResponseWriter) { w.Header().Set("Location", "/elsewhere"); w.WriteHeader(http.StatusFound) },
	}
	var seen []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		answers[tok](w)
	}))
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	for _, tc := range []struct {
		token    string
		rejected bool
		err      string
	}{
		{"good", false, ""},
		{"bad", true, ""},
		{"limited", false, "error code"},
		{"html", false, "not the broker's JSON"},
		{"down", false, "503"},
		{"redirect", false, "redirect"},
	} {
		rejected, err := probe.Call(context.Background(), http.DefaultTransport, provider{}, creds, base, tc.token)
		if rejected != tc.rejected || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: rejected %v, err %v; want %v, an error with %q", tc.token, rejected, err, tc.rejected, tc.err)
		}
	}
	if len(seen) != 6 || seen[0] != "/quote" {
		t.Errorf("the server saw %q; want six probes of /quote", seen)
	}
	if _, err := probe.Call(context.Background(), http.DefaultTransport, noProbe{}, creds, base, "good"); err == nil || !strings.Contains(err.Error(), "no probe call for broker kis") {
		t.Errorf("a provider without a probe call: err %v", err)
	}
	if _, err := probe.Call(context.Background(), http.DefaultTransport, struct{ kauth.Provider }{}, creds, base, "good"); err == nil || !strings.Contains(err.Error(), "cannot authorize") {
		t.Errorf("a provider that cannot authorize: err %v", err)
	}
}
