package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/kauth/kauth"
)

// notifyOS says whether Watch listens to the kernel here. fsnotify's other
// backends (kqueue) open a descriptor per file, which a directory of a
// thousand entries would not thank them for: they poll instead.
const notifyOS = runtime.GOOS == "linux"

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

// Watch implements kauth.Watcher. It calls changed, from Watch's
// goroutine, for each key whose entry file was written or removed by
// another Store: another process, or another Store on the same directory
// in this one. Changes made through s itself are not reported.
//
// On Linux it listens to inotify (github.com/fsnotify/fsnotify) on the
// directory, so that a Store with nothing changing costs no wakeups at all,
// however many Managers share it. Where inotify is not available (another
// system, or the instance limit fs.inotify.max_user_instances is reached)
// it polls instead: every poll interval (see WithPollInterval) it compares
// the entry files' inode, size and mtime with the previous look.
//
// When the directory cannot be watched for a while (removed, renamed, its
// mode changed, or the kernel's event queue overflowed), Watch logs it
// once, polls until it reads the directory again, and then reports
// kauth.Change{Resync: true} before any further key. Watch returns nil
// when ctx is done, or an error at once if it cannot read the directory
// when it starts.
func (s *Store) Watch(ctx context.Context, changed func(kauth.Change)) error {
	if !s.notify {
		prev, err := s.snapshot()
		if err != nil {
			return err
		}
		s.pollWatch(ctx, prev, changed, nil)
		return nil
	}
	w, prev, err := s.startNotify()
	if w == nil && err != nil {
		return err
	}
	if w == nil {
		// inotify could not be set up: poll, for good.
		s.pollWatch(ctx, prev, changed, nil)
		return nil
	}
	for {
		lost := s.notifyWatch(ctx, w, prev, changed)
		// Closing an inotify instance waits for a kernel grace period
		// (about 10 ms here, BENCHMARKS.md): nothing is read from w any
		// more, so the close need not hold up Watch's return, and with
		// it a Manager's Close.
		go w.Close()
		if ctx.Err() != nil {
			return nil
		}
		s.logger.Warn("kauth: file store: watching the cache dir failed; polling until it can be read again",
			slog.String("err", lost.Error()))
		// Poll until the directory reads again, then listen afresh;
		// whatever happened in between is covered by a Resync.
		var back map[kauth.Key]fileState
		if !s.pollWatch(ctx, nil, changed, func(cur map[kauth.Key]fileState) bool {
			back = cur
			return true
		}) {
			return nil
		}
		w, prev, err = s.startNotify()
		if w == nil {
			if prev == nil {
				prev = back
			}
			s.logger.Info("kauth: file store: the cache dir can be read again")
			changed(kauth.Change{Resync: true})
			s.pollWatch(ctx, prev, changed, nil)
			return nil
		}
		s.logger.Info("kauth: file store: the cache dir can be read again")
		changed(kauth.Change{Resync: true})
	}
}

// startNotify sets up inotify on the directory and takes the first look,
// in that order, so that no change falls between the two. It returns a nil
// watcher if inotify is not available (with the look, when the directory
// could be read), and an error if the directory cannot be read.
func (s *Store) startNotify() (*fsnotify.Watcher, map[kauth.Key]fileState, error) {
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(s.dir); err != nil {
			w.Close()
			w = nil
		}
	}
	if err != nil {
		s.logger.Info("kauth: file store: inotify is not available; polling the cache dir",
			slog.String("err", err.Error()), slog.Duration("every", s.poll))
	}
	prev, serr := s.snapshot()
	if serr != nil {
		if w != nil {
			w.Close()
		}
		return nil, nil, serr
	}
	return w, prev, nil
}

// notifyWatch reports the changes that inotify tells of until ctx is done
// (it returns nil) or the watch cannot be trusted any more (it returns why).
func (s *Store) notifyWatch(ctx context.Context, w *fsnotify.Watcher, prev map[kauth.Key]fileState, changed func(kauth.Change)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("inotify closed")
			}
			// fsnotify.ErrEventOverflow among them: events were lost.
			return err
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("inotify closed")
			}
			if filepath.Clean(ev.Name) == s.dir {
				// The directory itself was removed, renamed or had its
				// mode changed: its name may no longer lead to it.
				if _, err := os.ReadDir(s.dir); err != nil || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
					return fmt.Errorf("the cache dir was changed (%s)", ev.Op)
				}
				continue
			}
			k, ok := parseName(filepath.Base(ev.Name))
			if !ok {
				continue // temporary files, locks, the key file
			}
			var st fileState
			if fi, err := os.Lstat(ev.Name); err == nil {
				st = stateOf(fi)
			}
			if prev[k] == st {
				continue
			}
			if st == (fileState{}) {
				delete(prev, k)
			} else {
				prev[k] = st
			}
			if !s.isOwn(k, st) {
				changed(kauth.Change{Key: k})
			}
		}
	}
}

// pollWatch compares the directory with prev every poll interval and
// reports what changed, until ctx is done (it returns false). With until
// set, it returns true at the first look that reads the directory, after
// handing that look to until, instead of reporting.
func (s *Store) pollWatch(ctx context.Context, prev map[kauth.Key]fileState, changed func(kauth.Change), until func(map[kauth.Key]fileState) bool) bool {
	tick := time.NewTicker(s.poll)
	defer tick.Stop()
	failing := until != nil
	for {
		select {
		case <-ctx.Done():
			return false
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
		if until != nil && until(cur) {
			return true
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
