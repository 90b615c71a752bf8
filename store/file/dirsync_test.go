package file

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDirSyncGroupCommit: callers that arrive while a directory fsync runs
// do not count on it (it may have started before their rename); they share
// one fsync that starts after them, and none returns before it is done.
func TestDirSyncGroupCommit(t *testing.T) {
	var calls atomic.Int32
	running := make(chan struct{}, 8)
	release := make(chan struct{})
	var done atomic.Int32 // fsyncs finished
	d := &dirSync{fsync: func(string) error {
		calls.Add(1)
		running <- struct{}{}
		<-release
		done.Add(1)
		return nil
	}}
	first := make(chan error, 1)
	go func() { first <- d.sync("dir") }()
	awaitFsync(t, running) // the first fsync runs

	const late = 5
	var wg sync.WaitGroup
	var early atomic.Int32
	for range late {
		wg.Go(func() {
			if err := d.sync("dir"); err != nil {
				t.Error(err)
			}
			if done.Load() < 2 {
				early.Add(1)
			}
		})
	}
	// Let the late callers queue up behind the running fsync.
	for deadline := time.Now().Add(10 * time.Second); d.waiting() < late; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d late callers wait for the running fsync after 10 s", d.waiting(), late)
		}
	}
	release <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	awaitFsync(t, running) // the late callers' fsync
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 2 {
		t.Errorf("fsyncs = %d; want 2 (one running, one shared by the %d callers that came during it)", n, late)
	}
	if n := early.Load(); n != 0 {
		t.Errorf("%d callers returned on the fsync that was running when they came", n)
	}
}

func awaitFsync(t *testing.T, running chan struct{}) {
	t.Helper()
	select {
	case <-running:
	case <-time.After(10 * time.Second):
		t.Fatal("no fsync started in 10 s")
	}
}
