// Package scripts_test tests the release tooling: scripts/dist.sh (make
// dist), scripts/build.sh and the Dockerfile that builds with it.
package scripts_test

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"github.com/kauth/kauth/internal/longtest"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// The stamp the test builds with: a made-up version, commit and commit time.
const (
	testVersion = "v0.0.0-disttest"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
	testEpoch   = "1767225600" // 2026-01-01T00:00:00Z
	testDate    = "2026-01-01T00:00:00Z"
)

// root is the repository's root, where the scripts run.
func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// script runs a script of scripts/ with env added to the environment.
func script(t *testing.T, name string, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root(t), "scripts", name), args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// TestDist builds two targets with scripts/dist.sh twice, into two
// directories: the archives are byte for byte the same, hold the binary,
// LICENSE and README.md under one directory with the commit's time, owner 0
// and fixed modes, SHA256SUMS verifies, and the linux binary's kauth version
// prints the stamped version, commit and date.
func TestDist(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping TestDist, which builds kauth for two targets twice with scripts/dist.sh")
	}
	longtest.Skip(t, "builds kauth for two targets twice with scripts/dist.sh")
	if runtime.GOOS == "windows" {
		t.Skip("scripts/dist.sh is a POSIX shell script")
	}
	start := time.Now()
	targets := []string{"linux/amd64", "windows/amd64"}
	var outs []string
	for i := range 2 {
		out := filepath.Join(t.TempDir(), "dist")
		_, stderr, err := script(t, "dist.sh", []string{
			"OUT=" + out, "TARGETS=" + strings.Join(targets, " "),
			"VERSION=" + testVersion, "COMMIT=" + testCommit, "SOURCE_DATE_EPOCH=" + testEpoch,
			"TZ=Asia/Seoul", // the archives' times must not depend on the zone
		})
		if err != nil {
			t.Fatalf("dist.sh run %d: %v\n%s", i+1, err, stderr)
		}
		outs = append(outs, out)
	}
	t.Logf("two dist.sh runs of %d targets took %v", len(targets), time.Since(start).Round(time.Millisecond))

	wantFiles := []string{"SHA256SUMS", "kauth_" + testVersion + "_linux_amd64.tar.gz", "kauth_" + testVersion + "_windows_amd64.zip"}
	for _, out := range outs {
		if got := dirNames(t, out); !slices.Equal(got, wantFiles) {
			t.Fatalf("%s holds %q; want %q", out, got, wantFiles)
		}
	}
	for _, f := range wantFiles {
		a, _ := os.ReadFile(filepath.Join(outs[0], f))
		b, _ := os.ReadFile(filepath.Join(outs[1], f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds of the same commit", f)
		}
	}

	out := outs[0]
	checkSums(t, out, wantFiles[1:])

	license, err := os.ReadFile(filepath.Join(root(t), "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	dir := "kauth_" + testVersion + "_linux_amd64"
	entries := readTarGz(t, filepath.Join(out, dir+".tar.gz"))
	checkEntries(t, dir+".tar.gz", entries, dir, "kauth", license, mtime)

	dir = "kauth_" + testVersion + "_windows_amd64"
	zentries := readZip(t, filepath.Join(out, dir+".zip"))
	checkEntries(t, dir+".zip", zentries, dir, "kauth.exe", license, mtime)
	if exe := zentries[dir+"/kauth.exe"]; exe == nil || !bytes.HasPrefix(exe.data, []byte("MZ")) {
		t.Errorf("%s.zip: kauth.exe is not a Windows executable", dir)
	}

	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Logf("not on linux/amd64: the built binary is not run")
		return
	}
	bin := filepath.Join(t.TempDir(), "kauth")
	if err := os.WriteFile(bin, entries["kauth_"+testVersion+"_linux_amd64/kauth"].data, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("kauth version: %v", err)
	}
	want := "kauth " + testVersion + "\ncommit  " + testCommit + "\ndate    " + testDate + "\ngo      " + runtime.Version() + " linux/amd64\n"
	if string(got) != want {
		t.Errorf("kauth version =\n%s\nwant\n%s", got, want)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// checkSums verifies SHA256SUMS in dir: with sha256sum -c where it is
// installed, else by hashing here; and that it lists the archives.
func checkSums(t *testing.T, dir string, archives []string) {
	t.Helper()
	_, err := exec.LookPath("sha256sum")
	haveTool := err == nil
	if haveTool {
		cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
		}
	} else {
		t.Logf("no sha256sum here: SHA256SUMS checked by the test only")
	}
	data, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q: want HASH, two spaces, NAME", sc.Text())
		}
		listed = append(listed, name)
		if haveTool {
			continue // checked above; hashing here under -race is slow
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("SHA256SUMS names %s: %v", name, err)
		}
		h := sha256.Sum256(b)
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("SHA256SUMS: %s has sum %x; the file says %s", name, h, sum)
		}
	}
	if !slices.Equal(listed, archives) {
		t.Errorf("SHA256SUMS lists %q; want %q, in that order", listed, archives)
	}
}

// entry is one archive member as the test reads it.
type entry struct {
	dir      bool
	mode     int64
	mtime    time.Time
	uid, gid int
	size     int64
	data     []byte // the whole file, or only its first bytes for a big one
	order    int
}

// keep is how much of a member the test reads: the files it compares, and
// the start of a binary (race-instrumented decompression is slow). The
// linux binary is read whole, to be run.
func keep(name string, size int64) int64 {
	if strings.HasSuffix(name, "/kauth.exe") {
		return 2
	}
	return size
}

