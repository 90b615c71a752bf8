//go:build !windows

package main

import (
	"os"
	"syscall"
)

// forwardSignal passes sig on to p.
func forwardSignal(p *os.Process, sig os.Signal) { p.Signal(sig) }

// commandStatus is the status a shell reports for a finished command:
// its exit code, or 128+N when signal N ended it.
func commandStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
