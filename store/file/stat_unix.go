//go:build unix

package file

import (
	"io/fs"
	"os"
	"syscall"
)

func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// openNoFollow opens path for reading, refusing a symbolic link: an entry
// file is always a plain file, and a link could point anywhere. O_NONBLOCK
// keeps the open of a FIFO (or a device) from waiting for a writer that
// never comes; the caller then refuses it as not a regular file. On a
// regular file O_NONBLOCK does nothing.
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// lockFlag is how lock files are opened: created if missing, never through
// a symbolic link, never waiting on a FIFO.
const lockFlag = os.O_CREATE | os.O_RDWR | syscall.O_NOFOLLOW | syscall.O_NONBLOCK
