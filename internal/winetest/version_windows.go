package winetest

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// version asks Wine's ntdll, which exports wine_get_version; Windows's
// does not.
func version() string {
	proc := windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version")
	if proc.Find() != nil {
		return ""
	}
	r, _, _ := proc.Call()
	if r == 0 {
		return "?"
	}
	// A pointer to a string in ntdll's own memory, which Go does not manage.
	return windows.BytePtrToString(*(**byte)(unsafe.Pointer(&r)))
}
