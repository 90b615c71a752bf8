//go:build !windows

package file

// retry runs op once: a rename over, or the removal of, a file others have
// open goes ahead here, and does not block their opening it.
func retry(op func() error) error { return op() }
