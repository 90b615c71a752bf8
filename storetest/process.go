package storetest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
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
