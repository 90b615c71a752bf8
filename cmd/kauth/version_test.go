package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// versionShape is the text of kauth version: the version, commit, date and
// Go toolchain, one a line.
var versionShape = regexp.MustCompile(`^kauth (\S+)\ncommit  (\S+)\ndate    (\S+)\ngo      (go\S+) (\S+/\S+)\n$`)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := run(t, nil, "", args...)
		r.wantCode(t, 0)
		m := versionShape.FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("kauth %s: stdout = %q; want the version, commit, date and Go version, one a line", args[0], r.stdout)
		}
		if m[4] != runtime.Version() || m[5] != runtime.GOOS+"/"+runtime.GOARCH {
			t.Errorf("kauth %s: go line = %q %q; want %q %s/%s", args[0], m[4], m[5], runtime.Version(), runtime.GOOS, runtime.GOARCH)
		}
		if r.stderr != "" {
			t.Errorf("kauth %s: stderr = %q; want nothing", args[0], r.stderr)
		}
	}
	r := run(t, nil, "", "version", "now")
	r.wantCode(t, exitUsage)
	if !strings.Contains(r.stderr, `unexpected argument "now"`) {
		t.Errorf("kauth version now: stderr = %q; want the unexpected argument named", r.stderr)
	}
	r = run(t, nil, "", "help")
	if !regexp.MustCompile(`(?m)^  version +\S`).MatchString(r.stdout) {
		t.Errorf("kauth help does not list the version command:\n%s", r.stdout)
	}
	r = run(t, nil, "", "version", "--help")
	r.wantCode(t, 0)
	if !strings.Contains(r.stdout, "Usage: kauth version") {
		t.Errorf("kauth version --help: stdout = %q; want its usage", r.stdout)
	}
}

// kauth version names what the toolchain recorded in the binary (the
// checkout's commit, when it could stamp one); a release build's
// -ldflags -X values replace it.
func TestProcessVersion(t *testing.T) {
	// The toolchain stamps a build in a git checkout with its commit unless
	// told not to (GOFLAGS=-buildvcs=false); ask for it.
	stamped := filepath.Join(t.TempDir(), "kauth")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", stamped, ".").CombinedOutput(); err != nil {
		t.Logf("go build -buildvcs=true: %v\n%s", err, out)
		stamped = kauthBin
	}
	recorded := map[string]string{}
	if out, err := exec.Command("go", "version", "-m", stamped).Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) == 2 && strings.HasPrefix(f[1], "vcs.") {
				k, v, _ := strings.Cut(f[1], "=")
				recorded[k] = v
			}
		}
	} else {
		t.Fatalf("go version -m: %v", err)
	}
	out, err := exec.Command(stamped, "version").Output()
	m := versionShape.FindStringSubmatch(string(out))
	if err != nil || m == nil {
		t.Fatalf("kauth version: %v, stdout %q; want the version lines", err, out)
	}
	wantCommit, wantDate := "unknown", "unknown"
	if rev := recorded["vcs.revision"]; rev != "" {
		wantCommit, wantDate = rev, recorded["vcs.time"]
		if recorded["vcs.modified"] == "true" {
			wantCommit += "-modified"
		}
		if head, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil && strings.TrimSpace(string(head)) != rev {
			t.Errorf("the binary records commit %s; the checkout is at %s", rev, head)
		}
	} else {
		t.Logf("the toolchain recorded no commit in this checkout (a git worktree is not stamped)")
	}
	if m[2] != wantCommit || m[3] != wantDate {
		t.Errorf("kauth version commit, date = %q, %q; want %q, %q as recorded in the binary", m[2], m[3], wantCommit, wantDate)
	}

	bin := filepath.Join(t.TempDir(), "kauth")
	const pkg = "github.com/kauth/kauth/internal/buildinfo"
	ldflags := "-X " + pkg + ".version=v9.8.7 -X " + pkg + ".commit=0123abc -X " + pkg + ".date=2026-01-02T03:04:05Z"
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -ldflags %q: %v\n%s", ldflags, err, out)
	}
	out, err = exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("kauth --version: %v", err)
	}
	want := "kauth v9.8.7\ncommit  0123abc\ndate    2026-01-02T03:04:05Z\ngo      " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if string(out) != want {
		t.Errorf("kauth --version of a release build =\n%s\nwant\n%s", out, want)
	}
}
