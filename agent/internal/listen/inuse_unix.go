//go:build !windows

package listen

import (
	"errors"
	"syscall"
)

// AddrInUse reports whether err is a listen on an address another socket
// holds.
func AddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
