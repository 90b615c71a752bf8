package listen

import "errors"

// Platform refuses to serve on goos where the agent cannot check that
// only its user may read its key file, its config's secret files and its
// socket: windows keeps that in ACLs, which the agent does not read.
func Platform(goos string) error {
	if goos == "windows" {
		return errors.New("agent: kauth serve is not supported on windows: it cannot check that only you can read its key file, secret files and socket")
	}
	return nil
}
