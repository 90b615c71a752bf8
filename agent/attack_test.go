package agent_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth/agent"
)

// gateway is a path-normalizing gateway between the agent and the
// simulator, as nginx or Spring in front of a broker would be: it decodes
// the path, drops ;parameters, merges slashes and resolves dot segments,
// then forwards. It records what it saw.
type gateway struct {
	srv      *httptest.Server
	target   string // the simulator's root URL, set once known
	mu       sync.Mutex
	echo     bool        // answer with the request's app key and secret in headers
	paths    []string    // normalized paths forwarded
	trailers http.Header // every request trailer seen

	// bodies: "/kis/mock" → the answer to every API call under it, sent
	// in two flushed writes.
	bodies map[string][]byte
}

func newGateway(t *testing.T) *gateway {
	g := &gateway{trailers: http.Header{}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gateway) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body) // trailers arrive after the body
	raw := r.URL.EscapedPath()
	dec, err := url.PathUnescape(raw)
	if err != nil {
		dec = r.URL.Path
	}
	dec = strings.ReplaceAll(dec, `\`, "/")
	segs := strings.Split(dec, "/")
	for i, s := range segs {
		if j := strings.IndexByte(s, ';'); j >= 0 {
			segs[i] = s[:j]
		}
	}
	norm := path.Clean("/" + strings.Join(segs, "/"))
	g.mu.Lock()
	g.paths = append(g.paths, norm)
	for k, v := range r.Trailer {
		g.trailers[k] = append(g.trailers[k], v...)
	}
	echo := g.echo
	var answer []byte
	for root, b := range g.bodies {
		if strings.HasPrefix(norm, root+"/uapi/") || strings.HasPrefix(norm, root+"/api/") {
			answer = b
		}
	}
	g.mu.Unlock()
	if answer != nil {
		// Split mid-body, so that the agent reads the answer in more
		// than one piece.
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.Header().Set("Content-Length", fmt.Sprint(len(answer)))
		half := len(answer)/2 + 7
		w.Write(answer[:half])
		w.(http.Flusher).Flush()
		w.Write(answer[half:])
		return
	}
	if echo {
		w.Header().Set("X-Echo-Appsecret", r.Header.Get("appsecret"))
		w.Header()["appkey"] = []string{r.Header.Get("appkey")}
		w.Header().Set("X-Debug", "key="+r.Header.Get("appkey")+"; ok")
	}
	u, _ := url.Parse(g.target)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.URL.Path, pr.Out.URL.RawPath = norm, ""
		pr.Out.Body = io.NopCloser(strings.NewReader(string(body)))
		pr.Out.ContentLength = int64(len(body))
		pr.Out.Trailer = nil
	}}
	rp.ServeHTTP(w, r)
}

func (g *gateway) seen() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.paths...)
}

// behindGateway starts a harness whose KIS and Kiwoom mock accounts reach
// the simulator through a gateway.
func behindGateway(t *testing.T, s setup) (*harness, *gateway) {
	g := newGateway(t)
	inner := s.cfg
	s.cfg = func(c *agent.Config) {
		for i := range c.Accounts {
			switch c.Accounts[i].Name {
			case "kis-mock":
				c.Accounts[i].BaseURL = g.srv.URL + "/kis/mock"
			case "kiwoom-mock":
				c.Accounts[i].BaseURL = g.srv.URL + "/kiwoom/mock"
			}
		}
		if inner != nil {
			inner(c)
		}
	}
	// The gateway's target is the simulator, which the harness starts.
	s.onSim = func(simURL string) { g.target = simURL }
	h := newHarness(t, s)
	return h, g
}

// raw sends one request, written out byte for byte, to the agent over
// network ("tcp" or "unix") and reads the answer.
func (h *harness) raw(network, request string) response {
	h.t.Helper()
	addr := h.ep.TCP
	if network == "unix" {
		addr = h.ep.Socket
	}
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if network == "tcp" {
		request = strings.Replace(request, "\r\n", "\r\nAuthorization: Bearer "+h.key+"\r\n", 1)
	}
	if _, err := io.WriteString(c, request); err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		h.t.Fatalf("reading the answer to %q: %v", strings.SplitN(request, "\r\n", 2)[0], err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, body}
}

// TestSmugglingBehindNormalizingGateway: paths that a
// normalizing gateway would turn into the token endpoint or the
// simulator's controls are refused before anything is forwarded.
func TestSmugglingBehindNormalizingGateway(t *testing.T) {
	h, g := behindGateway(t, setup{})
	// Every account's keeper issues its first token on its own schedule:
	// take the count only once each has one, so that a keeper's issuance
	// is not mistaken for one smuggled through the proxy.
	for _, a := range h.cfg.Accounts {
		h.token(a.Name)
	}
	issued := h.sim.Stats().Issued
	before := len(g.seen())
	for _, p := range []string{
		"/proxy/kis-mock/uapi/%2e%2e/oauth2/tokenP",
		"/proxy/kis-mock/uapi/%2E%2E/oauth2/tokenP",
		"/proxy/kis-mock/%2e%2e/%2e%2e/_sim/stats",
		"/proxy/kis-mock//oauth2/tokenP",
		"/proxy/kis-mock/uapi//../oauth2/tokenP",
		"/proxy/kis-mock/./oauth2/tokenP",
		"/proxy/kis-mock/uapi/./../oauth2/tokenP",
		"/proxy/kis-mock/uapi/../oauth2/tokenP",
		"/proxy/kis-mock/oauth2;x/tokenP",
		"/proxy/kis-mock/uapi/..;/oauth2/tokenP",
		"/proxy/kis-mock/uapi;x/../oauth2/tokenP",
		"/proxy/kis-mock/uapi/%2e%2e%2foauth2/tokenP",
		"/proxy/kis-mock/uapi%2f..%2foauth2/tokenP",
		"/proxy/kis-mock/uapi/..%5coauth2/tokenP",
		"/proxy/kis-mock/uapi/..\\oauth2/tokenP",
		"/proxy/kis-mock/uapi/%252e%252e/oauth2/tokenP",
		"/proxy/kis-mock/uapi/.../oauth2/tokenP",
		"/proxy/kis-mock/uapi/%00/x",
		"/proxy/kis-mock/UAPI/x",
		"/proxy/kis-mock/oauth2/tokenP",
		"/proxy/kis-mock/uapi",
		"/proxy/kis-mock/uapi/",
		"/proxy/kis-mock/_sim/stats",
		"/proxy/kis-mock/api/dostk/stkinfo",
		"/proxy/kiwoom-mock/api/%2e%2e/oauth2/token",
		"/proxy/kiwoom-mock/api/..;/oauth2/token",
		"/proxy/kiwoom-mock/uapi/hashkey",
	} {
		for _, network := range []string{"tcp", "unix"} {
			r := h.raw(network, "GET "+p+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
			code := ""
			if r.status == 400 || r.status == 403 {
				code = r.errorCode(t)
			}
			if (r.status != 400 || code != "bad_path") && (r.status != 403 || code != "forbidden_path") {
				t.Errorf("%s via %s = %d %s; want 400 bad_path or 403 forbidden_path", p, network, r.status, r.body)
			}
		}
	}
	if seen := g.seen()[before:]; len(seen) != 0 {
		t.Errorf("the gateway received %q; want nothing forwarded", seen)
	}
	if n := h.sim.Stats().Issued; n != issued {
		t.Errorf("%d tokens issued through the proxy", n-issued)
	}
	// A canonical path goes through, as it is.
	kisOK(t, h.kisPrice("kis-mock", nil))
	kiwoomOK(t, h.kiwoomInfo("kiwoom-mock", nil))
	if seen := g.seen()[before:]; len(seen) != 2 || seen[0] != "/kis/mock/uapi/domestic-stock/v1/quotations/inquire-price" || seen[1] != "/kiwoom/mock/api/dostk/stkinfo" {
		t.Errorf("the gateway received %q; want the two canonical calls", seen)
	}
}

// TestTrailersDropped: request trailers carrying
// credentials never reach the broker.
func TestTrailersDropped(t *testing.T) {
	h, g := behindGateway(t, setup{})
	body := `{"stk_cd":"005930"}`
	for _, network := range []string{"tcp", "unix"} {
		r := h.raw(network, "POST /proxy/kiwoom-mock/api/dostk/stkinfo HTTP/1.1\r\nHost: localhost\r\n"+
			"Transfer-Encoding: chunked\r\nTrailer: Authorization, Appsecret, Appkey, X-Note\r\n"+
			"api-id: ka10001\r\nContent-Type: application/json;charset=UTF-8\r\nConnection: close\r\n\r\n"+
			fmt.Sprintf("%x\r\n%s\r\n0\r\n", len(body), body)+
			"Authorization: Bearer evil-token\r\nAppsecret: evil-secret\r\nAppkey: evil-key\r\nX-Note: hi\r\n\r\n")
		kiwoomOK(t, r)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.trailers) != 0 {
		t.Errorf("the broker side received trailers %v; want none", g.trailers)
	}
}

// TestEchoedSecretsScrubbed: a broker (or gateway)
// answer that repeats the app key or secret in a header does not show it
// to the bot.
func TestEchoedSecretsScrubbed(t *testing.T) {
	h, g := behindGateway(t, setup{})
	// The gateway already serves the keepers: set echo under its lock.
	g.mu.Lock()
	g.echo = true
	g.mu.Unlock()
	for _, network := range []string{"tcp", "unix"} {
		r := h.raw(network, "GET /proxy/kis-mock/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930 HTTP/1.1\r\n"+
			"Host: localhost\r\ntr_id: FHKST01010100\r\ncusttype: P\r\nConnection: close\r\n\r\n")
		kisOK(t, r)
		for k, vs := range r.header {
			for _, v := range vs {
				if strings.Contains(v, kisMock.AppKey) || strings.Contains(v, kisMock.Secret) {
					t.Errorf("via %s: header %s shows a credential", network, k)
				}
			}
		}
		if r.header.Get("Content-Type") == "" {
			t.Errorf("via %s: the broker's own headers are gone too: %v", network, r.header)
		}
	}
}

// TestEchoedSecretsScrubbedFromBodies: a broker answer whose body repeats
// the account's app key or secret, anywhere in a large body and across the
// pieces it arrives in, reaches the bot through the proxy and through the
// facade with every occurrence masked by as many '*', the rest of the body
// untouched and its Content-Length right.
func TestEchoedSecretsScrubbedFromBodies(t *testing.T) {
	h, g := behindGateway(t, setup{})
	for _, a := range h.cfg.Accounts {
		h.token(a.Name)
	}
	// An answer of 300 KiB that carries the account's app key and secret
	// many times, at offsets that fall on every side of the reads'
	// boundaries, once at its very start and once at its very end.
	answer := func(key, secret string) (answer, want string) {
		var b strings.Builder
		b.WriteString(secret)
		b.WriteString(`{"rt_cd":"0","return_code":0,"output":[`)
		for i := 0; b.Len() < 300<<10; i++ {
			echo := secret
			if i%3 == 0 {
				echo = key
			}
			fmt.Fprintf(&b, `{"n":%d,"pad":"%s","echo":"%s"},`, i, strings.Repeat("x", i%4099), echo)
		}
		b.WriteString(`{}],"msg1":"`)
		b.WriteString(secret)
		want = strings.ReplaceAll(b.String(), secret, strings.Repeat("*", len(secret)))
		return b.String(), strings.ReplaceAll(want, key, strings.Repeat("*", len(key)))
	}
	kisAnswer, kisWant := answer(kisMock.AppKey, kisMock.Secret)
	kiwoomAnswer, kiwoomWant := answer(kiwoomMock.AppKey, kiwoomMock.Secret)
	g.mu.Lock()
	g.bodies = map[string][]byte{"/kis/mock": []byte(kisAnswer), "/kiwoom/mock": []byte(kiwoomAnswer)}
	g.mu.Unlock()

	kisHdr := func() http.Header {
		return http.Header{"Tr_id": {"FHKST01010100"}, "Custtype": {"P"}, "Appkey": {"placeholder"}, "Appsecret": {"placeholder"}}
	}
	kiwoomHdr := func() http.Header {
		return http.Header{"Api-Id": {"ka10001"}, "Content-Type": {"application/json;charset=UTF-8"}}
	}
	const kisPath = "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930"
	for _, c := range []struct {
		name    string
		get     func() response
		secrets []string
		want    string
	}{
		{"kis proxy", func() response { return h.kisPrice("kis-mock", nil) }, []string{kisMock.AppKey, kisMock.Secret}, kisWant},
		{"kiwoom proxy", func() response { return h.kiwoomInfo("kiwoom-mock", nil) }, []string{kiwoomMock.AppKey, kiwoomMock.Secret}, kiwoomWant},
		{"kis facade", func() response {
			return h.do(h.tcp, h.facadeURL("kis-mock"), "GET", kisPath, nil, kisHdr())
		}, []string{kisMock.AppKey, kisMock.Secret}, kisWant},
		{"kiwoom facade", func() response {
			return h.do(h.tcp, h.facadeURL("kiwoom-mock"), "POST", "/api/dostk/stkinfo", strings.NewReader(`{"stk_cd":"005930"}`), kiwoomHdr())
		}, []string{kiwoomMock.AppKey, kiwoomMock.Secret}, kiwoomWant},
	} {
		r := c.get()
		if r.status != http.StatusOK {
			t.Errorf("%s: status %d; want 200", c.name, r.status)
		}
		got := string(r.body)
		for _, s := range c.secrets {
			if n := strings.Count(got, s); n > 0 {
				t.Errorf("%s: the body shows a credential %d times", c.name, n)
			}
		}
		if got != c.want {
			i := 0
			for i < len(got) && i < len(c.want) && got[i] == c.want[i] {
				i++
			}
			t.Errorf("%s: body of %d bytes differs from the masked answer (%d bytes) at offset %d", c.name, len(got), len(c.want), i)
		}
		if cl := r.header.Get("Content-Length"); cl != "" && cl != fmt.Sprint(len(got)) {
			t.Errorf("%s: Content-Length %s for a body of %d bytes", c.name, cl, len(got))
		}
	}
}

