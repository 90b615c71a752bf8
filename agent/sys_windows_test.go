package agent_test

import (
	"syscall"
	"testing"
)

func mkfifo(t *testing.T, _ string) {
	t.Skip("windows has no FIFOs in the file system")
}

func setReceiveBuffer(fd uintptr, n int) {
	syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
}