func readTarGz(t *testing.T, path string) map[string]*entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if gz.Name != "" || !gz.ModTime.IsZero() {
		t.Errorf("%s: gzip header holds name %q, time %v; want neither", path, gz.Name, gz.ModTime)
	}
	tr := tar.NewReader(gz)
	out := map[string]*entry{}
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(io.LimitReader(tr, keep(h.Name, h.Size)))
		out[h.Name] = &entry{dir: h.Typeflag == tar.TypeDir, mode: h.Mode, mtime: h.ModTime, uid: h.Uid, gid: h.Gid, size: h.Size, data: data, order: i}
	}
	return out
}

func readZip(t *testing.T, path string) map[string]*entry {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string]*entry{}
	for i, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		size := int64(f.UncompressedSize64)
		data, _ := io.ReadAll(io.LimitReader(rc, keep(f.Name, size)))
		rc.Close()
		out[f.Name] = &entry{dir: f.Mode().IsDir(), mode: int64(f.Mode().Perm()), mtime: f.Modified, size: size, data: data, order: i}
	}
	return out
}

// checkEntries: the directory, then exe, LICENSE and README.md in name
// order, with fixed modes, the commit's time and owner 0.
func checkEntries(t *testing.T, archive string, got map[string]*entry, dir, exe string, license []byte, mtime time.Time) {
	t.Helper()
	names := []string{dir + "/", dir + "/LICENSE", dir + "/README.md", dir + "/" + exe}
	slices.Sort(names)
	if len(got) != len(names) {
		var have []string
		for n := range got {
			have = append(have, n)
		}
		t.Fatalf("%s holds %q; want %q", archive, have, names)
	}
	for i, n := range names {
		e := got[n]
		if e == nil {
			t.Fatalf("%s has no %s", archive, n)
		}
		if e.order != i {
			t.Errorf("%s: %s is entry %d; want %d (names in order)", archive, n, e.order, i)
		}
		wantMode := int64(0o644)
		if e.dir || n == dir+"/"+exe {
			wantMode = 0o755
		}
		if e.mode != wantMode {
			t.Errorf("%s: %s mode %o; want %o", archive, n, e.mode, wantMode)
		}
		if !e.mtime.Equal(mtime) {
			t.Errorf("%s: %s modified %v; want the commit's time %v", archive, n, e.mtime, mtime)
		}
		if e.uid != 0 || e.gid != 0 {
			t.Errorf("%s: %s owner %d:%d; want 0:0", archive, n, e.uid, e.gid)
		}
	}
	if !bytes.Equal(got[dir+"/LICENSE"].data, license) {
		t.Errorf("%s: LICENSE is not the repository's", archive)
	}
	if !bytes.HasPrefix(got[dir+"/README.md"].data, []byte("# kauth")) {
		t.Errorf("%s: README.md is not the repository's", archive)
	}
	if got[dir+"/"+exe].size < 1<<20 {
		t.Errorf("%s: %s is %d bytes; want a kauth binary", archive, exe, got[dir+"/"+exe].size)
	}
}

// TestBuildScriptRefuses: build.sh outside a git checkout wants the stamp
// set, and refuses a version or target that would split its flags or file
// names, each with one line that says what to do.
func TestBuildScriptRefuses(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the scripts are POSIX shell scripts")
	}
	noGit := "GIT_DIR=" + filepath.Join(t.TempDir(), "no-git")
	for _, tc := range []struct {
		name   string
		script string
		env    []string
		args   []string
		want   string
	}{
		{"no git, no stamp", "build.sh", []string{noGit, "VERSION=", "COMMIT=", "SOURCE_DATE_EPOCH="}, []string{"-env"},
			"build: not a git checkout: set VERSION, COMMIT and SOURCE_DATE_EPOCH\n"},
		{"a version with a space", "build.sh", []string{"VERSION=v1 -X x", "COMMIT=abc", "SOURCE_DATE_EPOCH=1"}, []string{"-env"},
			"build: VERSION=v1 -X x: use letters, digits and . _ + - only\n"},
		{"a date that is not a number", "build.sh", []string{"VERSION=v1", "COMMIT=abc", "SOURCE_DATE_EPOCH=yesterday"}, []string{"-env"},
			"build: SOURCE_DATE_EPOCH=yesterday: want seconds since 1970\n"},
		{"no output", "build.sh", nil, nil, "build: usage: scripts/build.sh OUTPUT | -env\n"},
		{"a target without an arch", "dist.sh", []string{"OUT=" + t.TempDir(), "TARGETS=linux", "VERSION=v1", "COMMIT=abc", "SOURCE_DATE_EPOCH=1"}, nil,
			"dist: target linux: want GOOS/GOARCH such as linux/amd64\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := script(t, tc.script, tc.env, tc.args...)
			if err == nil {
				t.Fatalf("%s succeeded; want it to refuse with %q", tc.script, tc.want)
			}
			if stderr != tc.want {
				t.Errorf("%s stderr = %q; want %q", tc.script, stderr, tc.want)
			}
		})
	}

	stdout, stderr, err := script(t, "build.sh", []string{"VERSION=v1.2.3", "COMMIT=abc", "SOURCE_DATE_EPOCH=" + testEpoch}, "-env")
	if err != nil {
		t.Fatalf("build.sh -env: %v\n%s", err, stderr)
	}
	if want := "VERSION=v1.2.3\nCOMMIT=abc\nSOURCE_DATE_EPOCH=" + testEpoch + "\nDATE=" + testDate + "\n"; stdout != want {
		t.Errorf("build.sh -env = %q; want %q", stdout, want)
	}
}