// TestSlowBodiesBounded: a body that trickles in is cut
// off at body_timeout, and past max_in_flight an account's proxy answers
// 503 with Retry-After rather than queue.
func TestSlowBodiesBounded(t *testing.T) {
	h := newHarness(t, setup{cfg: func(c *agent.Config) {
		c.BodyTimeout = 300 * time.Millisecond
		c.MaxInFlight = 2
	}})
	type slow struct {
		c    net.Conn
		done chan response
	}
	start := func(network string) slow {
		addr := h.ep.TCP
		if network == "unix" {
			addr = h.ep.Socket
		}
		c, err := net.Dial(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "POST /proxy/kiwoom-mock/api/dostk/stkinfo HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n"+
			"api-id: ka10001\r\nContent-Length: 1000000\r\n\r\n{\"stk_cd\":", h.key)
		s := slow{c, make(chan response, 1)}
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				s.done <- response{status: -1}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			s.done <- response{resp.StatusCode, resp.Header, b}
		}()
		return s
	}
	a, b := start("tcp"), start("unix")
	eventually(t, "both slow requests are in flight", func() bool {
		return inFlight(h) == 2
	})
	// The third is refused at once, over either listener.
	for _, r := range []response{h.kiwoomInfo("kiwoom-mock", nil), h.viaTCP("POST", "/proxy/kiwoom-mock/api/dostk/stkinfo", strings.NewReader(`{}`), nil)} {
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || r.errorCode(t) != "overloaded" {
			t.Errorf("third request = %d %v %s; want 503 overloaded with Retry-After", r.status, r.header, r.body)
		}
	}
	// So is a third slow body: the refusal does not wait for the body.
	for _, network := range []string{"tcp", "unix"} {
		c := start(network)
		if r := <-c.done; r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("third slow request via %s = %d %s; want 503 with Retry-After at once", network, r.status, r.body)
		}
	}
	// Another account is not affected.
	kisOK(t, h.kisPrice("kis-mock", nil))
	for _, s := range []slow{a, b} {
		r := <-s.done
		if r.status != http.StatusRequestTimeout || r.errorCode(t) != "body_timeout" {
			t.Errorf("slow body = %d %s; want 408 body_timeout", r.status, r.body)
		}
	}
	// The slots are free again.
	kiwoomOK(t, h.kiwoomInfo("kiwoom-mock", nil))
}

