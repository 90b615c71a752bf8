//go:build unix && !linux

package redistopo

import "syscall"

// nodeProcAttr puts a node in its own process group, so that a test binary
// killed by a signal does not take the node down with it mid-test. Only
// Linux can have the kernel kill it when the test process dies.
func nodeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
