package kauth_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kiwoom"
)

// envFrozenChild makes the test binary run frozenChild instead of the tests.
const envFrozenChild = "KAUTH_TEST_FROZEN_CHILD"

// frozenMargin is the child's ExpiryMargin.
const frozenMargin = 100 * time.Millisecond

// frozenChild gets a short-lived token from an in-process simulator on the
// system clock, prints its expiry, and then asks for a token in a tight
// loop until well past that expiry, counting the answers that handed out
// the first token although it was asked for at or after the end of its
// use. It prints that count. One P, so that after SIGCONT the asking loop
// runs before anything else gets a chance to catch up.
func frozenChild() int {
	runtime.GOMAXPROCS(1)
	sim := brokersim.New()
	// Kiwoom prints expiries to the second: 3 s leaves at least two.
	sim.KiwoomTokenLifetime = 3 * time.Second
	ts := httptest.NewServer(sim)
	defer ts.Close()
	m, err := kauth.NewManager(kauth.Config{
		Credentials:  brokersim.DemoKiwoomMock.Credentials(),
		Provider:     &kiwoom.Provider{BaseURL: brokersim.BaseURL(ts.URL, kauth.Kiwoom, kauth.Mock)},
		Store:        kauth.NewMemoryStore(),
		RefreshAhead: -1,
		ExpiryMargin: frozenMargin,
		Logger:       discardLogger(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer m.Close()
	ctx := context.Background()
	first, err := m.Token(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	end := first.ExpiresAt.Add(-frozenMargin)
	fmt.Printf("usable-until %d\n", end.UnixNano())
	bad, calls := 0, 0
	for time.Now().Before(end.Add(700 * time.Millisecond)) {
		asked := time.Now()
		tok, err := m.Token(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		calls++
		if tok.AccessToken == first.AccessToken && !asked.Before(end) {
			bad++
		}
	}
	fmt.Printf("served-late %d of %d\n", bad, calls)
	return 0
}

// TestFrozenProcessNeverServesPastExpiry: a real process on the system
// clock is stopped (SIGSTOP) while its token is fresh and resumed
// (SIGCONT) after the token's time is up, as a suspended laptop would be.
// Not one Token call after the resume may hand out the old token.
func TestFrozenProcessNeverServesPastExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a process for about 3 s")
	}
	if sigStop == nil {
		t.Skip("this OS cannot stop and resume a process with a signal")
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envFrozenChild+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		t.Fatalf("child said nothing: %v", cmd.Wait())
	}
	ns, ok := strings.CutPrefix(lines.Text(), "usable-until ")
	if !ok {
		t.Fatalf("child said %q", lines.Text())
	}
	if err := cmd.Process.Signal(sigStop); err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Unix(0, n)
	if time.Until(end) < 500*time.Millisecond {
		t.Fatalf("the child was stopped only %v before its token's end", time.Until(end))
	}
	time.Sleep(time.Until(end.Add(200 * time.Millisecond)))
	if err := cmd.Process.Signal(sigCont); err != nil {
		t.Fatal(err)
	}
	if !lines.Scan() {
		t.Fatalf("child said nothing after SIGCONT: %v", cmd.Wait())
	}
	result := lines.Text()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	var bad, calls int
	if _, err := fmt.Sscanf(result, "served-late %d of %d", &bad, &calls); err != nil {
		t.Fatalf("child said %q", result)
	}
	if bad != 0 || calls == 0 {
		t.Errorf("after SIGSTOP across the token's end and SIGCONT: %d of %d Token calls served the old token late", bad, calls)
	} else {
		t.Logf("%d Token calls after the resume, none late", calls)
	}
}
