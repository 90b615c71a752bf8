package redistopo

import "syscall"

// nodeProcAttr: windows has no process groups of this kind; Kill ends the
// node by its handle.
func nodeProcAttr() *syscall.SysProcAttr { return nil }
