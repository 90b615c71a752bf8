package file

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/kauth/kauth"
)

// fileState tells one version of an entry file from another: every Save
// renames a new file into place, so the inode changes with each write even
// when size and mtime happen to repeat. The zero fileState means absent.
type fileState struct {
	ino   uint64
	size  int64
	mtime int64
}

func stateOf(fi fs.FileInfo) fileState {
	return fileState{ino: inode(fi), size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// Watch implements kauth.Watcher by polling: every poll interval (see
// WithPollInterval) it compares the entry files' inode, size and mtime with
// the previous look, and calls changed, from Watch's goroutine, for each
// key whose file was written or removed by another Store: another process,
// or another Store on the same directory in this one. Changes made through
// s itself are not reported. When the directory cannot be read for a while
// (removed, renamed, its mode changed), Watch logs it once, keeps polling,
// and once it reads the directory again reports kauth.Change{Resync: true}
// before any further key. Watch returns nil when ctx is done, or an error
// at once if it cannot read the directory when it starts.
func (s *Store) Watch(ctx context.Context, changed func(kauth.Change)) error {
	prev, err := s.snapshot()
	if err != nil {
		return err
	}
	tick := time.NewTicker(s.poll)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		cur, err := s.snapshot()
		if err != nil {
			// Keep the last good view; report a failing directory once,
			// not once a tick.
			if !failing {
				s.logger.Warn("kauth: file store: watching the cache dir failed", slog.String("err", err.Error()))
			}
			failing = true
			continue
		}
		if failing {
			// Changes made while the directory could not be read may
			// have come and gone: say so before any further key.
			failing = false
			s.logger.Info("kauth: file store: the cache dir can be read again")
			prev = cur
			changed(kauth.Change{Resync: true})
			continue
		}
		for n, st := range cur {
			if prev[n] != st && !s.isOwn(n, st) {
				changed(kauth.Change{Key: n})
			}
		}
		for n := range prev {
			if _, ok := cur[n]; !ok && !s.isOwn(n, fileState{}) {
				changed(kauth.Change{Key: n})
			}
		}
		prev = cur
	}
}

// isOwn reports whether st is the state this Store left key's file in.
func (s *Store) isOwn(key kauth.Key, st fileState) bool {
	n, err := name(key)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	own, ok := s.own[n+entrySuffix]
	return ok && own == st
}

// snapshot returns the state of every entry file in the directory.
func (s *Store) snapshot() (map[kauth.Key]fileState, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	m := make(map[kauth.Key]fileState, len(des))
	for _, de := range des {
		k, ok := parseName(de.Name())
		if !ok {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed since ReadDir: absent
		}
		m[k] = stateOf(fi)
	}
	return m, nil
}
