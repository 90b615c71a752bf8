package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/realtime"
)

// A made-up broker, "acme", that none of kauth's packages know: its token
// endpoint, its answers, its API paths, its probe and its rate limit are
// all its own, and come only from its Provider.
const acme kauth.Broker = "acme"

// acmeBroker is acme's server: POST /auth/issue answers a token, GET
// /v2/quote/… needs X-Acme-Auth: <token>, and GET /stream is its real-time
// WebSocket. Anything else fails the test.
type acmeBroker struct {
	t        *testing.T
	issued   atomic.Int32
	calls    atomic.Int32
	sessions atomic.Int32
	subs     atomic.Int32
}

// acmeFrame is every message of acme's real-time protocol: {"op":"sub"|
// "unsub","topic","key"} from the client, the same with "ok" back, and
// {"op":"data","topic","px"}.
type acmeFrame struct {
	Op    string `json:"op"`
	Topic string `json:"topic"`
	Key   string `json:"key,omitempty"`
	OK    bool   `json:"ok,omitempty"`
	Px    int    `json:"px,omitempty"`
}

// stream serves acme's WebSocket: each subscription with the current
// token is answered, then gets one data frame.
func (b *acmeBroker) stream(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	b.sessions.Add(1)
	for {
		_, data, err := c.Read(r.Context())
		if err != nil {
			return
		}
		var f acmeFrame
		json.Unmarshal(data, &f)
		f.OK, f.Key = f.Key == b.token(), ""
		if f.Op == "sub" && f.OK {
			b.subs.Add(1)
		}
		out, _ := json.Marshal(f)
		c.Write(r.Context(), websocket.MessageText, out)
		if f.Op == "sub" && f.OK {
			out, _ = json.Marshal(acmeFrame{Op: "data", Topic: f.Topic, Px: 100})
			c.Write(r.Context(), websocket.MessageText, out)
		}
	}
}

func (b *acmeBroker) token() string { return fmt.Sprintf("acme-made-up-token-%d", b.issued.Load()) }

func (b *acmeBroker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/stream":
		b.stream(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/auth/issue":
		b.issued.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"tok": b.token(), "ttl": 3600})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v2/quote/"):
		b.calls.Add(1)
		if r.Header.Get("X-Acme-Auth") != b.token() {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"fine": false})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"fine": true, "price": 100})
	default:
		b.t.Errorf("acme: unexpected request %s %s", r.Method, r.URL.Path)
		http.Error(w, "no such route", http.StatusNotFound)
	}
}

// acmeProvider is acme's Provider, with every method the agent asks of a
// broker.
type acmeProvider struct {
	base   string
	client *http.Client
}

