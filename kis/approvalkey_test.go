package kis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kis"
)

// TestApprovalManagerIssuesOnceAndShares: two Managers on one store (two
// processes, as far as the store can tell) get one approval key between
// them, kept apart from the app's access token.
func TestApprovalManagerIssuesOnceAndShares(t *testing.T) {
	sim, _, p := newSim(t)
	creds := brokersim.DemoKISMock.Credentials()
	store := kauth.NewMemoryStore()
	newMgr := func() *kauth.Manager {
		m, err := kis.NewApprovalManager(p, kauth.Config{Credentials: creds, Store: store, Clock: simClock{sim}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	a, b := newMgr(), newMgr()
	ctx := context.Background()
	ka, err := a.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := b.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ka.AccessToken != kb.AccessToken {
		t.Errorf("two managers hold different approval keys")
	}
	if n := sim.Stats().Approvals; n != 1 {
		t.Errorf("approvals = %d; want 1", n)
	}
	if ka.Type != kis.ApprovalKeyType {
		t.Errorf("Type = %q; want %q", ka.Type, kis.ApprovalKeyType)
	}
	if got, want := ka.ExpiresAt.Sub(ka.IssuedAt), kis.ApprovalKeyLifetime; got != want {
		t.Errorf("lifetime = %v; want %v", got, want)
	}
	// The entry lives under its own name; the token's entry is untouched.
	if _, err := store.Load(ctx, creds.Key()); !errors.Is(err, kauth.ErrNotFound) {
		t.Errorf("token entry: err = %v; want ErrNotFound", err)
	}
	e, err := store.Load(ctx, kis.ApprovalKeyName(creds.Key()))
	if err != nil || e.Token.AccessToken != ka.AccessToken {
		t.Errorf("approval entry = %v, %v; want the key", e.Token, err)
	}
	// Still one key a day later minus the refresh window.
	sim.Advance(20 * time.Hour)
	if k, _ := a.Token(ctx); k.AccessToken != ka.AccessToken {
		t.Errorf("key changed within its validity")
	}
	if n := sim.Stats().Approvals; n != 1 {
		t.Errorf("approvals after 20h = %d; want 1", n)
	}
	// Past its lifetime a new one is issued.
	sim.Advance(4 * time.Hour)
	k2, err := a.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k2.AccessToken == ka.AccessToken {
		t.Errorf("expired approval key served again")
	}
}

// TestApprovalManagerHeals: a key that KIS refused (OPSP0011) is reported
// with Invalidate and the next call gets a new one, at once.
func TestApprovalManagerHeals(t *testing.T) {
	sim, _, p := newSim(t)
	creds := brokersim.DemoKISMock.Credentials()
	m, err := kis.NewApprovalManager(p, kauth.Config{Credentials: creds, Store: kauth.NewMemoryStore(), Clock: simClock{sim}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	k1, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sim.Advance(2 * time.Second)
	if !m.Invalidate(k1.AccessToken) {
		t.Fatal("Invalidate did not drop the served key")
	}
	k2, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k2.AccessToken == k1.AccessToken {
		t.Error("the refused key came back")
	}
	if n := sim.Stats().Approvals; n != 2 {
		t.Errorf("approvals = %d; want 2", n)
	}
}

func TestApprovalManagerRejectsKiwoom(t *testing.T) {
	_, err := kis.NewApprovalManager(nil, kauth.Config{Credentials: brokersim.DemoKiwoomMock.Credentials()})
	if err == nil {
		t.Fatal("no error for Kiwoom credentials")
	}
}

// TestApprovalStoreWatchMapsBack: changes to approval entries are reported
// under the app's own key; changes to token entries are not reported.
func TestApprovalStoreWatchMapsBack(t *testing.T) {
	w := &fakeWatcher{Store: kauth.NewMemoryStore()}
	s := kis.ApprovalStore(w).(kauth.Watcher)
	k := brokersim.DemoKISMock.Credentials().Key()
	w.changes = []kauth.Change{{Key: k}, {Key: kis.ApprovalKeyName(k)}, {Resync: true}}
	var got []kauth.Change
	if err := s.Watch(context.Background(), func(c kauth.Change) { got = append(got, c) }); err != nil {
		t.Fatal(err)
	}
	want := []kauth.Change{{Key: k}, {Resync: true}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("changes = %v; want %v", got, want)
	}
}

type fakeWatcher struct {
	kauth.Store
	changes []kauth.Change
}

func (f *fakeWatcher) Watch(ctx context.Context, changed func(kauth.Change)) error {
	for _, c := range f.changes {
		changed(c)
	}
	return nil
}

// simClock reads the simulator's virtual time and sleeps in real time.
type simClock struct{ sim *brokersim.Server }

func (c simClock) Now() time.Time { return c.sim.Now() }

func (c simClock) Sleep(ctx context.Context, d time.Duration) error {
	return kauth.SystemClock{}.Sleep(ctx, d)
}
