package file

// Polling makes s's Watch poll even where it could listen to inotify, so
// that the fallback is tested on Linux too.
func Polling(s *Store) *Store {
	s.notify = false
	return s
}

// waiting returns how many callers of sync are waiting for an fsync.
func (d *dirSync) waiting() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.waiters
}
