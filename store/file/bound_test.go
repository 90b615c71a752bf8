package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// TestSavesBoundConcurrentFsyncs: many accounts saving at once (an agent's
// first tokens) do not each hold an OS thread blocked in fsync: at most
// maxWriters file fsyncs run at a time, and every save completes.
func TestSavesBoundConcurrentFsyncs(t *testing.T) {
	var running, peak atomic.Int32
	release := make(chan struct{})
	orig := syncFile
	syncFile = func(f *os.File) error {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release // a slow disk: the fsync blocks until let go
		running.Add(-1)
		return orig(f)
	}
	t.Cleanup(func() { syncFile = orig })

	s := newBoundStore(t)
	const saves = 200
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, saves)
	for i := range saves {
		wg.Go(func() {
			key := kauth.Key{Broker: kauth.KIS, Env: kauth.Mock, Fingerprint: fmt.Sprintf("%012x", i)}
			e := kauth.Entry{Token: kauth.Token{AccessToken: "made-up", Type: "Bearer", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}}
			errs <- s.Save(context.Background(), key, e)
		})
	}
	// Let fsyncs start as they may; then release them all.
	deadline := time.Now().Add(10 * time.Second)
	for running.Load() < int32(min(saves, maxWriters)) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // room for more to start, if they could
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if p := peak.Load(); p > maxWriters {
		t.Errorf("%d file fsyncs ran at once; want at most %d", p, maxWriters)
	}
	if n, err := s.List(context.Background()); err != nil || len(n) != saves {
		t.Errorf("List = %d entries, %v; want %d", len(n), err, saves)
	}
}

// TestLockSyncsNothing: taking a lease writes the key's fence counter but
// does not fsync it (nor the directory): every holder of a lease lives on
// this machine's page cache, which the counter reaches on rename, and a
// power loss that takes the counter back ends every holder with it; the
// next fence is still above every durable entry's (see grant). A save
// under the lease is durable: one file fsync.
func TestLockSyncsNothing(t *testing.T) {
	syncs := countSyncs(t)
	s := newBoundStore(t)
	ctx := context.Background()
	key := kauth.Key{Broker: kauth.KIS, Env: kauth.Mock, Fingerprint: "0123456789ab"}
	var last uint64
	for i := range 3 {
		l, err := s.Lock(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if l.Fence() <= last {
			t.Fatalf("lease %d has fence %d; want above %d", i, l.Fence(), last)
		}
		last = l.Fence()
		l.Unlock()
	}
	if n := syncs.Load(); n != 0 {
		t.Errorf("three leases fsynced %d files; want none", n)
	}
	l, err := s.Lock(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := l.Save(ctx, kauth.Entry{Token: kauth.Token{AccessToken: "made-up", Type: "Bearer", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if n := syncs.Load(); n != 1 {
		t.Errorf("a save under a lease fsynced %d files; want 1", n)
	}
	// A power loss took the counter back to nothing: the next fence is
	// still above the durable entry's.
	if err := os.WriteFile(filepath.Join(s.Dir(), mustName(t, key)+fenceSuffix), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err = s.Lock(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if l.Fence() <= last+1 {
		t.Errorf("after the counter was lost the fence is %d; want above the entry's %d", l.Fence(), last+1)
	}
}

func mustName(t *testing.T, key kauth.Key) string {
	t.Helper()
	n, err := name(key)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// oneTokenProvider hands out a made-up token.
type oneTokenProvider struct{ issued atomic.Int32 }

func (p *oneTokenProvider) Issue(ctx context.Context, c kauth.Credentials) (kauth.Token, error) {
	p.issued.Add(1)
	now := time.Now()
	return kauth.Token{AccessToken: "made-up-token-0123456789", Type: "Bearer", IssuedAt: now, ExpiresAt: now.Add(24 * time.Hour)}, nil
}

func (p *oneTokenProvider) Revoke(ctx context.Context, c kauth.Credentials, token string) error {
	return nil
}

// TestFirstTokenCostsOneFsync: a Manager's first token on the file store
// fsyncs one file, the entry that holds it. The record of the attempt,
// written before the broker is called, reaches the other processes at once
// but is not fsynced: a power loss that undoes it also ends the process
// that made the attempt, and at worst the next one asks the broker again
// within its interval and is told to wait. An agent's 5,000 first tokens
// were 15,000 fsyncs at a few hundred a second.
func TestFirstTokenCostsOneFsync(t *testing.T) {
	syncs := countSyncs(t)
	s := newBoundStore(t)
	p := &oneTokenProvider{}
	creds := kauth.Credentials{Broker: kauth.Kiwoom, Env: kauth.Mock, AppKey: "made-up-app-key-for-the-test", AppSecret: "made-up-app-secret-for-the-test"}
	m, err := kauth.NewManager(kauth.Config{Credentials: creds, Provider: p, Store: s})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := m.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := syncs.Load(); n != 1 {
		t.Errorf("the first token fsynced %d files; want 1", n)
	}
	e, err := s.Load(context.Background(), creds.Key())
	if err != nil || e.Token.AccessToken != tok.AccessToken || e.LastIssue.IsZero() {
		t.Errorf("stored entry = token %q, last issue %v, %v; want the token and its attempt", e.Token.Fingerprint(), e.LastIssue, err)
	}
}

// TestFileCallsBounded: the store's other blocking file calls (opening and
// reading entries, taking the flock, writing without fsync) wait while
// maxFileOps of them are under way in the process, as fsyncs wait for
// maxWriters: 5,000 first issuances at once grew an agent to 87 OS threads
// that the runtime never gives back.
func TestFileCallsBounded(t *testing.T) {
	s := newBoundStore(t)
	key := kauth.Key{Broker: kauth.KIS, Env: kauth.Mock, Fingerprint: "0123456789ab"}
	ctx := context.Background()
	for range maxFileOps {
		fileOps <- struct{}{} // calls under way elsewhere in the process
	}
	loaded, locked := make(chan error, 1), make(chan error, 1)
	go func() { _, err := s.Load(ctx, key); loaded <- err }()
	go func() {
		l, err := s.Lock(ctx, key)
		if err == nil {
			l.Unlock()
		}
		locked <- err
	}()
	select {
	case err := <-loaded:
		t.Fatalf("Load returned (%v) while %d file calls were under way", err, maxFileOps)
	case err := <-locked:
		t.Fatalf("Lock returned (%v) while %d file calls were under way", err, maxFileOps)
	case <-time.After(100 * time.Millisecond):
	}
	for range maxFileOps {
		<-fileOps
	}
	if err := <-loaded; !errors.Is(err, kauth.ErrNotFound) {
		t.Errorf("Load = %v; want ErrNotFound", err)
	}
	if err := <-locked; err != nil {
		t.Errorf("Lock = %v", err)
	}
}

// newBoundStore is a Store on a fresh 0700 cache directory, with a key.
func newBoundStore(t *testing.T) *Store {
	t.Helper()
	dir := t.TempDir() + "/cache"
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := New(dir, WithKey(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// countSyncs counts the file fsyncs made until the test ends.
func countSyncs(t *testing.T) *atomic.Int32 {
	var syncs atomic.Int32
	orig := syncFile
	syncFile = func(f *os.File) error {
		syncs.Add(1)
		return orig(f)
	}
	t.Cleanup(func() { syncFile = orig })
	return &syncs
}
