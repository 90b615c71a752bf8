package brokers_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/internal/brokertest"
)

// TestListComplete checks that every listed broker parses by its names and
// fills every field the CLI, agent and simulator read, and that its
// Provider tells the engine its facts.
func TestListComplete(t *testing.T) {
	if len(brokers.All()) < 2 {
		t.Fatalf("the list holds %d brokers", len(brokers.All()))
	}
	seenVar := map[string]kauth.Broker{}
	seenName := map[string]kauth.Broker{}
	for _, s := range brokers.All() {
		t.Run(string(s.Name), func(t *testing.T) {
			if b, err := brokers.Parse(string(s.Name)); err != nil || b != s.Name {
				t.Fatalf("Parse(%q) = %q, %v", s.Name, b, err)
			}
			if b, err := brokers.Parse(" " + strings.ToUpper(string(s.Name)) + " "); err != nil || b != s.Name {
				t.Errorf("Parse(upper %q) = %q, %v", s.Name, b, err)
			}
			for _, a := range append([]string{string(s.Name)}, s.Aliases...) {
				if other, dup := seenName[a]; dup {
					t.Errorf("name %q also names %s", a, other)
				}
				seenName[a] = s.Name
				if b, err := brokers.Parse(a); err != nil || b != s.Name {
					t.Errorf("Parse(alias %q) = %q, %v", a, b, err)
				}
			}
			switch {
			case s.Display == "", s.RealURL == "", s.KeyVar == "", s.SecretVar == "",
				s.BaseURLVar == "", s.EnvVar == "", s.SecretName == "", s.New == nil:
				t.Fatalf("incomplete spec: %+v", s)
			}
			ap, ok := s.New("", nil, nil).(agentBroker)
			if !ok {
				t.Fatalf("provider %T lacks what the agent asks of a broker", s.New("", nil, nil))
			}
			tok, rev := ap.FacadePaths()
			if tok == "" || len(ap.APIPrefixes()) == 0 {
				t.Fatalf("FacadePaths() = %q, %q, APIPrefixes() = %q", tok, rev, ap.APIPrefixes())
			}
			// A broker with no paper-trading environment (Toss) has no
			// MockURL; its Provider refuses mock before sending anything.
			// One with no revoke endpoint names none; its Revoke fails
			// without sending.
			if s.MockURL == "" || rev == "" {
				srv := brokertest.NewServer(t, nil) // any request fails the test
				p := s.New(srv.URL, nil, nil)
				if s.MockURL == "" {
					_, err := p.Issue(context.Background(), kauth.Credentials{Broker: s.Name, Env: kauth.Mock, AppKey: "k", AppSecret: "s"})
					if !errors.Is(err, kauth.ErrBadRequest) || !strings.Contains(err.Error(), "mock") {
						t.Errorf("Issue at mock with no MockURL = %v; want a bad request naming mock", err)
					}
				}
				if rev == "" {
					err := p.Revoke(context.Background(), kauth.Credentials{Broker: s.Name, Env: kauth.Real, AppKey: "k", AppSecret: "s"}, "t")
					if !errors.Is(err, kauth.ErrBadRequest) || kauth.Retryable(err) {
						t.Errorf("Revoke with no revoke endpoint = %v; want a bad request, not retryable", err)
					}
				}
			}
			p := s.New("", nil, nil)
			if _, ok := p.(kauth.IssueSpacer); !ok {
				t.Errorf("provider %T does not tell its issuance spacing (kauth.IssueSpacer)", p)
			}
			if _, ok := p.(kauth.LifetimeCapper); !ok {
				t.Errorf("provider %T does not tell its longest lifetime (kauth.LifetimeCapper)", p)
			}
			if d := kauth.MinIssueInterval(p); d < time.Second {
				t.Errorf("MinIssueInterval = %v; want at least the 1 s guard", d)
			}
			if d := kauth.MaxLifetime(p); d < time.Hour {
				t.Errorf("MaxLifetime = %v", d)
			}
			// Kiwoom binds a token to the issuing IP (8010); no other listed
			// broker documents that.
			if got, want := kauth.BindsTokenToIP(p), s.Name == kauth.Kiwoom; got != want {
				t.Errorf("BindsTokenToIP = %v; want %v", got, want)
			}
			for _, v := range []string{s.KeyVar, s.SecretVar, s.BaseURLVar, s.EnvVar} {
				if other, dup := seenVar[v]; dup {
					t.Errorf("%s is also %s's variable", v, other)
				}
				seenVar[v] = s.Name
			}
			for _, e := range []kauth.Env{kauth.Real, kauth.Mock} {
				p := s.New("", nil, nil)
				l, ok := p.(kauth.Locator)
				if !ok {
					t.Fatalf("provider %T does not implement kauth.Locator", p)
				}
				if got := l.URL(e); got != s.URL(e) {
					t.Errorf("URL(%s) = %q, spec says %q", e, got, s.URL(e))
				}
				if _, ok := p.(kauth.Authorizer); !ok {
					t.Errorf("provider %T does not implement kauth.Authorizer", p)
				}
				if r := ap.DefaultRateLimit(e); r <= 0 {
					t.Errorf("DefaultRateLimit(%s) = %v", e, r)
				}
			}
			base, _ := url.Parse("http://127.0.0.1:1/" + string(s.Name) + "/real")
			req, err := ap.Probe(context.Background(), base)
			if err != nil {
				t.Fatal(err)
			}
			ok = false
			for _, pre := range ap.APIPrefixes() {
				if len(req.URL.Path) > len(base.Path)+len(pre) && req.URL.Path[len(base.Path):len(base.Path)+len(pre)] == pre {
					ok = true
				}
			}
			if !ok {
				t.Errorf("probe %s is outside the broker's prefixes %v", req.URL.Path, ap.APIPrefixes())
			}
			if ap.ProbeOK([]byte(`{}`)) || ap.ProbeOK([]byte(`not json`)) {
				t.Error("ProbeOK accepts an answer with no success code")
			}
		})
	}
}

// TestParseUnknown names the listed brokers in its error.
func TestParseUnknown(t *testing.T) {
	for _, in := range []string{"nope", "nomura", "nh", ""} {
		if b, err := brokers.Parse(in); err == nil {
			t.Errorf("Parse(%q) = %q, nil error", in, b)
		}
	}
	_, err := brokers.Parse("nope")
	if err == nil {
		t.Fatal("nope parsed")
	}
	for _, b := range brokers.Names() {
		if !contains(err.Error(), string(b)) {
			t.Errorf("error %q does not list %s", err, b)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// agentBroker is what the agent asks of every broker's Provider: the
// facade's endpoints and answers, the proxied API, the probe and the
// default rate limit.
type agentBroker interface {
	FacadePaths() (token, revoke string)
	FacadeToken(t kauth.Token, now time.Time) (http.Header, any)
	FacadeRevoke() (http.Header, any)
	FacadeError(code, msg string) any
	APIPrefixes() []string
	DefaultRateLimit(env kauth.Env) float64
	Probe(ctx context.Context, base *url.URL) (*http.Request, error)
	ProbeOK(body []byte) bool
}
