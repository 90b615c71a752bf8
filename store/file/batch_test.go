package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testlog"
)

// TestLoadBatchAsLoad: LoadBatch answers each key as Load does, in order:
// every third key's entry whole, a corrupt file not found (and reported
// once), a key whose path is a directory failing alone with Load's error,
// the others not found; and once ctx is done, it reads nothing more.
func TestLoadBatchAsLoad(t *testing.T) {
	var logs testlog.Buffer
	s := newBoundStore(t)
	s.logger = logs.Logger()
	ctx := context.Background()
	now := time.Now()
	keys := make([]kauth.Key, 60)
	for i := range keys {
		keys[i] = kauth.Key{Broker: kauth.KIS, Env: kauth.Real, Fingerprint: fmt.Sprintf("%012x", 0xba7c0000+i)}
		path, err := s.path(keys[i])
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case i == 7:
			err = os.WriteFile(path, []byte("garbage"), 0o600)
		case i == 11:
			err = os.Mkdir(path, 0o700)
		case i%3 == 0:
			e := kauth.Entry{Token: kauth.Token{AccessToken: fmt.Sprintf("made-up-%d", i), Type: "Bearer", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}}
			e.History.Issued = i
			err = s.Save(ctx, keys[i], e)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	entries, errs := s.LoadBatch(ctx, keys)
	if len(entries) != len(keys) || len(errs) != len(keys) {
		t.Fatalf("LoadBatch(%d keys) = %d entries, %d errors", len(keys), len(entries), len(errs))
	}
	for i, k := range keys {
		one, oneErr := s.Load(ctx, k)
		switch {
		case i == 11:
			if errs[i] == nil || errors.Is(errs[i], kauth.ErrNotFound) || oneErr == nil || errs[i].Error() != oneErr.Error() {
				t.Errorf("key %d (a directory): LoadBatch error %v, Load error %v; want Load's error", i, errs[i], oneErr)
			}
		case i == 7 || i%3 != 0:
			if !errors.Is(errs[i], kauth.ErrNotFound) || !errors.Is(oneErr, kauth.ErrNotFound) {
				t.Errorf("key %d (corrupt or missing): LoadBatch error %v, Load error %v; want both ErrNotFound", i, errs[i], oneErr)
			}
		case errs[i] != nil || oneErr != nil:
			t.Errorf("key %d: LoadBatch error %v, Load error %v; want its entry", i, errs[i], oneErr)
		case entries[i] != one || entries[i].History.Issued != i:
			t.Errorf("key %d: LoadBatch's entry (history %+v) is not Load's (%+v)", i, entries[i].History, one.History)
		}
	}
	if w := logs.Warnings(); len(w) != 1 || !strings.Contains(w[0], "unreadable") {
		t.Errorf("warnings = %q; want one, for the corrupt file", w)
	}

	done, cancel := context.WithCancel(ctx)
	cancel()
	_, errs = s.LoadBatch(done, keys)
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("LoadBatch after ctx was done: key %d: %v; want context.Canceled", i, err)
		}
	}
}

// TestLoadBatchFileCallsBounded: LoadBatch reads its files through the
// store's bound on blocking file calls, shared with the rest of the
// process (with every slot taken elsewhere, it reads nothing until one
// frees), and with at most maxFileOps goroutines, not one per key.
func TestLoadBatchFileCallsBounded(t *testing.T) {
	s := newBoundStore(t)
	keys := make([]kauth.Key, 100)
	for i := range keys {
		keys[i] = kauth.Key{Broker: kauth.KIS, Env: kauth.Real, Fingerprint: fmt.Sprintf("%012x", i)}
	}
	for range maxFileOps {
		fileOps <- struct{}{} // calls under way elsewhere in the process
	}
	before := runtime.NumGoroutine()
	loaded := make(chan []error, 1)
	go func() { _, errs := s.LoadBatch(context.Background(), keys); loaded <- errs }()
	select {
	case <-loaded:
		t.Fatalf("LoadBatch returned while %d file calls were under way", maxFileOps)
	case <-time.After(100 * time.Millisecond):
	}
	if n := runtime.NumGoroutine() - before; n > maxFileOps+1 {
		t.Errorf("LoadBatch of %d keys runs %d goroutines; want at most %d readers and itself", len(keys), n, maxFileOps)
	}
	<-fileOps // one slot frees: the readers take turns on it
	errs := <-loaded
	for range maxFileOps - 1 {
		<-fileOps
	}
	for i, err := range errs {
		if !errors.Is(err, kauth.ErrNotFound) {
			t.Fatalf("key %d: %v; want ErrNotFound", i, err)
		}
	}
}

// BenchmarkLoad1000: reading 1,000 entries, one Load each and with one
// LoadBatch.
func BenchmarkLoad1000(b *testing.B) {
	dir := b.TempDir() + "/cache"
	if err := os.Mkdir(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	s, err := New(dir, WithKey(make([]byte, 32)))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	keys := make([]kauth.Key, 1000)
	for i := range keys {
		keys[i] = kauth.Key{Broker: kauth.KIS, Env: kauth.Real, Fingerprint: fmt.Sprintf("%012x", i)}
		e := kauth.Entry{Token: kauth.Token{AccessToken: "made-up", Type: "Bearer", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}}
		if err := s.Save(context.Background(), keys[i], e); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("OneByOne", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			for _, k := range keys {
				if _, err := s.Load(context.Background(), k); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("LoadBatch", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			_, errs := s.LoadBatch(context.Background(), keys)
			if err := errors.Join(errs...); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// reportCPU reports the process's CPU time (user and system) per op, from
// now until the returned function is called.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}
