package storetest_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/kauth/kauth/storetest"
)

const childEnv = "KAUTH_STORETEST_CHILD" // the child's role

// TestChildProcess is not a test: it is the body of the child processes
// that the tests below start.
func TestChildProcess(t *testing.T) {
	switch os.Getenv(childEnv) {
	case "":
		t.Skip("runs only as a child of the process tests")
	case "greet":
		fmt.Println("hello")
		os.Exit(0)
	case "exit":
		os.Exit(0)
	}
	os.Exit(1)
}

func TestAwaitLine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, out := storetest.StartChild(t, childEnv+"=greet")
	storetest.AwaitLine(t, out, "hello")
}

func TestRunProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	storetest.RunProcesses(t, 3, childEnv+"=exit")
}
