// Package winetest lets kauth's Windows tests run under Wine, which CI
// uses for want of a Windows machine (.ci/run). Wine runs kauth's Windows
// code for real (file locks, directory watches, sockets, process
// handling) but is not Windows in everything: a test of what Wine does not
// do skips there, with Skip, saying what Wine lacks. Wine is told by what
// the process finds at run time, never by an environment variable: nothing
// a user could set makes a test, let alone kauth, act as if under Wine.
package winetest

import "testing"

// Version is the version of Wine this process runs under, or "" on
// Windows proper and on every other system.
func Version() string { return version() }

// Skip skips t if it runs under Wine, which lacks what t tests: lacks
// names it, as Windows names it.
func Skip(t testing.TB, lacks string) {
	t.Helper()
	if v := Version(); v != "" {
		t.Skipf("Wine %s lacks %s", v, lacks)
	}
}
