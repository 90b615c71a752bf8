package kauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Transport is an http.RoundTripper that authenticates each request with
// the Manager's token, in the broker's own headers (KIS: authorization,
// appkey, appsecret; Kiwoom: authorization). When the broker answers that
// the token was rejected (KIS EGW00121/EGW00122/EGW00123 under any HTTP
// status; Kiwoom 8005 in an HTTP 200 body, or HTTP 401), Transport
// invalidates exactly that token and retries the request once with a fresh
// one. A request body is replayed through Request.GetBody; a request whose
// body cannot be replayed is not retried, and its rejection is returned.
//
// Successful response bodies stream through unbuffered.
//
// Transport authenticates no redirect: a 3xx is returned as it came, and a
// request that an http.Client makes to follow one (Request.Response is
// set) fails with a *RedirectError without being sent, since it would
// carry the token, app key and secret to the host the Location names.
type Transport struct {
	// Manager supplies the tokens. Its Provider must implement Authorizer.
	Manager *Manager
	// Base makes the requests. If nil, http.DefaultTransport is used.
	Base http.RoundTripper
	// Limiter, if set, paces every request sent (a retry after a rejection
	// included) under the app key's call budget: e.g. a budget.Shared,
	// which every process and host calling with the app key draws from. A
	// request whose slot would come after its context's deadline fails at
	// once with the limiter's error.
	Limiter Limiter
}

// Limiter paces calls: Wait blocks until one call may go, or returns an
// error without waiting when ctx would end first. budget.Local and
// budget.Shared implement it.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Client returns an *http.Client whose requests are authenticated by m. It
// follows no redirect: a 3xx is the answer, with its Location.
func (m *Manager) Client() *http.Client {
	return &http.Client{Transport: &Transport{Manager: m}, CheckRedirect: useLastResponse}
}

func useLastResponse(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	m := t.Manager
	if prev := req.Response; prev != nil {
		// The caller's client is following a redirect: req.URL is its
		// Location. Only its host goes into the error; the query may echo
		// what was sent.
		closeReqBody(req.Body)
		return nil, &Error{
			Broker: m.key.Broker, Env: m.key.Env, Op: "call", Kind: ErrUnavailable,
			Code: fmt.Sprintf("HTTP %d", prev.StatusCode), StatusCode: prev.StatusCode,
			Err: &RedirectError{StatusCode: prev.StatusCode, Host: req.URL.Host},
		}
	}
	auth, ok := m.provider.(Authorizer)
	if !ok {
		closeReqBody(req.Body)
		return nil, fmt.Errorf("kauth: %s %s: provider %T cannot authorize requests", m.key.Broker, m.key.Env, m.provider)
	}
	tok, err := m.Token(req.Context())
	if err != nil {
		closeReqBody(req.Body) // RoundTrip must close the body, even on errors
		return nil, err
	}
	resp, err := t.send(req, req.Body, auth, tok)
	if err != nil || !auth.Rejected(resp) {
		return resp, err
	}
	m.Invalidate(tok.AccessToken)

	body := req.Body
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil
		}
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	fresh, err := m.Token(req.Context())
	if err != nil {
		closeBody(resp)
		closeReqBody(body)
		if errors.Is(err, ErrTokenReturnedAgain) {
			return nil, err
		}
		return nil, fmt.Errorf("kauth: %s %s: renewing a rejected token: %w", m.key.Broker, m.key.Env, err)
	}
	closeBody(resp)
	return t.send(req, body, auth, fresh)
}

func (t *Transport) send(req *http.Request, body io.ReadCloser, auth Authorizer, tok Token) (*http.Response, error) {
	if t.Limiter != nil {
		if err := t.Limiter.Wait(req.Context()); err != nil {
			closeReqBody(body)
			return nil, fmt.Errorf("kauth: %s %s: call budget: %w", t.Manager.key.Broker, t.Manager.key.Env, err)
		}
	}
	r := req.Clone(req.Context()) // a RoundTripper must not modify the caller's request
	r.Body = body
	auth.Authorize(r, t.Manager.creds, tok)
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

func closeReqBody(b io.ReadCloser) {
	if b != nil {
		b.Close()
	}
}

// closeBody drains a little of a discarded response so that its connection
// can be reused, then closes it.
func closeBody(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
