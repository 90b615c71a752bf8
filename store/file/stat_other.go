//go:build !unix

package file

import (
	"io/fs"
	"os"
)

// inode is unknown here; size and mtime tell versions apart.
func inode(fs.FileInfo) uint64 { return 0 }

func openNoFollow(path string) (*os.File, error) { return os.Open(path) }

const lockFlag = os.O_CREATE | os.O_RDWR
