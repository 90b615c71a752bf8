package main

import "os"

// forwardSignal does nothing on Windows: Ctrl-C and Ctrl-Break reach every
// process of the console, CMD included, and Windows has no way to send
// one process a SIGTERM or SIGHUP.
func forwardSignal(*os.Process, os.Signal) {}

// commandStatus is CMD's exit code: Windows ends a process with a code, not
// a signal.
func commandStatus(ps *os.ProcessState) int { return ps.ExitCode() }
