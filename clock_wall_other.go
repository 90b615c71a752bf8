//go:build !(linux && amd64)

package kauth

// wallNs returns the wall clock in Unix nanoseconds.
func wallNs() int64 { return wallNsNow() }
