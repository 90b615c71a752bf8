// Package private checks and makes files and directories that only their
// owner can open: the mode bits on Unix, the access control list on
// Windows. The file store keeps tokens and sealing keys in them, and the
// agent its key and its config's secret files; neither trusts one that
// others can read.
package private

import (
	"fmt"
	"io/fs"
)

// Exposure says who besides the owner may open a file, and how to stop it.
type Exposure struct {
	// Who is what opens it to others, as the platform shows it, worded
	// to follow "is": "mode 0644" on Unix, "open to BUILTIN\Users" on
	// Windows.
	Who string
	// Fix is the command that makes it private.
	Fix string
}

// Check reports whether path, whose FileInfo is fi, is open to users
// other than its owner: nil if it is not. err is set when the platform
// could not tell (Windows could not read the access list).
func Check(path string, fi fs.FileInfo) (*Exposure, error) {
	return check(path, fi)
}

// Restrict makes path, which the caller has just created, open to its
// owner alone: mode 0600 (0700 for a directory) on Unix; on Windows an
// access list of its own, not inherited, that grants full control to the
// current user, SYSTEM and the Administrators (who can take any file on
// Windows, as root can read any on Unix) and, for a directory, is
// inherited by everything created in it.
func Restrict(path string, dir bool) error {
	if err := restrict(path, dir); err != nil {
		return fmt.Errorf("making %s private: %w", path, err)
	}
	return nil
}
