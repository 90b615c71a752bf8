//go:build !unix

package file

import (
	"io/fs"
	"os"
)

// inode is unknown here; size and mtime tell versions apart.
func inode(fs.FileInfo) uint64 { return 0 }

func openNoFollow(path string) (f *os.File, err error) {
	err = retry(func() error {
		f, err = os.Open(path)
		return err
	})
	return f, err
}

const lockFlag = os.O_CREATE | os.O_RDWR
