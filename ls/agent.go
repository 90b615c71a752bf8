package ls

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/igw"
)

// What the kauth agent asks of a broker: the endpoints and answer shapes of
// its facade, the API it proxies, the call that checks a token, and the
// default pace of proxied calls. The agent finds these methods on the
// Provider by type assertion.

// FacadePaths returns the gateway's token and revoke endpoints (POST
// /oauth2/token and /oauth2/revoke, form-encoded, in its OAuth pages).
func (p *Provider) FacadePaths() (token, revoke string) { return "/oauth2/token", "/oauth2/revoke" }

// FacadeToken is the gateway's answer of /oauth2/token for t at now.
func (p *Provider) FacadeToken(t kauth.Token, now time.Time) (http.Header, any) {
	return nil, igw.TokenAnswer(t, now)
}

// FacadeRevoke is the gateway's answer of a successful /oauth2/revoke.
func (p *Provider) FacadeRevoke() (http.Header, any) { return nil, igw.RevokeAnswer() }

// FacadeError is an error in the gateway's shapes.
func (p *Provider) FacadeError(code, msg string) any { return igw.ErrorAnswer(code, msg) }

// APIPrefixes are the paths of LS's REST API: /stock/ (e.g.
// /stock/market-data, /stock/investinfo in LS's REST[주식] pages),
// /futureoption/market-data and /indtp/market-data (REST[선물옵션] and
// REST[업종] 시세), never /oauth2/.
func (p *Provider) APIPrefixes() []string { return []string{"/stock/", "/futureoption/", "/indtp/"} }

// DefaultRateLimit: LS limits each TR per second (t1102 3 TPS); 90% of 3.
func (p *Provider) DefaultRateLimit(kauth.Env) float64 { return 2.7 }

// Probe builds a price quote of Samsung Electronics, a call every app key
// may make (see probe).
func (p *Provider) Probe(ctx context.Context, base *url.URL) (*http.Request, error) {
	return probe(ctx, base)
}

// ProbeOK reports whether a probe's JSON answer is a success: rsp_cd
// "00000".
func (p *Provider) ProbeOK(body []byte) bool { return probeOK(body) }
