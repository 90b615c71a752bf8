//go:build windows

package listen

import (
	"errors"
	"syscall"

	"golang.org/x/sys/windows"
)

// AddrInUse reports whether err is a listen on an address another socket
// holds: winsock's WSAEADDRINUSE, which is not syscall.EADDRINUSE there.
func AddrInUse(err error) bool {
	return errors.Is(err, windows.WSAEADDRINUSE) || errors.Is(err, syscall.EADDRINUSE)
}
