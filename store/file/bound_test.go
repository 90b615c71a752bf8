package file

import (
	"context"
	"fmt"
	"os"
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

	dir := t.TempDir() + "/cache"
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := New(dir, WithKey(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
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
