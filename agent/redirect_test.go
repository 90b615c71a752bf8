package agent_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/brokertest"
)

// redirectFront stands in front of the simulator as the brokers' address
// of kis-mock and kiwoom-mock: once redirect is set, it answers every
// request with that status and a Location on the catcher.
type redirectFront struct {
	sim      *brokersim.Server
	catcher  *brokertest.Catcher
	redirect atomic.Int64
}

func (f *redirectFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if st := int(f.redirect.Load()); st != 0 {
		w.Header().Set("Location", f.catcher.URL+r.URL.Path+"?echo=location-query")
		w.WriteHeader(st)
		return
	}
	f.sim.ServeHTTP(w, r)
}

// newRedirectHarness starts the harness with kis-mock and kiwoom-mock
// behind a redirectFront that redirects with status from the start (0:
// not yet).
func newRedirectHarness(t *testing.T, status int) (*harness, *redirectFront) {
	f := &redirectFront{catcher: brokertest.NewCatcher(t)}
	f.redirect.Store(int64(status))
	front := httptest.NewServer(f)
	t.Cleanup(front.Close)
	h := newHarness(t, setup{
		sim: func(s *brokersim.Server) { f.sim = s },
		cfg: func(c *agent.Config) {
			for i := range c.Accounts {
				switch c.Accounts[i].Name {
				case "kis-mock":
					c.Accounts[i].BaseURL = brokersim.BaseURL(front.URL, kauth.KIS, kauth.Mock)
				case "kiwoom-mock":
					c.Accounts[i].BaseURL = brokersim.BaseURL(front.URL, kauth.Kiwoom, kauth.Mock)
				}
			}
		},
	})
	return h, f
}

// TestProxyHandsRedirectsBack checks that the proxy and the broker facade
// follow no redirect of the broker: the bot gets the 3xx unchanged, with
// its Location, and the host the Location names gets nothing — neither
// the token nor the app key and secret the agent adds.
func TestProxyHandsRedirectsBack(t *testing.T) {
	h, f := newRedirectHarness(t, 0)
	kisTok := h.token("kis-mock").AccessToken
	kiwoomTok := h.token("kiwoom-mock").AccessToken
	for _, status := range brokertest.RedirectStatuses {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			f.redirect.Store(int64(status))
			defer f.redirect.Store(0)
			check := func(what string, r response, path string) {
				t.Helper()
				want := f.catcher.URL + path + "?echo=location-query"
				if r.status != status || r.header.Get("Location") != want {
					t.Errorf("%s = %d, Location %q; want %d, %q", what, r.status, r.header.Get("Location"), status, want)
				}
			}
			// The bot's clients here follow no redirect either, so that
			// what the agent answers is seen as it is.
			unix, tcp := noFollow(h.unix), noFollow(h.tcp)
			r := h.do(unix, "http://localhost", "GET", "/proxy/kis-mock/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930",
				nil, http.Header{"Tr_id": {"FHKST01010100"}, "Custtype": {"P"}})
			check("KIS GET through the proxy", r, "/kis/mock/uapi/domestic-stock/v1/quotations/inquire-price")
			r = h.do(unix, "http://localhost", "POST", "/proxy/kiwoom-mock/api/dostk/stkinfo", strings.NewReader(`{"stk_cd":"005930"}`),
				http.Header{"Api-Id": {"ka10001"}, "Content-Type": {"application/json;charset=UTF-8"}})
			check("Kiwoom POST through the proxy", r, "/kiwoom/mock/api/dostk/stkinfo")
			r = h.do(tcp, h.facadeURL("kis-mock"), "POST", "/uapi/hashkey",
				strings.NewReader(`{"CANO":"50000000","ORD_QTY":"1"}`), http.Header{"Content-Type": {"application/json; charset=UTF-8"}})
			check("KIS hashkey through the facade", r, "/kis/mock/uapi/hashkey")
			r = h.do(tcp, h.facadeURL("kiwoom-mock"), "POST", "/api/dostk/stkinfo", strings.NewReader(`{"stk_cd":"005930"}`),
				http.Header{"Api-Id": {"ka10001"}, "Content-Type": {"application/json;charset=UTF-8"}})
			check("Kiwoom call through the facade", r, "/kiwoom/mock/api/dostk/stkinfo")
			f.catcher.Check(t, kisMock.AppKey, kisMock.Secret, kiwoomMock.AppKey, kiwoomMock.Secret, kisTok, kiwoomTok)
		})
	}
}

// noFollow returns a copy of c that follows no redirect.
func noFollow(c *http.Client) *http.Client {
	n := *c
	n.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &n
}

// TestProbeRefusesRedirect checks that the probe of a reported token
// follows no redirect: the token stays, the report is unverified, the
// host the Location names gets nothing, and the log names the refused
// redirect.
func TestProbeRefusesRedirect(t *testing.T) {
	h, f := newRedirectHarness(t, 0)
	tok := h.token("kis-mock").AccessToken
	f.redirect.Store(http.StatusTemporaryRedirect)
	r := h.viaUnix("POST", "/v1/accounts/kis-mock/invalidate", strings.NewReader(`{"token":"`+tok+`"}`), nil)
	var res agent.InvalidateResponse
	r.json(t, &res)
	if r.status != http.StatusOK || res.Invalidated || res.Reason != "unverified" {
		t.Errorf("report = %d %+v; want 200, unverified", r.status, res)
	}
	f.catcher.Check(t, kisMock.AppKey, kisMock.Secret, tok)
	f.redirect.Store(0)
	if h.token("kis-mock").AccessToken != tok {
		t.Error("the token was dropped on a redirected probe")
	}
	want := "redirect to " + f.catcher.Host + " not followed"
	if logs := h.logs.String(); !strings.Contains(logs, want) {
		t.Errorf("logs do not say %q:\n%s", want, logs)
	}
}

// TestIssueRefusesRedirect checks that the agent's issuance follows no
// redirect: the app key and secret never reach the host the Location
// names, the agent serves no token of that host's, and the caller gets an
// error that names the refused redirect, at once: asking again would get
// the same redirect.
func TestIssueRefusesRedirect(t *testing.T) {
	h, f := newRedirectHarness(t, http.StatusTemporaryRedirect)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://localhost/v1/accounts/kis-mock/token", nil)
	resp, err := h.unix.Do(req)
	f.catcher.Check(t, kisMock.AppKey, kisMock.Secret, kiwoomMock.AppKey, kiwoomMock.Secret)
	if err != nil {
		t.Fatalf("token: %v; want the agent's error answer", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "redirect to " + f.catcher.Host + " not followed"
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), want) || !strings.Contains(string(body), "HTTP 307") {
		t.Errorf("token = %d %s; want 502 naming HTTP 307 and %q", resp.StatusCode, body, want)
	}
}
