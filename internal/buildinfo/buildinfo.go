// Package buildinfo tells which build of kauth is running: its version,
// commit, date and Go version.
//
// The Go toolchain records them in every binary it builds from a module
// (runtime/debug.ReadBuildInfo: the module version, and vcs.revision,
// vcs.time and vcs.modified when built inside a git checkout). A release
// build may set them itself, which wins over what the toolchain recorded:
//
//	go build -ldflags "-X github.com/kauth/kauth/internal/buildinfo.version=v1.2.0 \
//	  -X github.com/kauth/kauth/internal/buildinfo.commit=$(git rev-parse HEAD) \
//	  -X github.com/kauth/kauth/internal/buildinfo.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" ./cmd/kauth
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Module is kauth's module path.
const Module = "github.com/kauth/kauth"

// Set with -ldflags "-X github.com/kauth/kauth/internal/buildinfo.NAME=VALUE";
// empty means what the toolchain recorded.
var (
	version string
	commit  string
	date    string
)

// Info describes one build. An unknown field is "unknown", never empty.
type Info struct {
	Version   string // the module version: v1.2.0, a pseudo-version, or (devel)
	Commit    string // the git revision the binary was built from
	Modified  bool   // the checkout had uncommitted changes
	Date      string // the commit's time (vcs.time), or the date a release set
	GoVersion string // the Go toolchain that built the binary
	Platform  string // GOOS/GOARCH
}

// Get returns the running binary's Info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return From(bi, Overrides{Version: version, Commit: commit, Date: date})
}

// Overrides are the values a release build sets with -ldflags; each
// non-empty one replaces what the toolchain recorded.
type Overrides struct {
	Version, Commit, Date string
}

// From reads bi (nil when the binary carries no build information) with o
// on top.
func From(bi *debug.BuildInfo, o Overrides) Info {
	i := Info{GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			i.GoVersion = bi.GoVersion
		}
		if bi.Main.Path == Module {
			i.Version = bi.Main.Version
			// The vcs settings describe the main module's checkout: they are
			// kauth's only when kauth is the main module.
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					i.Commit = s.Value
				case "vcs.time":
					i.Date = s.Value
				case "vcs.modified":
					i.Modified = s.Value == "true"
				}
			}
		} else {
			// kauth built into another program: its version is that of
			// the kauth module the program requires.
			for _, d := range bi.Deps {
				if d.Path == Module {
					if d.Replace != nil && d.Replace.Version != "" {
						d = d.Replace
					}
					i.Version = d.Version
				}
			}
		}
	}
	if o.Version != "" {
		i.Version = o.Version
	}
	if o.Commit != "" {
		// A release names its commit; the checkout's state is not known.
		i.Commit, i.Modified = o.Commit, false
	}
	if o.Date != "" {
		i.Date = o.Date
	}
	for _, f := range []*string{&i.Version, &i.Commit, &i.Date} {
		if *f == "" {
			*f = "unknown"
		}
	}
	return i
}

// CommitLabel is the commit, with "-modified" when the checkout had
// uncommitted changes.
func (i Info) CommitLabel() string {
	if i.Modified {
		return i.Commit + "-modified"
	}
	return i.Commit
}

// String is the text of kauth version: one field a line.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kauth %s\n", i.Version)
	fmt.Fprintf(&b, "commit  %s\n", i.CommitLabel())
	fmt.Fprintf(&b, "date    %s\n", i.Date)
	fmt.Fprintf(&b, "go      %s %s\n", i.GoVersion, i.Platform)
	return b.String()
}
