package igw

import (
	"net/http"
	"time"

	"github.com/kauth/kauth"
)

// What the kauth agent asks of a broker: the endpoints and answer shapes of
// its facade, the API it proxies and the default pace of proxied calls (the
// probe is in igw.go). The agent finds these methods on the Provider by type
// assertion; the two brokers differ only in their Config.

// FacadePaths returns the gateway's token and revoke endpoints (POST
// /oauth2/token and /oauth2/revoke, form-encoded, in its OAuth pages).
func (p *Provider[F]) FacadePaths() (token, revoke string) { return "/oauth2/token", "/oauth2/revoke" }

// FacadeToken is the gateway's answer of /oauth2/token for t at now.
func (p *Provider[F]) FacadeToken(t kauth.Token, now time.Time) (http.Header, any) {
	return nil, TokenAnswer(t, now)
}

// FacadeRevoke is the gateway's answer of a successful /oauth2/revoke.
func (p *Provider[F]) FacadeRevoke() (http.Header, any) { return nil, RevokeAnswer() }

// FacadeError is an error in the gateway's shapes.
func (p *Provider[F]) FacadeError(code, msg string) any { return ErrorAnswer(code, msg) }

// APIPrefixes are the paths of the broker's REST API (Config.APIPrefixes).
func (p *Provider[F]) APIPrefixes() []string { return p.config().APIPrefixes }

// DefaultRateLimit is the broker's default pace of proxied calls
// (Config.RateLimit), the same at both envs.
func (p *Provider[F]) DefaultRateLimit(kauth.Env) float64 { return p.config().RateLimit }
