//go:build !linux

package sdnotify

// monotonicUsec fails off Linux, where no systemd listens.
func monotonicUsec() (uint64, error) { return 0, errNoMonotonic }
