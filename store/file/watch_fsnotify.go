//go:build linux || windows

package file

import "runtime"

// eventsName names, for the log, what osEvents listens with.
var eventsName = map[string]string{"linux": "inotify", "windows": "ReadDirectoryChangesW"}[runtime.GOOS]

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
