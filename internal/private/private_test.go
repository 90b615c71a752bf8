package private_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kauth/kauth/internal/private"
	"github.com/kauth/kauth/internal/winetest"
)

// wineACLs is what Wine lacks for the tests of access lists: it keeps
// none, and shows a file's Unix mode bits as one (server/file.c,
// mode_to_sd and sd_to_mode).
const wineACLs = "file access lists: it shows the Unix mode bits as one, so a file does not inherit its directory's list, " +
	"an entry for a group such as BUILTIN\\Users shows as none, and PROTECTED_DACL_SECURITY_INFORMATION still lets the parent's entries in"

func check(t *testing.T, path string) *private.Exposure {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := private.Check(path, fi)
	if err != nil {
		t.Fatalf("Check(%s): %v", path, err)
	}
	return exp
}

// A directory made private hands its privacy on to what is created in it,
// and both pass the check.
func TestRestrictedDirKeepsItsFilesPrivate(t *testing.T) {
	winetest.Skip(t, wineACLs)
	dir := filepath.Join(t.TempDir(), "kauth")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := private.Restrict(dir, true); err != nil {
		t.Fatal(err)
	}
	if exp := check(t, dir); exp != nil {
		t.Fatalf("a restricted dir is %s", exp.Who)
	}
	f := filepath.Join(dir, "entry")
	if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if exp := check(t, f); exp != nil {
		t.Fatalf("a file created in a restricted dir is %s", exp.Who)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if exp := check(t, sub); exp != nil {
		t.Fatalf("a dir created in a restricted dir is %s", exp.Who)
	}
}

// A file others may open is reported with who they are and the command
// that fixes it; after Restrict it passes.
func TestOpenFileIsReportedAndFixed(t *testing.T) {
	winetest.Skip(t, wineACLs)
	f := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	openToOthers(t, f)
	exp := check(t, f)
	if exp == nil {
		t.Fatal("a file others may read passed the check")
	}
	if exp.Who == "" || !strings.Contains(exp.Fix, f) {
		t.Fatalf("exposure %+v: want who and a fix naming %s", exp, f)
	}
	if strings.ContainsAny(exp.Who+exp.Fix, "\n") {
		t.Fatalf("exposure %+v is not one line", exp)
	}
	if err := private.Restrict(f, false); err != nil {
		t.Fatal(err)
	}
	if exp := check(t, f); exp != nil {
		t.Fatalf("after Restrict the file is still %s", exp.Who)
	}
}
