// Package benchenv reads the settings the benchmark tools take from the
// environment.
package benchenv

import "os"

// Or returns the value of the environment variable k, or def when it is
// unset or empty.
func Or(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
