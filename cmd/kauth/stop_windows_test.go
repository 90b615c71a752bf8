package main

import (
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/windows"
)

// ownConsoleGroup starts cmd in a console process group of its own, as a
// service wrapper or a second console window would, so that a Ctrl-Break
// sent to it reaches it alone.
func ownConsoleGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP}
}

// consoleStop stops d the way Windows stops a console program: Ctrl-Break
// to its process group, which Go delivers as os.Interrupt. It returns the
// error of the sending.
func consoleStop(t *testing.T, d *daemon) error {
	t.Helper()
	return windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(d.cmd.Process.Pid))
}
