package kis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kauth/kauth"
)

// ApprovalKeyLifetime is how long kauth uses a WebSocket approval key. KIS
// documents the key as valid for about a day and checks it only when a
// session opens; the official sample (koreainvestment/open-trading-api,
// examples_user/kis_auth.py, reAuth_ws) asks for a new one once 86400 s have
// passed. kauth stops handing a key out a little earlier (the Manager's
// ExpiryMargin and refresh-ahead window), so that a session never opens on
// a key in its last minutes.
const ApprovalKeyLifetime = 24 * time.Hour

// ApprovalKeyType is the Token.Type of a managed approval key.
const ApprovalKeyType = "approval"

// approvalSuffix marks the store entries of approval keys. The entry of
// the app key's access token is named by its fingerprint; the approval
// key's by fingerprint + "_ap", which stays within [a-z0-9_] so that every
// shared store accepts it.
const approvalSuffix = "_ap"

// ApprovalKeyName returns the store key under which the approval key of
// the app named by k is kept.
func ApprovalKeyName(k kauth.Key) kauth.Key {
	k.Fingerprint += approvalSuffix
	return k
}

// NewApprovalManager returns a kauth.Manager that manages the KIS WebSocket
// approval key of cfg.Credentials the way the ordinary Manager manages
// access tokens: cached encrypted in cfg.Store under a key of its own (see
// ApprovalKeyName), shared across processes and hosts through the store's
// lock, issued once per validity period, and replaced after Invalidate
// (which a WebSocket client calls when KIS answers OPSP0011 invalid
// approval). Its Token's AccessToken is the approval key, its Type
// ApprovalKeyType.
//
// cfg.Provider must be nil (a Provider built from p is used) and
// cfg.Credentials must be KIS credentials. A zero cfg.MinIssueInterval
// means one second: KIS documents the once-a-minute limit for tokenP
// (EGW00133), not for /oauth2/Approval, and a key KIS refused must be
// replaced at once for the feed to come back. If cfg.Store is nil, the
// memory store of cfg.Group for the approval endpoint's URL is used, apart
// from the tokens'.
func NewApprovalManager(p *Provider, cfg kauth.Config) (*kauth.Manager, error) {
	if p == nil {
		p = New()
	}
	if cfg.Provider != nil {
		return nil, errors.New("kis: approval manager: leave Config.Provider nil")
	}
	if cfg.Credentials.Broker != kauth.KIS {
		return nil, fmt.Errorf("kis: approval manager: credentials are for %q, not kis", cfg.Credentials.Broker)
	}
	cfg.Provider = &approvalProvider{p: p}
	if cfg.Store != nil {
		cfg.Store = ApprovalStore(cfg.Store)
	}
	if cfg.MinIssueInterval == 0 {
		cfg.MinIssueInterval = time.Second
	}
	return kauth.NewManager(cfg)
}

// approvalProvider issues approval keys as tokens.
type approvalProvider struct{ p *Provider }

// Issue implements kauth.Provider.
func (a *approvalProvider) Issue(ctx context.Context, c kauth.Credentials) (kauth.Token, error) {
	key, err := a.p.ApprovalKey(ctx, c)
	if err != nil {
		return kauth.Token{}, err
	}
	now := a.p.now()
	return kauth.Token{AccessToken: key, Type: ApprovalKeyType, IssuedAt: now, ExpiresAt: now.Add(ApprovalKeyLifetime)}, nil
}

// Revoke implements kauth.Provider. KIS has no call that revokes an
// approval key; forgetting it is all there is to do.
func (a *approvalProvider) Revoke(ctx context.Context, c kauth.Credentials, token string) error {
	return nil
}

// URL gives approval keys a default store of their own, apart from the
// tokens' (the Manager picks its default store by the provider's URL).
func (a *approvalProvider) URL(env kauth.Env) string { return a.p.URL(env) + "#approval" }

// ApprovalStore wraps a token store so that each Key names the entry of
// that app's approval key (ApprovalKeyName) instead of its token. The
// wrapped store keeps sealing, locking and sharing exactly as for tokens.
// Changes reported by the store's Watch are mapped back, and changes to
// token entries are not reported.
func ApprovalStore(s kauth.Store) kauth.Store {
	if as, ok := s.(*approvalStore); ok {
		return as
	}
	as := &approvalStore{s: s}
	if w, ok := s.(kauth.Watcher); ok {
		return &watchingApprovalStore{approvalStore: as, w: w}
	}
	return as
}

type approvalStore struct{ s kauth.Store }

func (a *approvalStore) Load(ctx context.Context, key kauth.Key) (kauth.Entry, error) {
	return a.s.Load(ctx, ApprovalKeyName(key))
}

func (a *approvalStore) Save(ctx context.Context, key kauth.Key, e kauth.Entry) error {
	return a.s.Save(ctx, ApprovalKeyName(key), e)
}

func (a *approvalStore) Delete(ctx context.Context, key kauth.Key) error {
	return a.s.Delete(ctx, ApprovalKeyName(key))
}

func (a *approvalStore) Lock(ctx context.Context, key kauth.Key) (kauth.Lease, error) {
	return a.s.Lock(ctx, ApprovalKeyName(key))
}

type watchingApprovalStore struct {
	*approvalStore
	w kauth.Watcher
}

func (a *watchingApprovalStore) Watch(ctx context.Context, changed func(kauth.Change)) error {
	return a.w.Watch(ctx, func(c kauth.Change) {
		if c.Resync {
			changed(c)
			return
		}
		fp, ok := cutSuffix(c.Key.Fingerprint, approvalSuffix)
		if !ok {
			return // a token entry, not ours
		}
		c.Key.Fingerprint = fp
		changed(c)
	})
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}
