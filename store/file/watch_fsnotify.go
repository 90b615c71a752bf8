//go:build linux || windows

package file

// osEvents watches the directory with fsnotify: inotify on Linux,
// ReadDirectoryChangesW on Windows, each with one descriptor or handle for
// the directory, naming each entry that changed.
func osEvents(dir string) (notifier, error) {
	n, err := newFSNotifier(dir)
	if err != nil {
		return nil, err
	}
	return n, nil
}
