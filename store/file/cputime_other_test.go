//go:build !unix

package file

import "time"

// cpuTime is not measured here.
func cpuTime() time.Duration { return 0 }
