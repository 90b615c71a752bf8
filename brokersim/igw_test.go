package brokersim

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
)

// igwBrokers are the listed brokers of the gateway family (LS, DB).
func igwBrokers(t *testing.T) []kauth.BrokerSpec {
	var out []kauth.BrokerSpec
	for _, s := range brokers.All() {
		if _, ok := igwBroker(s.Name); ok {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		t.Skip("no gateway broker listed")
	}
	return out
}

// simOf returns the simulator's entry of spec's broker.
func simOf(spec kauth.BrokerSpec) simBroker {
	sb, _ := lookup(spec.Name)
	return sb
}

// igwProbe makes the broker's protected call with tok at base.
func igwProbe(t *testing.T, spec kauth.BrokerSpec, base, tok string, drop string) (*http.Response, []byte) {
	t.Helper()
	u, _ := url.Parse(base)
	req, err := probeOf(spec).Probe(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if drop != "" {
		delete(req.Header, drop)
	}
	spec.New(base, nil, nil).(kauth.Authorizer).Authorize(req, kauth.Credentials{}, kauth.Token{AccessToken: tok})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestIGWIssueAndCall(t *testing.T) {
	for _, spec := range igwBrokers(t) {
		for _, e := range []kauth.Env{kauth.Real, kauth.Mock} {
			t.Run(string(spec.Name)+"/"+string(e), func(t *testing.T) {
				sim, ts := newSim(t)
				base := BaseURL(ts.URL, spec.Name, e)
				p := spec.New(base, nil, sim.Now)
				app := Demo(spec.Name, e)
				tok, err := p.Issue(context.Background(), app.Credentials())
				if err != nil {
					t.Fatal(err)
				}
				if want := simOf(spec).expiry(epoch); !tok.ExpiresAt.Equal(want) {
					t.Errorf("ExpiresAt = %v; want the spec's %v", tok.ExpiresAt, want)
				}
				resp, body := igwProbe(t, spec, base, tok.AccessToken, "")
				if resp.StatusCode != 200 || !probeOf(spec).ProbeOK(body) {
					t.Fatalf("probe = %d %s", resp.StatusCode, body)
				}
				// The gateway echoes the call's continuation headers.
				probe, _ := probeOf(spec).Probe(context.Background(), &url.URL{})
				for k := range probe.Header {
					if !strings.EqualFold(k, "content-type") && resp.Header.Values(k) == nil {
						t.Errorf("answer lacks the %s header", k)
					}
				}
				// A call without one of them is refused, not served.
				for k := range probe.Header {
					if strings.EqualFold(k, "content-type") {
						continue
					}
					if resp, body := igwProbe(t, spec, base, tok.AccessToken, k); resp.StatusCode == 200 && probeOf(spec).ProbeOK(body) {
						t.Errorf("a call without %s succeeded", k)
					}
				}
				// A token of the other env is rejected as the gateway does:
				// IGW00121 under HTTP 500, which Rejected reads.
				other := BaseURL(ts.URL, spec.Name, otherEnv(e))
				resp, body = igwProbe(t, spec, other, tok.AccessToken, "")
				if resp.StatusCode != 500 || !strings.Contains(string(body), "IGW00121") {
					t.Errorf("token at the other env = %d %s; want 500 IGW00121", resp.StatusCode, body)
				}
				// Revoked: the token is rejected.
				if err := p.Revoke(context.Background(), app.Credentials(), tok.AccessToken); err != nil {
					t.Fatal(err)
				}
				resp, body = igwProbe(t, spec, base, tok.AccessToken, "")
				resp.Body = io.NopCloser(strings.NewReader(string(body)))
				if !p.(kauth.Authorizer).Rejected(resp) {
					t.Errorf("after revoke: %d %s; want a rejection", resp.StatusCode, body)
				}
			})
		}
	}
}

func TestIGWIssueErrors(t *testing.T) {
	for _, spec := range igwBrokers(t) {
		t.Run(string(spec.Name), func(t *testing.T) {
			sim, ts := newSim(t)
			base := BaseURL(ts.URL, spec.Name, kauth.Real)
			p := spec.New(base, nil, sim.Now)
			app := Demo(spec.Name, kauth.Real)
			for _, tt := range []struct {
				name string
				c    kauth.Credentials
				code string
			}{
				{"bad secret", kauth.Credentials{Broker: spec.Name, Env: kauth.Real, AppKey: app.AppKey, AppSecret: "FAKE-WRONG"}, "IGW00105"},
				{"unknown key", kauth.Credentials{Broker: spec.Name, Env: kauth.Real, AppKey: "FAKE-UNKNOWN", AppSecret: app.Secret}, "IGW00103"},
				// The mock app's key is not a real app: the key decides.
				{"mock key at real", kauth.Credentials{Broker: spec.Name, Env: kauth.Real, AppKey: Demo(spec.Name, kauth.Mock).AppKey, AppSecret: Demo(spec.Name, kauth.Mock).Secret}, "IGW00103"},
			} {
				_, err := p.Issue(context.Background(), tt.c)
				var ke *kauth.Error
				if !errors.As(err, &ke) || !errors.Is(err, kauth.ErrCredentials) || ke.Code != tt.code || ke.StatusCode != 403 {
					t.Errorf("%s: err = %v; want credentials rejected, %s under 403", tt.name, err, tt.code)
				}
			}
			// A JSON body is not the gateway's form.
			if a := do(t, "POST", base+"/oauth2/token", nil, map[string]string{"grant_type": "client_credentials", "appkey": app.AppKey, "appsecretkey": app.Secret, "scope": "oob"}); a.status != 400 {
				t.Errorf("JSON token request = %d %s; want 400", a.status, a.raw)
			}
			if n := sim.Issued(spec.Name, kauth.Real, app.AppKey); n != 0 {
				t.Errorf("issued %d tokens; want none", n)
			}
		})
	}
}

func TestIGWIssuanceLimitAndReissue(t *testing.T) {
	for _, spec := range igwBrokers(t) {
		t.Run(string(spec.Name), func(t *testing.T) {
			sim, ts := newSim(t)
			base := BaseURL(ts.URL, spec.Name, kauth.Mock)
			p := spec.New(base, nil, sim.Now)
			c := Demo(spec.Name, kauth.Mock).Credentials()
			first, err := p.Issue(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Issue(context.Background(), c)
			if simOf(spec).issueLimit > 0 {
				var ke *kauth.Error
				if !errors.As(err, &ke) || !errors.Is(err, kauth.ErrRateLimited) || ke.Code != "IGW00201" {
					t.Fatalf("second issue at once = %v; want IGW00201", err)
				}
				sim.Advance(simOf(spec).issueLimit)
			} else if err != nil {
				t.Fatalf("second issue = %v; the broker publishes no limit", err)
			}
			second, err := p.Issue(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			mode := simOf(spec).reissue
			resp, body := igwProbe(t, spec, base, first.AccessToken, "")
			oldOK := resp.StatusCode == 200 && probeOf(spec).ProbeOK(body)
			switch mode {
			case ReissueSame:
				if second.AccessToken != first.AccessToken {
					t.Error("re-issue gave another token; the spec says same")
				}
			case ReissueNewRevokeOld:
				if second.AccessToken == first.AccessToken || oldOK {
					t.Errorf("re-issue: new=%v, old still works=%v; the spec says a new token that invalidates the old", second.AccessToken != first.AccessToken, oldOK)
				}
			}
		})
	}
}

func TestIGWCallRateLimit(t *testing.T) {
	for _, spec := range igwBrokers(t) {
		t.Run(string(spec.Name), func(t *testing.T) {
			sim, ts := newSim(t)
			base := BaseURL(ts.URL, spec.Name, kauth.Real)
			p := spec.New(base, nil, sim.Now)
			tok, err := p.Issue(context.Background(), Demo(spec.Name, kauth.Real).Credentials())
			if err != nil {
				t.Fatal(err)
			}
			limit := sim.callLimit(spec.Name, kauth.Real)
			for i := 0; i < limit; i++ {
				if resp, body := igwProbe(t, spec, base, tok.AccessToken, ""); !probeOf(spec).ProbeOK(body) {
					t.Fatalf("call %d = %d %s", i, resp.StatusCode, body)
				}
			}
			resp, body := igwProbe(t, spec, base, tok.AccessToken, "")
			resp.Body = io.NopCloser(strings.NewReader(string(body)))
			if !strings.Contains(string(body), "IGW00201") || p.(kauth.Authorizer).Rejected(resp) {
				t.Errorf("call past the limit = %d %s; want IGW00201, not a token rejection", resp.StatusCode, body)
			}
			sim.Advance(time.Second)
			if _, body := igwProbe(t, spec, base, tok.AccessToken, ""); !probeOf(spec).ProbeOK(body) {
				t.Errorf("a second later = %s; want success", body)
			}
		})
	}
}

func TestIGWRootPort(t *testing.T) {
	for _, spec := range igwBrokers(t) {
		sim := New()
		ts := httptest.NewServer(sim.Handler(spec.Name, kauth.Mock))
		p := spec.New(ts.URL, nil, nil)
		if _, err := p.Issue(context.Background(), Demo(spec.Name, kauth.Mock).Credentials()); err != nil {
			t.Errorf("%s at a root port: %v", spec.Name, err)
		}
		ts.Close()
	}
}

// probeOf returns the protected call of spec's broker.
func probeOf(spec kauth.BrokerSpec) interface {
	Probe(ctx context.Context, base *url.URL) (*http.Request, error)
	ProbeOK(body []byte) bool
} {
	return spec.New("", nil, nil).(interface {
		Probe(ctx context.Context, base *url.URL) (*http.Request, error)
		ProbeOK(body []byte) bool
	})
}
