package kauth_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// failingStore fails the Loads of one key, as a store error on that key
// alone would, and counts what it is asked.
type failingStore struct {
	kauth.Store
	fail  kauth.Key
	loads atomic.Int64
}

var errInjected = errors.New("injected store error")

func (s *failingStore) Load(ctx context.Context, key kauth.Key) (kauth.Entry, error) {
	s.loads.Add(1)
	if key == s.fail {
		return kauth.Entry{}, errInjected
	}
	return s.Store.Load(ctx, key)
}

// batchingStore is a failingStore with LoadBatch: the inner store's, with
// the failing key's error put in.
type batchingStore struct {
	failingStore
	batches, keys atomic.Int64
}

func (s *batchingStore) LoadBatch(ctx context.Context, keys []kauth.Key) ([]kauth.Entry, []error) {
	s.batches.Add(1)
	s.keys.Add(int64(len(keys)))
	entries, errs := s.Store.(kauth.BatchLoader).LoadBatch(ctx, keys)
	for i, k := range keys {
		if k == s.fail {
			entries[i], errs[i] = kauth.Entry{}, errInjected
		}
	}
	return entries, errs
}

// TestIssuancesAsIssuance: Issuances answers each Manager as its Issuance
// does (a history, none yet, a store error on one key that spares the
// others, two Managers of one key, a Manager on a store of its own),
// reading each store once: one LoadBatch with each key once where the
// store has it, a Load per key where it has not.
func TestIssuancesAsIssuance(t *testing.T) {
	for _, batching := range []bool{true, false} {
		name := map[bool]string{true: "BatchLoader", false: "LoadPerKey"}[batching]
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			failing := brokersim.DemoKiwoomMock.Credentials().Key()
			bs := &batchingStore{failingStore: failingStore{Store: kauth.NewMemoryStore(), fail: failing}}
			var st kauth.Store = &bs.failingStore
			if batching {
				st = bs
			}
			onStore := func(c *kauth.Config) { c.Store = st }
			var ms []*kauth.Manager
			for _, app := range allApps {
				ms = append(ms, r.manager(t, app, onStore))
			}
			ms = append(ms, r.manager(t, brokersim.DemoKISMock, onStore)) // a second Manager of one key
			own := r.manager(t, brokersim.DemoKISReal)                    // its own memory store
			ms = append(ms, own)
			// Histories: KIS real and Kiwoom mock (which fails to load)
			// issued on the shared store, KIS real on its own; KIS mock and
			// Kiwoom real never.
			for _, m := range []*kauth.Manager{ms[0], ms[3], own} {
				if _, err := m.Token(t.Context()); err != nil {
					t.Fatal(err)
				}
			}

			bs.loads.Store(0)
			got := kauth.Issuances(t.Context(), ms)
			loads, batches, keys := bs.loads.Load(), bs.batches.Load(), bs.keys.Load()
			if batching && (loads != 0 || batches != 1 || keys != 4) {
				t.Errorf("Issuances read the batching store with %d Loads and %d batches of %d keys in all; want 1 batch of its 4 keys", loads, batches, keys)
			}
			if !batching && loads != 4 {
				t.Errorf("Issuances read the store with %d Loads; want 4, one per key", loads)
			}
			if len(got) != len(ms) {
				t.Fatalf("Issuances of %d Managers = %d states", len(ms), len(got))
			}
			for i, m := range ms {
				h, next, err := m.Issuance(t.Context())
				if g := got[i]; g.History != h || !g.Next.Equal(next) || (g.Err == nil) != (err == nil) {
					t.Errorf("Manager %d (%v): Issuances = %+v; Issuance = %+v, %v, %v", i, m.Key(), g, h, next, err)
				}
			}
			for i, want := range []struct {
				issued bool
				err    bool
			}{{true, false}, {false, false}, {false, false}, {false, true}, {false, false}, {true, false}} {
				if g := got[i]; g.History.LastIssue.IsZero() == want.issued || (g.Err != nil) != want.err {
					t.Errorf("Manager %d (%v): %+v; want issued %v, an error %v", i, ms[i].Key(), g, want.issued, want.err)
				}
			}
			if !errors.Is(got[3].Err, errInjected) {
				t.Errorf("the failing key's error = %v; want the store's", got[3].Err)
			}
		})
	}
}
