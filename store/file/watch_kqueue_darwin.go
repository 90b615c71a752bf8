package file

import "golang.org/x/sys/unix"

// kqOpenFlags opens the watched directory with O_EVTONLY: "descriptor
// requested for event notifications only" (open(2) on macOS), which does
// not keep the volume from being unmounted.
const kqOpenFlags = unix.O_EVTONLY
