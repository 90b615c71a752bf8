package storetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// A backend's multi-process tests run the test binary again as child
// processes, to prove what only separate processes can: that the store's
// lock excludes them (each child Increments a counter; see Count) and that
// a killed holder releases it. The calling package has a test named
// TestChildProcess that, when the environment names a role, plays it and
// exits; StartChild runs only that test.

// StartChild starts the test binary again as a child that runs only
// TestChildProcess, with env added to its environment. The child's stderr
// is the test's; its stdout is returned for AwaitLine. The child is killed
// at the end of the test if it still runs.
func StartChild(t *testing.T, env ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, bufio.NewReader(out)
}

// AwaitLine reads lines from a child's stdout until one is want. It fails
// the test if the child exits first or does not print want within 30
// seconds.
func AwaitLine(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for {
			line, err := r.ReadString('\n')
			if strings.TrimSpace(line) == want {
				done <- nil
				// Keep draining so the child never blocks on a full pipe.
				io.Copy(io.Discard, r)
				return
			}
			if err != nil {
				done <- fmt.Errorf("child exited before printing %q: %v", want, err)
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("child did not print %q within 30s", want)
	}
}

// RunProcesses starts n children with StartChild(t, env...), all at once,
// and waits until every one has exited. Each that fails fails the test.
func RunProcesses(t *testing.T, n int, env ...string) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		cmd, _ := StartChild(t, env...)
		wg.Go(func() {
			if err := cmd.Wait(); err != nil {
				t.Errorf("child: %v", err)
			}
		})
	}
	wg.Wait()
}

// LeaseFences takes the lease of k n times through s, writing the entry
// under each, and prints the fence of each as a line "fence N" on stdout:
// the body of a child of CheckProcessFences.
func LeaseFences(ctx context.Context, s kauth.Store, k kauth.Key, n int) error {
	for i := range n {
		l, err := s.Lock(ctx, k)
		if err != nil {
			return fmt.Errorf("Lock: %w", err)
		}
		err = l.Save(ctx, kauth.Entry{Rejected: "fence" + strconv.Itoa(i)})
		l.Unlock()
		if err != nil {
			return fmt.Errorf("Lease.Save: %w", err)
		}
		fmt.Printf("fence %d\n", l.Fence())
	}
	return nil
}

// CheckProcessFences starts procs children with StartChild(t, env...),
// all at once, each of which must run LeaseFences with n, and checks what
// fences promise across processes: each child's fences increase, no two
// leases of any children share a fence, and every lease wrote (none was
// refused as stale).
func CheckProcessFences(t *testing.T, procs, n int, env ...string) {
	t.Helper()
	type result struct {
		fences []uint64
		err    error
	}
	results := make(chan result, procs)
	for range procs {
		cmd, out := StartChild(t, env...)
		go func() {
			var r result
			for {
				line, err := out.ReadString('\n')
				if f, ok := strings.CutPrefix(strings.TrimSpace(line), "fence "); ok {
					v, perr := strconv.ParseUint(f, 10, 64)
					if perr != nil {
						r.err = perr
					}
					r.fences = append(r.fences, v)
				}
				if err != nil {
					break
				}
			}
			if err := cmd.Wait(); err != nil && r.err == nil {
				r.err = fmt.Errorf("child: %w", err)
			}
			results <- r
		}()
	}
	seen := make(map[uint64]bool)
	for range procs {
		var r result
		select {
		case r = <-results:
		case <-time.After(60 * time.Second):
			t.Fatal("children did not finish within 60s")
		}
		if r.err != nil {
			t.Fatal(r.err)
		}
		if len(r.fences) != n {
			t.Fatalf("a child reported %d fences; want %d", len(r.fences), n)
		}
		for i, f := range r.fences {
			if i > 0 && f <= r.fences[i-1] {
				t.Errorf("a child's fences do not increase: %v", r.fences)
			}
			if seen[f] {
				t.Errorf("fence %d was granted to two leases", f)
			}
			seen[f] = true
		}
	}
}
