//go:build !windows

package main

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// forwardSignal passes sig on to p, but for an interrupt the terminal has
// already sent it: Ctrl-C signals the whole foreground process group, p
// included, and a second SIGINT would cut short a program that stops
// gracefully on the first and at once on the second.
func forwardSignal(p *os.Process, sig os.Signal) {
	if sig == os.Interrupt && terminalForeground() {
		return
	}
	p.Signal(sig)
}

// terminalForeground reports whether kauth runs in the foreground process
// group of its controlling terminal, the group a Ctrl-C there signals.
var terminalForeground = func() bool {
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return false // no controlling terminal: no Ctrl-C reached p
	}
	defer tty.Close()
	fg, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP)
	return err == nil && fg == syscall.Getpgrp()
}

// commandStatus is the status a shell reports for a finished command:
// its exit code, or 128+N when signal N ended it.
func commandStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
