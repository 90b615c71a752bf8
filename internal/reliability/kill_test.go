package reliability_test

import "os"

// killPID ends process pid at once (SIGKILL on unix, TerminateProcess on
// windows), as a crash would.
func killPID(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
		p.Release()
	}
}