func (p *acmeProvider) Issue(ctx context.Context, c kauth.Credentials) (kauth.Token, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/auth/issue", nil)
	resp, err := p.client.Do(req)
	if err != nil {
		return kauth.Token{}, err
	}
	defer resp.Body.Close()
	var a struct {
		Tok string `json:"tok"`
		TTL int    `json:"ttl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || a.Tok == "" {
		return kauth.Token{}, errors.New("acme: bad token answer")
	}
	return kauth.Token{AccessToken: a.Tok, Type: "Bearer", ExpiresAt: time.Now().Add(time.Duration(a.TTL) * time.Second)}, nil
}

func (p *acmeProvider) Revoke(context.Context, kauth.Credentials, string) error { return nil }

func (p *acmeProvider) Authorize(req *http.Request, _ kauth.Credentials, t kauth.Token) {
	req.Header.Set("X-Acme-Auth", t.AccessToken)
}

func (p *acmeProvider) Rejected(resp *http.Response) bool {
	return resp.StatusCode == http.StatusUnauthorized
}

func (p *acmeProvider) FacadePaths() (token, revoke string) { return "/auth/issue", "/auth/drop" }

func (p *acmeProvider) FacadeToken(t kauth.Token, now time.Time) (http.Header, any) {
	return http.Header{"X-Acme-Answer": {"token"}}, map[string]any{"tok": t.AccessToken, "ttl": int(t.ExpiresAt.Sub(now) / time.Second)}
}

func (p *acmeProvider) FacadeRevoke() (http.Header, any) {
	return http.Header{"X-Acme-Answer": {"revoke"}}, map[string]any{"dropped": true}
}

func (p *acmeProvider) FacadeError(code, msg string) any {
	return map[string]string{"acme_fault": code, "acme_text": msg}
}

func (p *acmeProvider) APIPrefixes() []string { return []string{"/v2/quote/"} }

func (p *acmeProvider) DefaultRateLimit(kauth.Env) float64 { return 7 }

func (p *acmeProvider) Probe(ctx context.Context, base *url.URL) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, http.MethodGet, base.String()+"/v2/quote/ACME", nil)
}

func (p *acmeProvider) ProbeOK(body []byte) bool {
	var b struct {
		Fine bool `json:"fine"`
	}
	return json.Unmarshal(body, &b) == nil && b.Fine
}

func (p *acmeProvider) Realtime() realtime.Protocol { return acmeRealtime{} }

// acmeRealtime is acme's real-time protocol, upstream and to local
// clients, which speak it as they would to acme.
type acmeRealtime struct{}

func (acmeRealtime) URL(_ kauth.Env, restBase string) string {
	return "ws" + strings.TrimPrefix(restBase, "http") + "/stream"
}

func (acmeRealtime) Login(string) []byte { return nil }

func (acmeRealtime) Request(t realtime.Topic, on bool, key string) []byte {
	op := "unsub"
	if on {
		op = "sub"
	}
	b, _ := json.Marshal(acmeFrame{Op: op, Topic: t.Key, Key: key})
	return b
}

func (acmeRealtime) Parse(msg []byte) realtime.Frame {
	var f acmeFrame
	if json.Unmarshal(msg, &f) != nil {
		return realtime.Frame{}
	}
	t := realtime.Topic{ID: "px", Key: f.Topic}
	switch f.Op {
	case "data":
		return realtime.Frame{Kind: realtime.FrameData, Topic: t}
	case "sub", "unsub":
		return realtime.Frame{Kind: realtime.FrameAnswer, Topic: t, Op: f.Op, OK: f.OK, Rejected: !f.OK, Code: "acme"}
	}
	return realtime.Frame{}
}

func (acmeRealtime) Answers(f realtime.Frame, t realtime.Topic, on bool) bool {
	return f.Kind == realtime.FrameAnswer && f.Topic == t && (f.Op == "sub") == on
}

func (acmeRealtime) Limits(int) (int, string, string) { return 6, "acme_limit", "too many topics" }

func (acmeRealtime) Published(id string) bool { return id == "px" }

func (acmeRealtime) NewClient(c realtime.ClientConfig) realtime.Client { return acmeClient{c} }

type acmeClient struct{ cfg realtime.ClientConfig }

func (cl acmeClient) Handle(ctx context.Context, msg []byte) [][]byte {
	var f acmeFrame
	if json.Unmarshal(msg, &f) != nil || f.Op != "sub" {
		return nil
	}
	_, err := cl.cfg.Member.Subscribe(ctx, realtime.Topic{ID: "px", Key: f.Topic})
	out, _ := json.Marshal(acmeFrame{Op: "sub", Topic: f.Topic, OK: err == nil})
	return [][]byte{out}
}

func (cl acmeClient) Translate(msg realtime.Message) [][]byte {
	if msg.Kind == realtime.Data {
		return [][]byte{msg.Raw}
	}
	return nil
}

func (acmeClient) Close() {}

var acmeSpec = kauth.BrokerSpec{
	Name: acme, Display: "Acme (made up)", Aliases: []string{"acme-sec"},
	RealURL: "https://acme.invalid", MockURL: "https://acme.invalid",
	KeyVar: "ACME_KEY", SecretVar: "ACME_SECRET", BaseURLVar: "ACME_BASE_URL", EnvVar: "ACME_ENV",
	New: func(base string, client *http.Client, _ func() time.Time) kauth.Provider {
		return &acmeProvider{base: base, client: client}
	},
}

// TestNewBrokerNeedsNoAgentChange plugs a broker the agent has never heard
// of into its account list, and shows the facade, the proxy, the probe, the
// default rate limit and the WebSocket gateway serve it in its own shapes:
// a new broker needs its package, not a case in the agent.
func TestNewBrokerNeedsNoAgentChange(t *testing.T) {
	upstream := &acmeBroker{t: t}
	srv := httptest.NewServer(upstream)
	t.Cleanup(srv.Close)
	h := newHarness(t, setup{
		cfg: func(c *agent.Config) {
			c.Accounts = append(c.Accounts, agent.Account{Name: "acme-real", Broker: "ACME-sec", Env: "real",
				AppKey: agent.Secret{Value: "acme-made-up-key"}, AppSecret: agent.Secret{Value: "acme-made-up-secret"},
				BaseURL: srv.URL})
		},
		opts: func(o *agent.Options) { o.Brokers = append(brokers.All(), acmeSpec) },
	})
	h.secrets = append(h.secrets, "acme-made-up-key", "acme-made-up-secret")
	facade := h.facadeURL("acme-real")

	// The token endpoint, in acme's shape, with its header.
	r := h.do(h.tcp, facade, "POST", "/auth/issue", strings.NewReader(`{}`), nil)
	var tok struct {
		Tok string `json:"tok"`
		TTL int    `json:"ttl"`
	}
	r.json(t, &tok)
	if r.status != 200 || tok.Tok != upstream.token() || tok.TTL <= 0 || r.header.Get("X-Acme-Answer") != "token" {
		t.Fatalf("facade token = %d %s %v; want acme's answer with %s", r.status, r.body, r.header, upstream.token())
	}
	h.sawToken(tok.Tok)
	if n := upstream.issued.Load(); n != 1 {
		t.Errorf("acme issued %d tokens; want 1", n)
	}

	// The revoke endpoint answers acme's success without revoking.
	if r := h.do(h.tcp, facade, "POST", "/auth/drop", strings.NewReader(`{}`), nil); r.status != 200 || !strings.Contains(string(r.body), `"dropped":true`) || r.header.Get("X-Acme-Answer") != "revoke" {
		t.Errorf("facade revoke = %d %s", r.status, r.body)
	}

	// acme's API is proxied, through the facade and /proxy, with acme's
	// own authorization header.
	if r := h.do(h.tcp, facade, "GET", "/v2/quote/ACME", nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"fine":true`) {
		t.Errorf("facade call = %d %s", r.status, r.body)
	}
	if r := h.viaUnix("GET", "/proxy/acme-real/v2/quote/ACME", nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"fine":true`) {
		t.Errorf("proxied call = %d %s", r.status, r.body)
	}
	// Outside acme's API: refused, in acme's error shape on the facade.
	if r := h.viaUnix("POST", "/proxy/acme-real/auth/issue", nil, nil); r.status == 200 {
		t.Errorf("proxied token endpoint = 200; want it refused")
	}
	if r := h.do(h.tcp, facade, "GET", "/v3/other", nil, nil); r.status != 404 || jsonField(t, r.body, "acme_fault") != "not_found" {
		t.Errorf("facade unknown path = %d %s; want 404 in acme's shape", r.status, r.body)
	}
	if r := h.do(h.tcp, facade, "GET", "/v2/quote/%2e%2e/x", nil, nil); r.status != 400 || jsonField(t, r.body, "acme_fault") != "bad_path" {
		t.Errorf("facade smuggled path = %d %s; want 400 in acme's shape", r.status, r.body)
	}

	// The default rate limit is acme's.
	var acct agent.AccountInfo
	h.viaUnix("GET", "/v1/accounts/acme-real", nil, nil).json(t, &acct)
	if acct.RateLimit != 7 {
		t.Errorf("rate limit = %v; want acme's 7", acct.RateLimit)
	}

	// A report of the served token is checked with acme's probe: acme
	// accepts it, so the agent keeps it.
	calls := upstream.calls.Load()
	var inv agent.InvalidateResponse
	body := strings.NewReader(`{"token":"` + tok.Tok + `"}`)
	h.viaUnix("POST", "/v1/accounts/acme-real/invalidate", body, http.Header{"Content-Type": {"application/json"}}).json(t, &inv)
	if inv.Reason != "accepted" || upstream.calls.Load() != calls+1 {
		t.Errorf("report = %+v after %d probe calls; want accepted after acme's probe", inv, upstream.calls.Load()-calls)
	}

	// Two bots on acme's real-time protocol share one upstream session
	// and one subscription, opened with the managed token.
	for i := 0; i < 2; i++ {
		w := h.ws("tcp", "acme-real")
		w.send(acmeFrame{Op: "sub", Topic: "ACME", Key: "placeholder"})
		// The first bot gets the answer and acme's data frame, in either
		// order (they come from the bot's request and from the session).
		got := map[string]acmeFrame{}
		for range 2 - i {
			var f acmeFrame
			if err := json.Unmarshal([]byte(w.next()), &f); err != nil {
				t.Fatalf("bot %d: %v", i, err)
			}
			got[f.Op] = f
		}
		if ack := got["sub"]; !ack.OK || ack.Topic != "ACME" {
			t.Fatalf("bot %d: subscribe answer %+v; want ok", i, got)
		}
		if data := got["data"]; i == 0 && data.Px != 100 {
			t.Fatalf("bot %d: frames %+v; want acme's data", i, got)
		}
	}
	if n, m := upstream.sessions.Load(), upstream.subs.Load(); n != 1 || m != 1 {
		t.Errorf("acme saw %d sessions and %d subscriptions; want 1 and 1", n, m)
	}
}
