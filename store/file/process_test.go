package file_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/testlog"
	"github.com/kauth/kauth/store/file"
	"github.com/kauth/kauth/storetest"
)

// These tests run the test binary again as child processes, to prove what
// only separate processes can: that the flock excludes them, that a killed
// holder releases it, and that a killed writer leaves no torn file.

const (
	childEnv    = "KAUTH_FILE_TEST_CHILD" // the child's role
	childDirEnv = "KAUTH_FILE_TEST_DIR"
	childNEnv   = "KAUTH_FILE_TEST_N"
)

// TestChildProcess is not a test: it is the body of the child processes
// that the multi-process tests start.
func TestChildProcess(t *testing.T) {
	role := os.Getenv(childEnv)
	if role == "" {
		t.Skip("runs only as a child of the multi-process tests")
	}
	if err := childMain(role); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func childMain(role string) error {
	ctx := context.Background()
	s, err := file.New(os.Getenv(childDirEnv))
	if err != nil {
		return err
	}
	switch role {
	case "count":
		n, _ := strconv.Atoi(os.Getenv(childNEnv))
		for range n {
			if err := storetest.Increment(ctx, s, keyMock); err != nil {
				return err
			}
		}
		return nil
	case "fences":
		n, _ := strconv.Atoi(os.Getenv(childNEnv))
		return storetest.LeaseFences(ctx, s, keyMock, n)
	case "hold":
		if _, err := s.Lock(ctx, keyMock); err != nil {
			return err
		}
		fmt.Println("locked")
		time.Sleep(time.Minute) // until killed
		return errors.New("not killed")
	case "write":
		for i := 0; ; i++ {
			e := kauth.Entry{
				// Entries of varying size, so a torn write could not pass
				// for a whole one by length.
				Token:     kauth.Token{AccessToken: strings.Repeat("t", 100+i%4000), Type: "Bearer", ExpiresAt: time.Now().Add(time.Hour)},
				LastIssue: time.Now(),
				Rejected:  strconv.Itoa(i),
			}
			if err := s.Save(ctx, keyMock, e); err != nil {
				return err
			}
			if i == 0 {
				fmt.Println("writing")
			}
		}
	}
	return fmt.Errorf("unknown role %q", role)
}

// childVars returns the environment of a child playing role on the store
// in dir.
func childVars(role, dir string, more ...string) []string {
	return append([]string{childEnv + "=" + role, childDirEnv + "=" + dir}, more...)
}

func TestProcessesExcludeEachOther(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const procs, rounds = 6, 15
	// No key file yet: the children also race to create it, and must all
	// end up with the same key, or their increments would be lost.
	dir := cacheDir(t)
	storetest.RunProcesses(t, procs, childVars("count", dir, childNEnv+"="+strconv.Itoa(rounds))...)
	s := newStore(t, dir)
	n, err := storetest.Count(t.Context(), s, keyMock)
	if err != nil {
		t.Fatal(err)
	}
	if want := procs * rounds; n != want {
		t.Errorf("%d processes × %d locked increments left the counter at %d; want %d", procs, rounds, n, want)
	}
}

func TestProcessesFences(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	storetest.CheckProcessFences(t, 4, 10, childVars("fences", cacheDir(t), childNEnv+"=10")...)
}

func TestKilledHolderReleasesLock(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := cacheDir(t)
	s := newStore(t, dir)
	cmd, out := storetest.StartChild(t, childVars("hold", dir)...)
	storetest.AwaitLine(t, out, "locked")

	// While the child lives, its lock holds against this process.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if unlock, err := s.Lock(ctx, keyMock); err == nil {
		unlock.Unlock()
		t.Fatal("Lock succeeded while another process held it")
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ctx, cancel = context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	unlock, err := s.Lock(ctx, keyMock)
	if err != nil {
		t.Fatalf("Lock after the holder was killed = %v", err)
	}
	unlock.Unlock()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Lock took %v after the holder was killed; want promptly", d)
	}
}

func TestKilledWriterLeavesNoTornFile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := cacheDir(t)
	var logs testlog.Buffer
	s := newStore(t, dir, file.WithLogger(logs.Logger()))
	for i := range 5 {
		cmd, out := storetest.StartChild(t, childVars("write", dir)...)
		storetest.AwaitLine(t, out, "writing")
		time.Sleep(time.Duration(20+rand.IntN(100)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		e, err := s.Load(t.Context(), keyMock)
		if err != nil {
			t.Fatalf("round %d: Load after the writer was killed = %v; want its last whole entry", i, err)
		}
		if !strings.HasPrefix(e.Token.AccessToken, "ttt") || e.Rejected == "" {
			t.Fatalf("round %d: Load after the writer was killed returned a mangled entry", i)
		}
		t.Logf("round %d: the writer was killed after %s writes", i, e.Rejected)
	}
	if n := len(logs.Warnings()); n > 0 {
		t.Errorf("killed writers left unreadable files (%d warnings):\n%s", n, logs.String())
	}
	keys, err := s.List(t.Context())
	if err != nil || len(keys) != 1 {
		t.Errorf("List = %v, %v; want the one entry (temporary files are not entries)", keys, err)
	}
}
