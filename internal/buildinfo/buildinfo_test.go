package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFrom(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "-compiler", Value: "gc"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "e9b3cd666a0f656f63b03f9461cd73a4df0d9b6e"},
		{Key: "vcs.time", Value: "2026-12-06T17:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	kauthMain := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: Module, Version: "v1.2.0"}, Settings: vcs}
	embedded := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "example.com/bot", Version: "(devel)"}, Settings: vcs,
		Deps: []*debug.Module{{Path: "golang.org/x/oauth2", Version: "v0.37.0"}, {Path: Module, Version: "v1.1.0"}}}
	replaced := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "example.com/bot"},
		Deps: []*debug.Module{{Path: Module, Version: "v1.1.0", Replace: &debug.Module{Path: "../kauth", Version: ""}}}}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		o    Overrides
		want Info
	}{
		{"no build info", nil, Overrides{},
			Info{Version: "unknown", Commit: "unknown", Date: "unknown", GoVersion: runtime.Version()}},
		{"kauth, stamped", kauthMain, Overrides{},
			Info{Version: "v1.2.0", Commit: "e9b3cd666a0f656f63b03f9461cd73a4df0d9b6e", Modified: true, Date: "2026-12-06T17:00:00Z", GoVersion: "go1.26.8"}},
		{"kauth, release overrides", kauthMain, Overrides{Version: "v1.3.0", Commit: "abc", Date: "2027-01-01T00:00:00Z"},
			Info{Version: "v1.3.0", Commit: "abc", Date: "2027-01-01T00:00:00Z", GoVersion: "go1.26.8"}},
		{"kauth, only the version overridden", kauthMain, Overrides{Version: "v1.3.0"},
			Info{Version: "v1.3.0", Commit: "e9b3cd666a0f656f63b03f9461cd73a4df0d9b6e", Modified: true, Date: "2026-12-06T17:00:00Z", GoVersion: "go1.26.8"}},
		// Another program's vcs settings are its own, not kauth's.
		{"embedded in another program", embedded, Overrides{},
			Info{Version: "v1.1.0", Commit: "unknown", Date: "unknown", GoVersion: "go1.26.8"}},
		{"embedded, replaced by a local copy", replaced, Overrides{},
			Info{Version: "v1.1.0", Commit: "unknown", Date: "unknown", GoVersion: "go1.26.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			if got := From(tt.bi, tt.o); got != tt.want {
				t.Errorf("From() = %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	i := Info{Version: "v1.2.0", Commit: "abc", Modified: true, Date: "2026-12-06T17:00:00Z", GoVersion: "go1.26.8", Platform: "linux/amd64"}
	want := "kauth v1.2.0\ncommit  abc-modified\ndate    2026-12-06T17:00:00Z\ngo      go1.26.8 linux/amd64\n"
	if got := i.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
}
