//go:build !windows

package main

import (
	"os/exec"
	"syscall"
	"testing"
)

// ownConsoleGroup does nothing: on Unix the test stops d by its pid.
func ownConsoleGroup(*exec.Cmd) {}

// consoleStop stops d the way a service manager does on Unix: SIGTERM.
func consoleStop(t *testing.T, d *daemon) error {
	t.Helper()
	return d.cmd.Process.Signal(syscall.SIGTERM)
}
