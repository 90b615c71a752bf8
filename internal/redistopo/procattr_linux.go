package redistopo

import "syscall"

// nodeProcAttr puts a node in its own process group, so that a test binary
// killed by a signal does not take the node down with it mid-test, and has
// the kernel kill the node when the test process dies.
func nodeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
