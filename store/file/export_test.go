package file

import "context"

// Polling makes s's Watch poll even where it could listen to file events,
// so that the fallback is tested everywhere.
func Polling(s *Store) *Store {
	s.events = nil
	return s
}

// Rescanning makes s's Watch hear of changes as kqueue tells them on macOS
// and the BSDs: that something in the directory changed, never which
// entry, so that each event is a rescan of the directory. It is fsnotify
// with the names dropped, so that the rescan path runs where the tests do.
func Rescanning(s *Store) *Store {
	s.events = func(dir string) (notifier, error) {
		n, err := newFSNotifier(dir)
		if err != nil {
			return nil, err
		}
		return rescanNotifier{n}, nil
	}
	return s
}

type rescanNotifier struct{ *fsNotifier }

func (n rescanNotifier) next(ctx context.Context) (notice, bool) {
	no, ok := n.fsNotifier.next(ctx)
	if no.path != "" {
		no = notice{rescan: true}
	}
	return no, ok
}

// waiting returns how many callers of sync are waiting for an fsync.
func (d *dirSync) waiting() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.waiters
}

// ProbePrefix begins the name of the file Watch creates and removes to
// prove that file events arrive.
const ProbePrefix = probePrefix
