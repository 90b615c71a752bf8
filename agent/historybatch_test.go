package agent_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/testredis"
	"github.com/kauth/kauth/store/redis"
)

// countingStore counts the reads that reach its store, each one a round
// trip on a shared store: a Load, or a LoadBatch of many keys.
type countingStore struct {
	kauth.Store
	loads, batches atomic.Int64
}

func (s *countingStore) Load(ctx context.Context, key kauth.Key) (kauth.Entry, error) {
	s.loads.Add(1)
	return s.Store.Load(ctx, key)
}

// LoadBatch reads keys as one round trip would.
func (s *countingStore) LoadBatch(ctx context.Context, keys []kauth.Key) ([]kauth.Entry, []error) {
	s.batches.Add(1)
	entries, errs := make([]kauth.Entry, len(keys)), make([]error, len(keys))
	for i, k := range keys {
		entries[i], errs[i] = s.Store.Load(ctx, k)
	}
	return entries, errs
}

func (s *countingStore) reads() int64 { return s.loads.Load() + s.batches.Load() }

// TestAccountsReadHistoriesInOneGo: GET /v1/accounts and the status page's
// data.json read every account's issuance history from the store in one
// batch, not one round trip per account (5,000 Redis round trips per
// request at 5,000 accounts, polled by the page), and still show each
// account's own history: on a store that counts its reads, and on Redis,
// counting the GETs sent.
func TestAccountsReadHistoriesInOneGo(t *testing.T) {
	t.Run("Counted", func(t *testing.T) {
		st := &countingStore{Store: kauth.NewMemoryStore()}
		historiesInOneGo(t, st, st.reads)
	})
	t.Run("Redis", func(t *testing.T) {
		c := testredis.Client(t)
		key := make([]byte, 32)
		rand.Read(key)
		st, err := redis.New(c, key, redis.WithPrefix(testredis.Prefix(t)))
		if err != nil {
			t.Fatal(err)
		}
		var gets testredis.Reads
		c.AddHook(&gets)
		historiesInOneGo(t, st, gets.RoundTrips)
	})
}

// historiesInOneGo serves 60 accounts from st, and checks that each of
// the two reads the store at most once, by reads.
func historiesInOneGo(t *testing.T, st kauth.Store, reads func() int64) {
	const n = 60
	var simURL string
	h := newHarness(t, setup{
		onSim: func(u string) { simURL = u },
		sim: func(s *brokersim.Server) {
			for i := range n {
				key, secret := batchApp(i)
				s.Register(kauth.Kiwoom, kauth.Mock, key, secret)
			}
		},
		cfg: func(c *agent.Config) {
			c.Accounts = nil
			for i := range n {
				key, secret := batchApp(i)
				c.Accounts = append(c.Accounts, agent.Account{Name: fmt.Sprintf("acct%02d", i), Broker: "kiwoom", Env: "paper",
					AppKey: agent.Secret{Value: key}, AppSecret: agent.Secret{Value: secret},
					BaseURL: brokersim.BaseURL(simURL, kauth.Kiwoom, kauth.Mock)})
			}
		},
		opts: func(o *agent.Options) { o.Store = st },
	})
	var list struct{ Accounts []agent.AccountInfo }
	eventually(t, "every account's issuance is in the store", func() bool {
		h.viaUnix("GET", "/v1/accounts", nil, nil).json(t, &list)
		for _, a := range list.Accounts {
			if a.LastIssue == nil {
				return false
			}
		}
		return len(list.Accounts) == n
	})

	before := reads()
	r := h.viaUnix("GET", "/v1/accounts", nil, nil)
	if got := reads() - before; got > 1 {
		t.Errorf("GET /v1/accounts with %d accounts read the store %d times; want 1 batch", n, got)
	}
	r.json(t, &list)
	for _, a := range list.Accounts {
		if a.IssuedToday != 1 || a.LastIssue == nil || a.LastIssue.Outcome != kauth.OutcomeIssued {
			t.Errorf("%s: issued_today %d, last_issue %+v; want its one issuance", a.Name, a.IssuedToday, a.LastIssue)
		}
	}

	cookie := h.statusSession("")
	before = reads()
	data := h.browserGet("/status/data.json", cookie, http.Header{"Sec-Fetch-Site": {"same-origin"}})
	if got := reads() - before; got > 1 {
		t.Errorf("GET /status/data.json with %d accounts read the store %d times; want 1 batch", n, got)
	}
	var d struct {
		Accounts []struct {
			Name      string
			LastIssue *agent.IssueInfo `json:"last_issue"`
			Today     []struct{ Outcome string }
		}
	}
	data.json(t, &d)
	if len(d.Accounts) != n {
		t.Fatalf("data.json lists %d accounts; want %d", len(d.Accounts), n)
	}
	for _, a := range d.Accounts {
		if a.LastIssue == nil || len(a.Today) != 1 || a.Today[0].Outcome != kauth.OutcomeIssued {
			t.Errorf("data.json: %s: last_issue %+v, today %+v; want its one issuance", a.Name, a.LastIssue, a.Today)
		}
	}
}

// batchApp is the made-up app of account i.
func batchApp(i int) (key, secret string) {
	return fmt.Sprintf("BATCHFAKEAPPKEY%04d%s", i, strings.Repeat("0", 20)), fmt.Sprintf("BATCHFAKESECRET-%04d-NOT-A-REAL-SECRET-%s", i, strings.Repeat("x", 40))
}
