//go:build dragonfly || freebsd || netbsd || openbsd

package file

import "golang.org/x/sys/unix"

// kqOpenFlags opens the watched directory for reading, as kqueue's
// EVFILT_VNODE needs a descriptor of it.
const kqOpenFlags = unix.O_RDONLY
