package agent_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
)

type readiness struct {
	Status   string `json:"status"`
	Accounts []struct {
		Name   string `json:"name"`
		State  string `json:"state"`
		Reason string `json:"reason"`
	} `json:"accounts"`
}

func (r readiness) state(name string) (state, reason string) {
	for _, a := range r.Accounts {
		if a.Name == name {
			return a.State, a.Reason
		}
	}
	return "", ""
}

// TestReadyzWaitsForFirstTokens: /readyz answers 503 while an account
// still waits for its first token, naming it and why.
func TestReadyzWaitsForFirstTokens(t *testing.T) {
	var sim *brokersim.Server
	h := newHarness(t, setup{sim: func(s *brokersim.Server) {
		sim = s
		s.Inject(brokersim.Fault{Broker: kauth.Kiwoom, Env: kauth.Mock, Path: "/oauth2/token", Kind: brokersim.Hang})
	}})
	t.Cleanup(sim.ReleaseHangs) // before the agent closes: last in, first out
	eventually(t, "the KIS accounts hold tokens", func() bool {
		var list struct{ Accounts []agent.AccountInfo }
		h.viaUnix("GET", "/v1/accounts", nil, nil).json(t, &list)
		n := 0
		for _, a := range list.Accounts {
			if a.TokenState == "valid" {
				n++
			}
		}
		return n == 2
	})
	r := h.viaTCP("GET", "/readyz", nil, http.Header{"Authorization": nil})
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("GET /readyz while kiwoom-mock waits = %d %s; want 503", r.status, r.body)
	}
	var got readiness
	r.json(t, &got)
	if got.Status != "not_ready" {
		t.Errorf("status = %q; want not_ready", got.Status)
	}
	if s, why := got.state("kiwoom-mock"); s != "pending" || !strings.Contains(why, "first token") {
		t.Errorf("kiwoom-mock = %q (%q); want pending, waiting for its first token", s, why)
	}
	if s, _ := got.state("kis-mock"); s != "ready" {
		t.Errorf("kis-mock = %q; want ready: %s", s, r.body)
	}
	if r := h.viaUnix("POST", "/readyz", nil, nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz = %d; want 405", r.status)
	}
}

// TestReadyzCountsStatedFailures: an account whose token the broker
// refuses is ready in the sense of /readyz (the agent will not get
// further by waiting), with the reason stated.
func TestReadyzCountsStatedFailures(t *testing.T) {
	h := newHarness(t, setup{cfg: func(c *agent.Config) {
		c.Accounts = append(c.Accounts, agent.Account{
			Name: "kis-wrong", Broker: "kis", Env: "mock",
			AppKey:    agent.Secret{Value: "PSUNKNOWNAPPKEY0123456789ABCDEFGHIJK"},
			AppSecret: agent.Secret{Value: "wrong-secret-value"},
			BaseURL:   brokersim.BaseURL(h0(c), kauth.KIS, kauth.Mock),
		})
	}})
	h.secrets = append(h.secrets, "wrong-secret-value", "PSUNKNOWNAPPKEY0123456789ABCDEFGHIJK")
	var got readiness
	eventually(t, "/readyz answers 200", func() bool {
		r := h.viaUnix("GET", "/readyz", nil, nil)
		r.json(t, &got)
		return r.status == http.StatusOK
	})
	if got.Status != "ready" {
		t.Errorf("status = %q; want ready", got.Status)
	}
	if s, why := got.state("kis-wrong"); s != "failed" || !strings.HasPrefix(why, "credentials: ") {
		t.Errorf("kis-wrong = %q (%q); want failed with the credentials reason", s, why)
	}
	for _, name := range []string{"kis-mock", "kiwoom-mock", "kis-real"} {
		if s, _ := got.state(name); s != "ready" {
			t.Errorf("%s = %q; want ready", name, s)
		}
	}
}

// TestAccountListIsKeptSorted: /readyz, /healthz, GET /v1/accounts and the
// metrics walk the accounts in name order from a list sorted when the
// accounts change (New, Reload), not copied and sorted at each request: at
// 5,000 accounts that sort was a tenth of the agent's CPU while a probe
// polled /readyz during the start.
func TestAccountListIsKeptSorted(t *testing.T) {
	h := newHarness(t, setup{})
	names, allocs := agent.SnapshotNames(h.agent)
	if want := []string{"kis-mock", "kis-real", "kiwoom-mock"}; !slices.Equal(names, want) {
		t.Errorf("accounts = %v; want %v", names, want)
	}
	if allocs != 0 {
		t.Errorf("taking the account list costs %v allocations; want 0", allocs)
	}
}

// heldStore holds every save of a token until release is closed.
type heldStore struct {
	kauth.Store
	release chan struct{}
	held    atomic.Int32
}

func (s *heldStore) Lock(ctx context.Context, key kauth.Key) (kauth.Lease, error) {
	l, err := s.Store.Lock(ctx, key)
	if err != nil {
		return nil, err
	}
	return &heldLease{Lease: l, s: s}, nil
}

type heldLease struct {
	kauth.Lease
	s *heldStore
}

func (l *heldLease) Save(ctx context.Context, e kauth.Entry) error {
	if e.Token.AccessToken != "" {
		l.s.held.Add(1)
		<-l.s.release
	}
	return l.Lease.Save(ctx, e)
}

// TestReadyMeansPersisted: /readyz says ready only once every account's
// token is written to the store; while the writes wait, it says not_ready.
func TestReadyMeansPersisted(t *testing.T) {
	st := &heldStore{Store: kauth.NewMemoryStore(), release: make(chan struct{})}
	h := newHarness(t, setup{opts: func(o *agent.Options) { o.Store = st }})
	eventually(t, "the first tokens wait to be written", func() bool { return st.held.Load() >= 2 })
	if r := h.viaTCP("GET", "/readyz", nil, http.Header{"Authorization": nil}); r.status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz while the tokens are not written = %d %s; want 503", r.status, r.body)
	}
	close(st.release)
	eventually(t, "the agent is ready", func() bool {
		return h.viaTCP("GET", "/readyz", nil, http.Header{"Authorization": nil}).status == http.StatusOK
	})
	var list struct{ Accounts []agent.AccountInfo }
	h.viaUnix("GET", "/v1/accounts", nil, nil).json(t, &list)
	if len(list.Accounts) != 3 {
		t.Fatalf("%d accounts listed; want 3", len(list.Accounts))
	}
	for _, a := range list.Accounts {
		e, err := st.Load(context.Background(), kauth.Key{Broker: a.Broker, Env: a.Env, Fingerprint: a.App})
		if err != nil || e.Token.Fingerprint() != a.Token {
			t.Errorf("account %s: stored token %q (%v); want the served %q", a.Name, e.Token.Fingerprint(), err, a.Token)
		}
	}
}
