package file

import (
	"errors"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

// busyWait bounds how long an operation on an entry waits for another
// process's use of that file to end: a read or a rename of an entry lasts
// well under a millisecond, so only a stuck process, or a real permission
// error, lasts this long.
const busyWait = 2 * time.Second

// retry runs op, again while it fails because another handle is using the
// file. Go opens files without FILE_SHARE_DELETE, so on Windows, where
// Unix would let both go ahead: a rename over an entry (MoveFileEx), or its
// removal, fails while another process or goroutine reads it; and opening
// an entry fails while a rename or removal has it open. These fail with
// ERROR_SHARING_VIOLATION, or ERROR_ACCESS_DENIED (a file being replaced
// or removed cannot be opened). An error that lasts busyWait is returned as
// it is: a cache dir or file this user really may not write or read.
func retry(op func() error) error {
	deadline := time.Now().Add(busyWait)
	pause := time.Millisecond
	for {
		err := op()
		if err == nil || !busy(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

func busy(err error) bool {
	return errors.Is(err, syscall.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_SHARING_VIOLATION)
}
