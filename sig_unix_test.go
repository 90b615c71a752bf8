//go:build unix

package kauth_test

import (
	"os"
	"syscall"
)

// sigStop and sigCont freeze and resume a process.
var sigStop, sigCont os.Signal = syscall.SIGSTOP, syscall.SIGCONT
