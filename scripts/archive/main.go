// Command archive writes one release archive whose bytes depend only on the
// files put in it: entries in name order under one top directory, one fixed
// modification time, owner and group 0, mode 0755 for an executable and 0644
// otherwise, and a gzip header without a name or a time. scripts/dist.sh
// calls it; it is a program rather than tar and zip flags because GNU tar,
// BSD tar and zip spell those options differently or lack them (zip records
// local time, so the same commit would zip differently in another TZ).
//
// Usage:
//
//	go run ./scripts/archive -o OUT.tar.gz|OUT.zip -dir NAME -mtime UNIXSECONDS FILE...
package main

import (
	"archive/tar"
	"archive/zip"
	"compress/flate"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "", "the archive to write: NAME.tar.gz or NAME.zip")
	dir := flag.String("dir", "", "the directory every entry is put under")
	mtime := flag.Int64("mtime", -1, "every entry's modification time, in seconds since 1970 (SOURCE_DATE_EPOCH)")
	flag.Parse()
	if err := run(*out, *dir, *mtime, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "archive: "+err.Error())
		os.Exit(1)
	}
}

// entry is one file of the archive.
type entry struct {
	name string // its path in the archive
	src  string // where it is read from
	mode int64  // 0755 or 0644
	size int64
}

func run(out, dir string, mtime int64, files []string) error {
	switch {
	case out == "":
		return errors.New("-o is required")
	case dir == "" || strings.ContainsAny(dir, `/\`):
		return fmt.Errorf("-dir %q: want one directory name", dir)
	case mtime < 0:
		return errors.New("-mtime is required (the commit's time, SOURCE_DATE_EPOCH)")
	case len(files) == 0:
		return errors.New("no files to archive")
	}
	var entries []entry
	seen := map[string]bool{}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", f)
		}
		name := path.Join(dir, filepath.Base(f))
		if seen[name] {
			return fmt.Errorf("%s given twice", filepath.Base(f))
		}
		seen[name] = true
		mode := int64(0o644)
		if fi.Mode().Perm()&0o111 != 0 {
			mode = 0o755
		}
		entries = append(entries, entry{name: name, src: f, mode: mode, size: fi.Size()})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	t := time.Unix(mtime, 0).UTC()

	w, err := os.Create(out)
	if err != nil {
		return err
	}
	switch {
	case strings.HasSuffix(out, ".tar.gz"):
		err = writeTarGz(w, dir, t, entries)
	case strings.HasSuffix(out, ".zip"):
		err = writeZip(w, dir, t, entries)
	default:
		err = fmt.Errorf("%s: want a name ending in .tar.gz or .zip", out)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out)
	}
	return err
}

func writeTarGz(w io.Writer, dir string, t time.Time, entries []entry) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: t, Format: tar.FormatUSTAR}); err != nil {
		return err
	}
	for _, e := range entries {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: e.mode, Size: e.size, ModTime: t, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if err := copyFile(tw, e); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func writeZip(w io.Writer, dir string, t time.Time, entries []entry) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestCompression)
	})
	dh := &zip.FileHeader{Name: dir + "/", Method: zip.Store, Modified: t}
	dh.SetMode(os.ModeDir | 0o755)
	if _, err := zw.CreateHeader(dh); err != nil {
		return err
	}
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: t}
		h.SetMode(os.FileMode(e.mode))
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if err := copyFile(fw, e); err != nil {
			return err
		}
	}
	return zw.Close()
}

// copyFile copies e's file, refusing one whose size changed since it was
// measured: the archive would not hold what was built.
func copyFile(w io.Writer, e entry) error {
	f, err := os.Open(e.src)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err != nil {
		return err
	}
	if n != e.size {
		return fmt.Errorf("%s changed while it was archived", e.src)
	}
	return nil
}
