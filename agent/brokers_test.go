package agent_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/realtime"
)

// gatewaySpecs are the registered brokers beyond KIS and Kiwoom (LS, DB).
func gatewaySpecs(t *testing.T) []kauth.BrokerSpec {
	var out []kauth.BrokerSpec
	for _, s := range brokers.All() {
		if s.Name != kauth.KIS && s.Name != kauth.Kiwoom {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		t.Skip("no other broker registered")
	}
	return out
}

// TestAgentServesEveryBroker: an account of each further broker gets its
// token from the agent, its probe call through /proxy with the token
// attached, its token endpoint from the facade in the broker's shape, its
// errors in the broker's shape, a one-line refusal of a WebSocket when
// the broker has no real-time protocol, and a report of its token checked
// with the broker's probe.
func TestAgentServesEveryBroker(t *testing.T) {
	specs := gatewaySpecs(t)
	clock := newFakeClock(time.Now())
	env := map[string]string{}
	var secrets []string
	h := newHarness(t, setup{clock: clock, cfg: func(c *agent.Config) {
		c.Accounts = c.Accounts[:0]
		for _, s := range specs {
			app := brokersim.Demo(s.Name, specEnv(s))
			env["K_"+string(s.Name)], env["S_"+string(s.Name)] = app.AppKey, app.Secret
			secrets = append(secrets, app.AppKey, app.Secret)
			c.Accounts = append(c.Accounts, agent.Account{Name: string(s.Name) + "-" + string(specEnv(s)), Broker: s.Name, Env: specEnv(s),
				AppKey: agent.Secret{Env: "K_" + string(s.Name)}, AppSecret: agent.Secret{Env: "S_" + string(s.Name)}})
		}
	}, opts: func(o *agent.Options) {
		get := o.Getenv
		o.Getenv = func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return get(k)
		}
	}, sim: func(s *brokersim.Server) {}, onSim: func(u string) {
		for _, s := range specs {
			env[s.BaseURLVar] = brokersim.BaseURL(u, s.Name, specEnv(s))
		}
	}})
	h.secrets = append(h.secrets, secrets...)
	for _, s := range specs {
		name := string(s.Name) + "-" + string(specEnv(s))
		t.Run(string(s.Name), func(t *testing.T) {
			bp := s.New("", nil, nil).(brokerProbe)
			tokenPath, _ := bp.FacadePaths()
			tok := h.token(name).AccessToken
			if tok == "" {
				t.Fatal("no token")
			}
			// The probe call through the proxy: the agent adds the token.
			probe, _ := bp.Probe(context.Background(), &url.URL{})
			hdr := http.Header{}
			for k, v := range probe.Header {
				hdr[k] = v
			}
			body := func() *strings.Reader {
				p, _ := bp.Probe(context.Background(), &url.URL{})
				var b strings.Builder
				if p.Body != nil {
					buf := make([]byte, 4096)
					n, _ := p.Body.Read(buf)
					b.Write(buf[:n])
				}
				return strings.NewReader(b.String())
			}
			r := h.viaUnix(probe.Method, "/proxy/"+name+probe.URL.Path, body(), hdr)
			if r.status != 200 || !bp.ProbeOK(r.body) {
				t.Fatalf("proxied %s = %d %s", probe.URL.Path, r.status, r.body)
			}
			// The token endpoint is never proxied.
			if r := h.viaUnix("POST", "/proxy/"+name+tokenPath, nil, nil); r.status == 200 {
				t.Errorf("proxied %s = 200; want it refused", tokenPath)
			}
			// The facade answers the token endpoint with the managed token,
			// in the broker's shape.
			f := h.do(h.tcp, h.facadeURL(name), "POST", tokenPath, strings.NewReader("grant_type=client_credentials&scope=oob"),
				http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
			if f.status != 200 || jsonField(t, f.body, "access_token") != tok || jsonField(t, f.body, "token_type") != "Bearer" {
				t.Errorf("facade %s = %d %s", tokenPath, f.status, f.body)
			}
			// And its API, with the token the bot holds.
			fc := h.do(h.tcp, h.facadeURL(name), probe.Method, probe.URL.Path, body(), withAuth(hdr, tok))
			if fc.status != 200 || !bp.ProbeOK(fc.body) {
				t.Errorf("facade %s = %d %s", probe.URL.Path, fc.status, fc.body)
			}
			// An unknown path: the broker's error shape.
			nf := h.do(h.tcp, h.facadeURL(name), "GET", "/nowhere", nil, nil)
			if nf.status != 404 || !strings.Contains(string(nf.body), `"not_found"`) || !sameKeys(t, nf.body, bp.(interface{ FacadeError(code, msg string) any }).FacadeError("not_found", "")) {
				t.Errorf("facade /nowhere = %d %s; want 404 in the broker's shape", nf.status, nf.body)
			}
			// No real-time protocol: the gateway refuses in one line.
			if _, ok := bp.(interface{ Realtime() realtime.Protocol }); !ok {
				ws := h.viaUnix("GET", "/ws/"+name, nil, http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}})
				if ws.status != http.StatusServiceUnavailable || !strings.Contains(string(ws.body), "has no real-time protocol") ||
					strings.Contains(strings.TrimSpace(string(ws.body)), "\n") {
					t.Errorf("/ws/%s = %d %s; want 503 saying %s has no real-time protocol", name, ws.status, ws.body, s.Name)
				}
			}
			// A report of the token is checked with the broker's probe.
			h.sim.InvalidateToken(tok)
			rep := h.viaUnix("POST", "/v1/accounts/"+name+"/invalidate", strings.NewReader(`{"token":"`+tok+`"}`), nil)
			var res agent.InvalidateResponse
			rep.json(t, &res)
			if !res.Invalidated || res.Reason != "confirmed" {
				t.Errorf("report of a dropped token = %d %+v; want confirmed", rep.status, res)
			}
			got := make(chan agent.TokenResponse, 1)
			go func() { got <- h.token(name) }()
			if fresh := awaitOnVirtualClock(h, clock, got); fresh.AccessToken == tok {
				t.Error("the dropped token is still served")
			}
		})
	}
}

// specEnv is the env the test serves s at: mock, or real for a broker
// with no paper-trading environment.
func specEnv(s kauth.BrokerSpec) kauth.Env {
	if s.MockURL == "" {
		return kauth.Real
	}
	return kauth.Mock
}

// sameKeys reports whether the JSON object body has the keys of want, an
// answer of the broker's shape.
func sameKeys(t *testing.T, body []byte, want any) bool {
	t.Helper()
	var got, w map[string]any
	raw, _ := json.Marshal(want)
	if json.Unmarshal(body, &got) != nil || json.Unmarshal(raw, &w) != nil || len(got) != len(w) {
		return false
	}
	for k := range w {
		if _, ok := got[k]; !ok {
			return false
		}
	}
	return true
}

func withAuth(h http.Header, tok string) http.Header {
	out := http.Header{}
	for k, v := range h {
		out[k] = v
	}
	out.Set("Authorization", "Bearer "+tok)
	return out
}

// brokerProbe is what this test asks of a broker's Provider: its probe
// call and its token endpoint.
type brokerProbe interface {
	Probe(ctx context.Context, base *url.URL) (*http.Request, error)
	ProbeOK(body []byte) bool
	FacadePaths() (token, revoke string)
}