// inFlight reads the number of proxied requests of kiwoom-mock in flight
// from the agent's metrics.
func inFlight(h *harness) int {
	for _, line := range strings.Split(h.metrics(), "\n") {
		if strings.HasPrefix(line, `kauth_proxy_in_flight{account="kiwoom-mock"}`) {
			var n int
			fmt.Sscan(strings.TrimSpace(line[strings.LastIndexByte(line, ' '):]), &n)
			return n
		}
	}
	return -1
}

// TestAbsoluteFormRefused: the agent is no forward
// proxy; a request target naming a host is refused on both listeners.
func TestAbsoluteFormRefused(t *testing.T) {
	h := newHarness(t, setup{})
	for _, target := range []string{"http://evil.example/v1/accounts/kis-mock/token", "http://localhost/v1/accounts/kis-mock/token", "localhost:80"} {
		for _, network := range []string{"tcp", "unix"} {
			method := "GET"
			if !strings.HasPrefix(target, "http") {
				method = "CONNECT"
			}
			r := h.raw(network, method+" "+target+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
			if r.status != http.StatusBadRequest || strings.Contains(string(r.body), "access_token") {
				t.Errorf("%s %s via %s = %d %s; want 400", method, target, network, r.status, r.body)
			}
		}
	}
}

// TestCanceledWaitIsNoLatency: a request canceled while
// it waits for the rate limit never reached the broker, and is no
// observation of broker latency.
func TestCanceledWaitIsNoLatency(t *testing.T) {
	h := newHarness(t, setup{cfg: func(c *agent.Config) {
		c.Accounts[0].RateLimit = 0.05 // kis-mock: one call every 20 s
	}})
	kisOK(t, h.kisPrice("kis-mock", nil)) // takes the burst
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://localhost/proxy/kis-mock/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
	req.Header["tr_id"] = []string{"FHKST01010100"}
	done := make(chan error, 1)
	go func() {
		resp, err := h.unix.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	eventually(t, "the request waits for the rate limit", func() bool {
		return strings.Contains(h.metrics(), `kauth_proxy_in_flight{account="kis-mock"} 1`)
	})
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	eventually(t, "the canceled request is counted", func() bool {
		return strings.Contains(h.metrics(), `kauth_proxy_requests_total{account="kis-mock",status="499"} 1`)
	})
	if m := h.metrics(); !strings.Contains(m, `kauth_proxy_request_duration_seconds_count{account="kis-mock"} 1`) {
		t.Errorf("latency observations:\n%s\nwant only the call that reached the broker", grep(m, "kauth_proxy_request_duration_seconds_count"))
	}
	if n := h.sim.Stats().Targets["kis/mock"].Calls; n != 1 {
		t.Errorf("the simulator saw %d calls; want 1", n)
	}
}
