package toss

import (
	"net/http"
	"time"

	"github.com/kauth/kauth"
)

// What the kauth agent and engine ask of a broker, found on the Provider
// by type assertion: the endpoints and answer shapes of the facade, the API
// the proxy forwards, the default pace of proxied calls, and the engine's
// issuance spacing and longest lifetime.

// FacadePaths returns Toss's token endpoint, POST /oauth2/token; Toss has
// no revoke endpoint.
func (p *Provider) FacadePaths() (token, revoke string) { return TokenPath, "" }

// FacadeToken is the token endpoint's success for t at now in Toss's shape
// (components.schemas.OAuth2TokenResponse): access_token, token_type
// "Bearer" and expires_in, the seconds left.
func (p *Provider) FacadeToken(t kauth.Token, now time.Time) (http.Header, any) {
	return nil, TokenAnswer(t, now)
}

// FacadeRevoke is never served (FacadePaths names no revoke endpoint); it
// answers as Toss would an unknown request.
func (p *Provider) FacadeRevoke() (http.Header, any) {
	return nil, ErrorAnswer("invalid_request", ErrRevokeUnsupported.Error())
}

// FacadeError is an error in the token endpoint's OAuth 2.0 shape
// (components.schemas.OAuth2ErrorResponse: error, error_description),
// which Toss's clients read by its error field.
func (p *Provider) FacadeError(code, msg string) any { return ErrorAnswer(code, msg) }

// APIPrefixes are the paths of Toss's API: every endpoint lives under
// /api/v1/ (overview, 기능 목록); the token endpoint is /oauth2/token.
func (p *Provider) APIPrefixes() []string { return []string{"/api/v1/"} }

// DefaultRateLimit paces calls of no known group (see RateGroup): 90% of
// MARKET_INFO's 3 a second, the tightest limit of the market-data groups.
func (p *Provider) DefaultRateLimit(kauth.Env) float64 { return 2.7 }

// MinIssueInterval is the least spacing of two issuances kauth keeps for
// one client. The AUTH group allows 5 calls a second, but every issuance
// kills the token before it: the 1 s guard against storms.
func (p *Provider) MinIssueInterval() time.Duration { return time.Second }

// MaxLifetime is the longest life Toss documents for a token: expires_in
// 86400 (Lifetime).
func (p *Provider) MaxLifetime() time.Duration { return Lifetime }
