// Command idlewake counts the wakeups of an idle process that holds one
// kauth Manager with a token, against the same process holding none. It
// re-executes itself as the child: the child serves a simulator on
// 127.0.0.1, gets a token through a Manager on the system clock (on the
// memory store, or the file store with -store file), says so, and then
// does nothing. The parent sums the context switches of every thread of
// the child (/proc/<pid>/task/*/status) over -for; each is a wakeup.
//
//	go run ./bench/cmd/idlewake [-for 10s] [-store memory|file]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kiwoom"
	"github.com/kauth/kauth/store/file"

	"github.com/kauth/kauth/bench/internal/proc"
)

const envChild = "KAUTH_IDLEWAKE_CHILD" // "none", or the store to hold a Manager on

func main() {
	if kind := os.Getenv(envChild); kind != "" {
		os.Exit(child(kind))
	}
	span := flag.Duration("for", 10*time.Second, "how long the idle child is watched")
	store := flag.String("store", "memory", "the Manager's store: memory or file")
	flag.Parse()
	fmt.Printf("idle process, context switches of all its threads over %v (/proc/<pid>/task/*/status)\n\n", *span)
	fmt.Printf("| process | wakeups/s |\n|---|---:|\n")
	for _, kind := range []string{"none", *store} {
		rate, err := measure(kind, *span)
		if err != nil {
			fmt.Fprintln(os.Stderr, "idlewake:", err)
			os.Exit(1)
		}
		name := "Go runtime only, no Manager"
		if kind != "none" {
			name = "one Manager with a token, " + kind + " store"
		}
		fmt.Printf("| %s | %.2f |\n", name, rate)
	}
}

func measure(kind string, span time.Duration) (float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), envChild+"="+kind)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if !bufio.NewScanner(out).Scan() {
		return 0, fmt.Errorf("the %s child said nothing", kind)
	}
	time.Sleep(time.Second) // let start-up settle
	pid := cmd.Process.Pid
	s0, t0 := proc.Switches(pid), time.Now()
	time.Sleep(span)
	s1 := proc.Switches(pid)
	return float64(s1-s0) / time.Since(t0).Seconds(), nil
}

func child(kind string) int {
	if kind != "none" {
		sim := brokersim.New()
		ts := httptest.NewServer(sim)
		defer ts.Close()
		var store kauth.Store = kauth.NewMemoryStore()
		if kind == "file" {
			dir, err := os.MkdirTemp("", "kauth-idlewake-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			fs, err := file.New(filepath.Join(dir, "cache"))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			store = fs
		}
		m, err := kauth.NewManager(kauth.Config{
			Credentials: brokersim.DemoKiwoomMock.Credentials(),
			Provider:    &kiwoom.Provider{BaseURL: brokersim.BaseURL(ts.URL, kauth.Kiwoom, kauth.Mock)},
			Store:       store,
			Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer m.Close()
		if _, err := m.Token(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// Keep-alive connections to the simulator are not kauth's wakeups.
		ts.CloseClientConnections()
	}
	fmt.Println("ready")
	// Wait for the parent's kill; a bare select{} would be reported as a
	// deadlock when nothing else runs.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	return 0
}
