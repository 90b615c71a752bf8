package kauth

import (
	"context"

	"golang.org/x/oauth2"
)

// TokenSource returns an oauth2.TokenSource backed by m, for code written
// against golang.org/x/oauth2. ctx bounds each Token call.
//
// oauth2.Transport sends only the authorization header; KIS calls also need
// appkey and appsecret, which Transport adds. oauth2.Transport also
// authorizes each redirect that its http.Client follows, to whatever host:
// give that client a CheckRedirect that returns http.ErrUseLastResponse,
// or use Manager.Client, which follows none.
func (m *Manager) TokenSource(ctx context.Context) oauth2.TokenSource {
	return tokenSource{ctx: ctx, m: m}
}

type tokenSource struct {
	ctx context.Context
	m   *Manager
}

func (ts tokenSource) Token() (*oauth2.Token, error) {
	t, err := ts.m.Token(ts.ctx)
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: t.AccessToken, TokenType: t.Type, Expiry: t.ExpiresAt}, nil
}
