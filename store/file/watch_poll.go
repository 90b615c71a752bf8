//go:build !linux && !windows && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package file

import (
	"errors"
	"runtime"
)

// eventsName names, for the log, what osEvents listens with: nothing.
const eventsName = "none"

// osEvents: kauth listens to no file events on this system; Watch polls.
func osEvents(string) (notifier, error) {
	return nil, errors.New("no file events on " + runtime.GOOS)
}
