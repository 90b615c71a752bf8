//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package file

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// eventsName names, for the log, what osEvents listens with.
const eventsName = "kqueue"

// osEvents watches the directory with kqueue: one descriptor for the
// directory, whatever it holds. (fsnotify's kqueue backend would open one
// more for each file in it.)
func osEvents(dir string) (notifier, error) { return newKqNotifier(dir) }

// kqNotifier watches one directory with kqueue(2): EVFILT_VNODE on a
// descriptor of the directory. kqueue(2) (Apple's and FreeBSD's man pages)
// says EVFILT_VNODE "returns when one or more of the requested events
// occurs on the descriptor": NOTE_WRITE, "a write occurred on the file
// referenced by the descriptor", which for a directory is a change of its
// entries: the kernels post NOTE_WRITE on the directory for a create, an
// unlink and a rename into or out of it (FreeBSD's vop_create_post,
// vop_remove_post and vop_rename_post in sys/kern/vfs_subr.c; XNU's
// vfs_syscalls.c likewise), which is how every Save (a rename into place)
// and Delete show. NOTE_DELETE ("unlink was called on the file"),
// NOTE_RENAME ("the file referenced by the descriptor was renamed") and
// NOTE_REVOKE ("the underlying filesystem was unmounted") mean the name
// may no longer lead to the directory; NOTE_ATTRIB ("had its attributes
// changed") that it may no longer be readable.
//
// The kernel names no entry, so each NOTE_WRITE is a rescan. With
// EV_CLEAR the event's state "is reset after it is retrieved", and
// "multiple events which trigger the filter do not result in multiple
// kevents being placed on the kqueue; instead, the filter will aggregate
// the events into a single struct kevent": a change made while Watch
// rescans leaves the event pending for the next rescan, and there is no
// queue that can overflow, so no slower poll is kept as a safety net.
// (Like inotify, kqueue hears nothing of changes made by another machine
// to a directory on a network file system: the man page's BUGS says that
// "some remote filesystems may only support a subset of the notification
// semantics".)
type kqNotifier struct {
	kq, dir int
	// wake is a pipe whose read end the kqueue also watches: close
	// writes to it to end the reading goroutine's kevent wait.
	wake   [2]int
	c      chan notice
	done   chan struct{} // closed by close
	exited chan struct{} // closed by read when it returns
	once   sync.Once
}

func newKqNotifier(dir string) (n *kqNotifier, err error) {
	fd, err := unix.Open(dir, kqOpenFlags|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	var closers []int
	defer func() {
		if err != nil {
			for _, c := range closers {
				unix.Close(c)
			}
		}
	}()
	closers = append(closers, fd)
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, os.NewSyscallError("kqueue", err)
	}
	closers = append(closers, kq)
	unix.CloseOnExec(kq)
	var wake [2]int
	if err := unix.Pipe(wake[:]); err != nil {
		return nil, os.NewSyscallError("pipe", err)
	}
	closers = append(closers, wake[0], wake[1])
	for _, p := range wake {
		unix.CloseOnExec(p)
		if err := unix.SetNonblock(p, true); err != nil {
			return nil, os.NewSyscallError("fcntl", err)
		}
	}
	changes := make([]unix.Kevent_t, 2)
	unix.SetKevent(&changes[0], fd, unix.EVFILT_VNODE, unix.EV_ADD|unix.EV_CLEAR)
	changes[0].Fflags = unix.NOTE_WRITE | unix.NOTE_DELETE | unix.NOTE_RENAME | unix.NOTE_REVOKE | unix.NOTE_ATTRIB
	unix.SetKevent(&changes[1], wake[0], unix.EVFILT_READ, unix.EV_ADD)
	if _, err := unix.Kevent(kq, changes, nil, nil); err != nil {
		return nil, os.NewSyscallError("kevent", err)
	}
	n = &kqNotifier{kq: kq, dir: fd, wake: wake, c: make(chan notice), done: make(chan struct{}), exited: make(chan struct{})}
	go n.read()
	return n, nil
}

// read waits for kevents and hands them to next as notices, until close.
func (n *kqNotifier) read() {
	defer close(n.exited)
	evs := make([]unix.Kevent_t, 4)
	for {
		k, err := unix.Kevent(n.kq, nil, evs, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			n.send(notice{err: os.NewSyscallError("kevent", err)})
			return
		}
		for _, ev := range evs[:k] {
			if int(ev.Ident) == n.wake[0] {
				return // close
			}
			if ev.Flags&unix.EV_ERROR != 0 {
				n.send(notice{err: os.NewSyscallError("kevent", unix.Errno(ev.Data))})
				return
			}
			if !n.send(kqNotice(ev.Fflags)) {
				return
			}
		}
	}
}

// kqNotice is what EVFILT_VNODE's fflags on the directory mean for Watch.
func kqNotice(fflags uint32) notice {
	var op []string
	for _, f := range []struct {
		bit  uint32
		name string
	}{{unix.NOTE_WRITE, "WRITE"}, {unix.NOTE_DELETE, "DELETE"}, {unix.NOTE_RENAME, "RENAME"}, {unix.NOTE_REVOKE, "REVOKE"}, {unix.NOTE_ATTRIB, "ATTRIB"}} {
		if fflags&f.bit != 0 {
			op = append(op, f.name)
		}
	}
	return notice{
		rescan: fflags&unix.NOTE_WRITE != 0,
		self:   fflags&(unix.NOTE_DELETE|unix.NOTE_RENAME|unix.NOTE_REVOKE|unix.NOTE_ATTRIB) != 0,
		gone:   fflags&(unix.NOTE_DELETE|unix.NOTE_RENAME|unix.NOTE_REVOKE) != 0,
		op:     strings.Join(op, "|"),
	}
}

// send hands no to next; false once close was called.
func (n *kqNotifier) send(no notice) bool {
	select {
	case n.c <- no:
		return true
	case <-n.done:
		return false
	}
}

func (n *kqNotifier) next(ctx context.Context) (notice, bool) {
	select {
	case <-ctx.Done():
		return notice{}, false
	case no := <-n.c:
		return no, true
	case <-n.exited:
		return notice{err: errors.New("kqueue closed")}, true
	}
}

// close ends the reading goroutine, then closes the descriptors (not
// before: a descriptor closed under a kevent call could be reused).
func (n *kqNotifier) close() {
	n.once.Do(func() {
		close(n.done)
		unix.Write(n.wake[1], []byte{0})
		<-n.exited
		for _, fd := range []int{n.kq, n.dir, n.wake[0], n.wake[1]} {
			unix.Close(fd)
		}
	})
}
