package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Where kauth cannot tell who may read a file, it refuses to keep tokens
// in it rather than keep them unchecked.
func TestCheckPrivateRefusesWhereUnchecked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kauth")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kis-real.tok")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, path} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, goos := range []string{"linux", "darwin", "freebsd"} {
			if err := checkPrivateOn(goos, p, fi); err != nil {
				t.Errorf("checkPrivateOn(%s, %s) = %v; want nil for an owner-only entry", goos, p, err)
			}
		}
		err = checkPrivateOn("windows", p, fi)
		if err == nil || !strings.Contains(err.Error(), "KAUTH_STORE") || strings.Count(err.Error(), "\n") != 0 {
			t.Errorf("checkPrivateOn(windows, %s) = %v; want a one-line refusal that names KAUTH_STORE", p, err)
		}
	}
}
