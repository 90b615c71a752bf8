package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

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

// Watch implements kauth.Watcher. It calls changed, from Watch's
// goroutine, for each key whose entry file was written or removed by
// another Store: another process, or another Store on the same directory
// in this one. Changes made through s itself are not reported.
//
// It listens to the kernel's file events on the directory, so that a Store
// with nothing changing costs no wakeups at all, however many Managers
// share it: inotify on Linux and ReadDirectoryChangesW on Windows (both
// through github.com/fsnotify/fsnotify), which name each entry that
// changed, and on macOS and the BSDs one kqueue descriptor on the
// directory, which says only that the directory changed, after which Watch
// reads the directory again and compares each entry file's inode, size and
// mtime with the previous look. Where none of these is available (another
// system, or a limit such as fs.inotify.max_user_instances is reached) it
// polls instead: every poll interval (see WithPollInterval) it makes that
// comparison. It polls too, for good, where the events can be set up but
// do not arrive (a file system that does not deliver them): Watch first
// creates and removes a probe file in the directory, and if it hears
// nothing of it within two seconds it logs that once and polls.
//
// When the directory cannot be watched for a while (removed, renamed, its
// mode changed, or the kernel's event queue overflowed), Watch logs it
// once, polls until it reads the directory again, and then reports
// kauth.Change{Resync: true} before any further key. Watch returns nil
// when ctx is done, or an error at once if it cannot read the directory
// when it starts.
func (s *Store) Watch(ctx context.Context, changed func(kauth.Change)) error {
	if s.events == nil {
		prev, err := s.snapshot()
		if err != nil {
			return err
		}
		s.pollWatch(ctx, prev, changed, nil)
		return nil
	}
	n, prev, err := s.startNotify()
	if n == nil && err != nil {
		return err
	}
	if n == nil {
		// No file events here: poll, for good.
		s.pollWatch(ctx, prev, changed, nil)
		return nil
	}
	for {
		lost, deaf := s.notifyWatch(ctx, n, prev, changed)
		// Closing an inotify instance waits for a kernel grace period
		// (about 10 ms here, BENCHMARKS.md): nothing is read from n any
		// more, so the close need not hold up Watch's return, and with
		// it a Manager's Close.
		go n.close()
		if ctx.Err() != nil {
			return nil
		}
		if deaf != nil {
			// The events were set up, yet none came of the probe: poll,
			// for good, from the state the notices left prev in; what
			// changed since is reported at the first look.
			s.logger.Warn("kauth: file store: file events are not delivered for the cache dir; polling it",
				slog.String("dir", s.dir), slog.String("events", eventsName), slog.String("err", deaf.Error()),
				slog.Duration("every", s.poll))
			if cur, err := s.snapshot(); err == nil {
				s.report(prev, cur, changed)
				prev = cur
			}
			s.pollWatch(ctx, prev, changed, nil)
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
		n, prev, err = s.startNotify()
		if n == nil {
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

// A notifier delivers what the kernel tells of one directory.
type notifier interface {
	// next returns the next notice, or false once ctx is done.
	next(ctx context.Context) (notice, bool)
	// close releases the notifier; next must not be called after it.
	close()
}

// A notice is one thing a notifier was told: an error, a change to the
// directory itself, a change somewhere in it, or a change to one entry.
type notice struct {
	// err, when set, means that the notifier can no longer be trusted:
	// events were lost, or it stopped.
	err error
	// self: the directory itself changed; gone: it was removed or
	// renamed, so its name may no longer lead to it. op says how, for
	// the log.
	self, gone bool
	op         string
	// rescan: something in the directory changed, without saying what
	// (kqueue on the directory): every entry file is looked at again.
	rescan bool
	// path is the entry file that changed, when the kernel names it
	// (inotify, ReadDirectoryChangesW).
	path string
}

// startNotify sets up file events on the directory and takes the first
// look, in that order, so that no change falls between the two. It
// returns a nil notifier if file events are not available (with the look,
// when the directory could be read), and an error if the directory cannot
// be read.
func (s *Store) startNotify() (notifier, map[kauth.Key]fileState, error) {
	n, err := s.events(s.dir)
	if err != nil {
		n = nil
		s.logger.Info("kauth: file store: file events are not available; polling the cache dir",
			slog.String("err", err.Error()), slog.Duration("every", s.poll))
	}
	prev, serr := s.snapshot()
	if serr != nil {
		if n != nil {
			n.close()
		}
		return nil, nil, serr
	}
	return n, prev, nil
}

// probePrefix begins the name of the file that notifyWatch creates and
// removes to prove that file events arrive. It is a temporary file's name
// (tmpPrefix), which no Store takes for an entry, and which New's sweep
// removes if a process dies between the create and the remove.
const probePrefix = tmpPrefix + "watch-probe-"

// defaultProveWait is how long Watch waits for the file event of its
// probe before it decides that file events are not delivered.
const defaultProveWait = 2 * time.Second

// notifyWatch reports the changes that n tells of until ctx is done (it
// returns nil, nil) or the watch cannot be trusted any more (it returns
// why, as lost).
//
// An event source can be set up and yet deliver nothing: a file system
// that does not support events (NFS, some FUSE, 9p or overlay mounts), or
// a fault in the notifier. So notifyWatch first proves that n hears: it
// creates and removes a probe file in the directory and waits up to
// s.proveWait for a notice of a change in it. If none comes it returns
// why, as deaf, with prev updated by whatever notices came meanwhile, so
// that comparing it with the directory then misses nothing.
func (s *Store) notifyWatch(ctx context.Context, n notifier, prev map[kauth.Key]fileState, changed func(kauth.Change)) (lost, deaf error) {
	nctx, cancel := context.WithTimeout(ctx, s.proveWait)
	defer cancel()
	proving := true
	if err := s.probe(); err != nil {
		// No proof can be had (a directory this process cannot write):
		// the waiting below, and polling after it, are what is left.
		deaf = err
	} else {
		deaf = fmt.Errorf("no file event in %v for a file created in it", s.proveWait)
	}
	for {
		ev, ok := n.next(nctx)
		if !ok {
			if proving && ctx.Err() == nil {
				return nil, deaf
			}
			return nil, nil
		}
		if ev.err != nil {
			// fsnotify.ErrEventOverflow among them: events were lost.
			return ev.err, nil
		}
		if proving && (ev.rescan || ev.path != "") {
			// A change in the directory was heard: the probe's, or
			// another's, which proves as much.
			proving = false
			nctx = ctx
		}
		if ev.self {
			// Removed or renamed, or its mode changed: the name may no
			// longer lead to it, or it may no longer be readable.
			if _, err := os.ReadDir(s.dir); err != nil || ev.gone {
				return fmt.Errorf("the cache dir was changed (%s)", ev.op), nil
			}
		}
		if ev.rescan {
			cur, err := s.snapshot()
			if err != nil {
				return err, nil
			}
			s.report(prev, cur, changed)
			// In place: the caller compares with prev if the proof fails.
			clear(prev)
			maps.Copy(prev, cur)
		}
		if ev.path == "" {
			continue
		}
		k, ok := parseName(filepath.Base(ev.path))
		if !ok {
			continue // temporary files, locks, the key file
		}
		var st fileState
		if fi, err := os.Lstat(ev.path); err == nil {
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

// probe creates and removes a file in the directory, for notifyWatch to
// hear of.
func (s *Store) probe() error {
	f, err := os.CreateTemp(s.dir, probePrefix+"*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// fsNotifier is a notifier over github.com/fsnotify/fsnotify, whose
// inotify and ReadDirectoryChangesW backends watch a directory with one
// descriptor or handle and name each entry that changed. (Its kqueue
// backend opens a descriptor per file in the directory, hence kqNotifier.)
type fsNotifier struct {
	w   *fsnotify.Watcher
	dir string
}

func newFSNotifier(dir string) (*fsNotifier, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, err
	}
	return &fsNotifier{w: w, dir: dir}, nil
}

func (n *fsNotifier) next(ctx context.Context) (notice, bool) {
	select {
	case <-ctx.Done():
		return notice{}, false
	case err, ok := <-n.w.Errors:
		if !ok {
			err = errors.New("file events closed")
		}
		return notice{err: err}, true
	case ev, ok := <-n.w.Events:
		if !ok {
			return notice{err: errors.New("file events closed")}, true
		}
		if filepath.Clean(ev.Name) == n.dir {
			return notice{self: true, gone: ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename), op: ev.Op.String()}, true
		}
		return notice{path: ev.Name}, true
	}
}

func (n *fsNotifier) close() { n.w.Close() }

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
		s.report(prev, cur, changed)
		prev = cur
	}
}

// report reports each key whose entry file is not in cur as it was in
// prev, unless this Store left it so.
func (s *Store) report(prev, cur map[kauth.Key]fileState, changed func(kauth.Change)) {
	for k, st := range cur {
		if prev[k] != st && !s.isOwn(k, st) {
			changed(kauth.Change{Key: k})
		}
	}
	for k := range prev {
		if _, ok := cur[k]; !ok && !s.isOwn(k, fileState{}) {
			changed(kauth.Change{Key: k})
		}
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
