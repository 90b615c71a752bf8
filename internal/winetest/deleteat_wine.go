//go:build windows && winetest

package winetest

import _ "unsafe" // for go:linkname

// Go removes a directory's files (os.RemoveAll, and so the cleanup of every
// t.TempDir) with FileDispositionInformationEx, which Wine 8.0 does not
// implement: it answers STATUS_NOT_IMPLEMENTED, which Go does not take for
// "not supported", so every test that leaves a file in its temporary
// directory fails. Go keeps the way it removes files on Windows before 10
// version 1607 behind this switch; under Wine, it is set.
//
// Only test binaries built with -tags winetest and
// -ldflags=-checklinkname=0 hold this file, as CI builds them for Wine.
//
//go:linkname deleteatFallback internal/syscall/windows.TestDeleteatFallback
var deleteatFallback bool

func init() {
	if Version() != "" {
		deleteatFallback = true
	}
}
