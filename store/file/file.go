// Package file is a kauth.Store that keeps token entries in encrypted files
// in one directory, shared by every process of the user on the host.
//
// Each entry is one file named after its key, <broker>-<env>-<fingerprint>.tok
// (the fingerprint names the app key without revealing it), holding an
// AES-256-GCM envelope bound to that key name. Files are written atomically
// (temporary file, fsync, rename, fsync of the directory), so a reader never
// sees, and a process killed mid-write never leaves, a torn entry; the
// temporary files such a process leaves are removed once an hour old, when
// a Store is opened and, at most every ten minutes, when it writes. The
// directory must be private (0700) and the files are 0600; looser modes are
// refused with the chmod that fixes them.
//
// The 32-byte key is given with WithKey (FromEnv reads KAUTH_KEY), or else
// read from the file "key" in the directory, which the first process to need
// it creates (0600, random).
//
// Lock is an advisory flock(2) on <name>.lock, held across processes, and
// released by the operating system when its holder dies. Watch listens to
// the kernel's file events on the directory: inotify on Linux,
// ReadDirectoryChangesW on Windows, kqueue on macOS and the BSDs; it polls
// the directory where none of them can be had.
package file

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/private"
	"github.com/kauth/kauth/internal/seal"
)

const (
	entrySuffix = ".tok"
	lockSuffix  = ".lock"
	tmpPrefix   = ".tmp-"

	// maxEntrySize bounds what Load reads: an entry is well under 4 KiB, and
	// a huge file in the cache is not ours.
	maxEntrySize = 1 << 20

	// DefaultPollInterval is how often Watch looks at the directory unless
	// WithPollInterval says otherwise.
	DefaultPollInterval = time.Second

	// lockRetry is how often a waiting Lock retries the flock. Issuance
	// takes hundreds of milliseconds, so 10 ms adds nothing noticeable.
	lockRetry = 10 * time.Millisecond
)

// Store is a kauth.Store backed by encrypted files in one directory. It also
// implements kauth.Lister and kauth.Watcher. It is safe for concurrent use
// by many goroutines and many processes. Create it with New or FromEnv.
type Store struct {
	dir    string
	sealer *seal.Sealer
	logger *slog.Logger
	poll   time.Duration
	// events starts the file events Watch listens to (osEvents); nil
	// makes Watch poll.
	events func(dir string) (notifier, error)
	// proveWait is how long Watch waits to hear of its probe file
	// (defaultProveWait).
	proveWait time.Duration

	mu sync.Mutex
	// locks serializes this process's goroutines per key before they take
	// the flock: flock(2) locks belong to open files, not goroutines, and
	// where gofrs/flock falls back to fcntl(2) locks, which belong to the
	// process, a second goroutine would be granted the lock it holds.
	locks map[string]chan struct{}
	// warned remembers, per file name, the digest of the unreadable content
	// already reported, so each bad file is reported once, not on every Load.
	warned map[string][sha256.Size]byte
	// own remembers, per file name, the state this Store last left the
	// file in, so Watch does not report this Store's own writes.
	own map[string]fileState
	// swept is when a write last removed stale temporary files.
	swept time.Time
}

// An Option configures a Store.
type Option func(*config)

type config struct {
	key    []byte
	logger *slog.Logger
	poll   time.Duration
}

// WithKey sets the 32-byte AES-256 key that entries are encrypted with.
// Without it the key is read from the key file "key" in the store's
// directory, which is created (0600, random) on first use. Processes that
// share the directory must use the same key. WithKey(nil) is the same as
// no WithKey.
func WithKey(key []byte) Option {
	// Copied now, so the caller may wipe key at once, and again when
	// applied, so New may wipe its copy and the Option can be reused.
	key = slices.Clone(key)
	return func(c *config) { c.key = slices.Clone(key) }
}

// WithLogger sets the logger that reports unreadable entries. Nil, or no
// option, means slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithPollInterval sets how often Watch checks the directory for changes
// made by other processes where it cannot listen to file events, and while the
// directory cannot be read. The default is DefaultPollInterval.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) { c.poll = d }
}

// New returns a Store that keeps its entries in dir, creating dir (0700) if
// it does not exist. It fails if dir, or the key file, is accessible by
// other users, saying which chmod fixes it, and if the key is not 32 bytes.
func New(dir string, opts ...Option) (*Store, error) {
	c := config{poll: DefaultPollInterval}
	for _, o := range opts {
		o(&c)
	}
	if dir == "" {
		return nil, errors.New("kauth: file store: empty directory name")
	}
	if c.poll <= 0 {
		return nil, fmt.Errorf("kauth: file store: poll interval %v is not positive", c.poll)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	dir = filepath.Clean(dir)
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	key := c.key
	if key == nil {
		var err error
		if key, err = loadOrCreateKey(dir); err != nil {
			return nil, err
		}
	}
	sealer, err := seal.New(key)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("kauth: file store: %w", err)
	}
	removeStaleTemps(dir)
	return &Store{
		dir:       dir,
		sealer:    sealer,
		logger:    c.logger,
		poll:      c.poll,
		events:    osEvents,
		proveWait: defaultProveWait,
		locks:     make(map[string]chan struct{}),
		warned:    make(map[string][sha256.Size]byte),
		own:       make(map[string]fileState),
	}, nil
}

// Dir returns the directory the store keeps its files in.
func (s *Store) Dir() string { return s.dir }

// checkPrivate refuses a file or directory that users other than the owner
// can access: by its mode bits on Unix, by its access list on Windows.
func checkPrivate(path string, fi fs.FileInfo) error {
	exp, err := private.Check(path, fi)
	if err != nil {
		return fmt.Errorf("kauth: file store: %w", err)
	}
	if exp == nil {
		return nil
	}
	what := "cache file"
	switch {
	case fi.IsDir():
		what = "cache dir"
	case filepath.Base(path) == keyFileName:
		what = "key file"
	}
	return fmt.Errorf("kauth: %s %s is %s; run %s", what, path, exp.Who, exp.Fix)
}

// ensureDir creates dir if needed, private to its owner, and checks that it
// is a private directory. A directory kauth creates gets an access list of
// its own on Windows, which the files made in it inherit.
func ensureDir(dir string) error {
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return dirFailed(dir, "creating the cache dir", err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := private.Restrict(dir, true); err != nil {
			return fmt.Errorf("kauth: file store: %w", err)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("kauth: file store: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("kauth: cache dir %s is not a directory", dir)
	}
	return checkPrivate(dir, fi)
}

// name returns the base file name of key's entry, without suffix.
func name(key kauth.Key) (string, error) {
	if err := seal.CheckKey(key); err != nil {
		return "", err
	}
	return string(key.Broker) + "-" + string(key.Env) + "-" + key.Fingerprint, nil
}

// parseName is the inverse of name for a file name with entrySuffix.
func parseName(file string) (kauth.Key, bool) {
	base, ok := strings.CutSuffix(file, entrySuffix)
	if !ok {
		return kauth.Key{}, false
	}
	broker, rest, ok1 := strings.Cut(base, "-")
	env, fp, ok2 := strings.Cut(rest, "-")
	k := kauth.Key{Broker: kauth.Broker(broker), Env: kauth.Env(env), Fingerprint: fp}
	if !ok1 || !ok2 || seal.CheckKey(k) != nil {
		return kauth.Key{}, false
	}
	return k, true
}

func (s *Store) path(key kauth.Key) (string, error) {
	n, err := name(key)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.dir, n+entrySuffix), nil
}

// Load implements kauth.Store. A file that cannot be decrypted or decoded
// (truncated, corrupt, written with another key, or copied from another
// key's file) is reported once through the logger and treated as missing.
// A file that other users can read is an error that says how to fix it.
func (s *Store) Load(ctx context.Context, key kauth.Key) (kauth.Entry, error) {
	path, err := s.path(key)
	if err != nil {
		return kauth.Entry{}, err
	}
	data, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		return kauth.Entry{}, kauth.ErrNotFound
	}
	if err != nil {
		return kauth.Entry{}, err
	}
	e, err := s.sealer.Open(key.String(), data)
	if err != nil {
		s.warnOnce(path, key, data, err)
		return kauth.Entry{}, kauth.ErrNotFound
	}
	s.mu.Lock()
	delete(s.warned, filepath.Base(path))
	s.mu.Unlock()
	return e, nil
}

// kept reports whether an entry file holding data, which this store's key
// does not open, must be kept rather than replaced: it looks like a kauth
// envelope, so it was most likely sealed by a process with another
// KAUTH_KEY, or by a newer kauth, and may hold that process's valid token.
// A file that does not look like one (empty, torn, foreign) is replaced.
func kept(data []byte, openErr error) bool {
	return seal.Plausible(data) || errors.Is(openErr, seal.ErrVersion)
}

// readPrivate reads a regular file of at most maxEntrySize bytes, after
// checking on the open file (not the path, which could change in between)
// that it is private.
func readPrivate(path string) (data []byte, err error) {
	fileOp(func() { data, err = readPrivateNow(path) })
	return data, err
}

func readPrivateNow(path string) ([]byte, error) {
	f, err := openNoFollow(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if isLink(path) {
			return nil, fmt.Errorf("kauth: cache file %s is not a regular file (a symbolic link); remove it", path)
		}
		return nil, fmt.Errorf("kauth: reading cache file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("kauth: reading cache file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("kauth: cache file %s is not a regular file; remove it", path)
	}
	if err := checkPrivate(path, fi); err != nil {
		return nil, err
	}
	// One byte more than the limit tells an oversized file from a full one;
	// the envelope check then rejects it.
	data, err := io.ReadAll(io.LimitReader(f, maxEntrySize+1))
	if err != nil {
		return nil, fmt.Errorf("kauth: reading cache file: %w", err)
	}
	return data, nil
}

// isLink reports whether path is a symbolic link.
func isLink(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

// warnOnce logs that the file at path is unreadable, unless this very
// content was reported already.
func (s *Store) warnOnce(path string, key kauth.Key, data []byte, cause error) {
	sum := sha256.Sum256(data)
	base := filepath.Base(path)
	s.mu.Lock()
	seen, ok := s.warned[base]
	s.warned[base] = sum
	s.mu.Unlock()
	if ok && seen == sum {
		return
	}
	if kept(data, cause) {
		s.logger.Warn("kauth: token cache file does not open with this store key; it is kept, and not replaced, until it is removed",
			slog.String("file", path),
			slog.String("key", key.String()),
			slog.String("reason", cause.Error()),
			slog.String("fix", "set KAUTH_KEY to the key that wrote it, or use another KAUTH_CACHE_DIR, or delete the file"))
		return
	}
	s.logger.Warn("kauth: ignoring unreadable token cache file; it will be replaced",
		slog.String("file", path),
		slog.String("key", key.String()),
		slog.Int("size", len(data)),
		slog.String("reason", cause.Error()))
}

// Save implements kauth.Store. It replaces the entry atomically: readers see
// the old file or the new one, never a mix, even if this process dies. It
// refuses, with an error wrapping kauth.ErrStoreUnwritable, to replace a
// file that looks like an entry but does not open with this store's key
// (see Load), and when the directory cannot be written (read-only, full,
// not this user's).
func (s *Store) Save(ctx context.Context, key kauth.Key, e kauth.Entry) error {
	path, err := s.path(key)
	if err != nil {
		return err
	}
	if _, _, err := s.current(path, key); err != nil {
		return fmt.Errorf("kauth: file store: save %s: %w", key, err)
	}
	return s.write(path, key, e, true)
}

// write seals e and replaces the entry file at path with it; durable says
// whether the file and the directory are fsynced (writeAtomic) or only
// renamed into place (writeVisible).
func (s *Store) write(path string, key kauth.Key, e kauth.Entry, durable bool) error {
	s.sweepTemps()
	data, err := s.sealer.Seal(key.String(), e)
	if err != nil {
		return fmt.Errorf("kauth: file store: save %s: %w", key, err)
	}
	// The state is recorded as this Store's own before the rename, so that
	// a watch that hears of the rename at once does not take it for
	// another Store's write; a failed write puts the old record back.
	n := filepath.Base(path)
	var was fileState
	var had bool
	renaming := func(st fileState) {
		s.mu.Lock()
		was, had = s.own[n]
		s.own[n] = st
		s.mu.Unlock()
	}
	undo := func() {
		s.mu.Lock()
		if had {
			s.own[n] = was
		} else {
			delete(s.own, n)
		}
		s.mu.Unlock()
	}
	if durable {
		_, err = writeAtomic(path, data, renaming, undo)
	} else {
		fileOp(func() { _, err = writeFile(filepath.Dir(path), path, data, false, renaming, undo) })
	}
	if err != nil {
		return s.failed("save", key, err)
	}
	return nil
}

// current returns the entry at path, and whether there is a readable one.
// It fails if the file must not be replaced: not a regular file, open to
// other users, or an envelope this key does not open (see kept).
func (s *Store) current(path string, key kauth.Key) (kauth.Entry, bool, error) {
	data, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		return kauth.Entry{}, false, nil
	}
	if err != nil {
		// Not a regular file, or open to others: replacing it would hide
		// the problem, and retrying does not help.
		return kauth.Entry{}, false, fmt.Errorf("%w: %w", kauth.ErrStoreUnwritable, err)
	}
	e, err := s.sealer.Open(key.String(), data)
	if err == nil {
		return e, true, nil
	}
	if errors.Is(err, seal.ErrVersion) {
		return kauth.Entry{}, false, fmt.Errorf("%w: %s was written by a newer kauth (%v); upgrade this one, or use another KAUTH_CACHE_DIR", kauth.ErrStoreUnwritable, path, err)
	}
	if kept(data, err) {
		return kauth.Entry{}, false, fmt.Errorf("%w: %s is sealed with another store key (or damaged); set KAUTH_KEY to the same key or use another KAUTH_CACHE_DIR, or delete the file to replace it", kauth.ErrStoreUnwritable, path)
	}
	return kauth.Entry{}, false, nil
}

// failed turns an error of writing the directory into one line that says
// what to fix; errors that the directory's state explains (read-only,
// full, not writable by this user) wrap kauth.ErrStoreUnwritable.
func (s *Store) failed(op string, key kauth.Key, err error) error {
	return dirFailed(s.dir, op+" "+key.String(), err)
}

// dirFailed is failed for the directory dir and the operation what.
func dirFailed(dir, what string, err error) error {
	var hint string
	switch {
	case errors.Is(err, syscall.EROFS):
		hint = fmt.Sprintf("the cache dir %s is on a read-only file system; make it writable or set KAUTH_CACHE_DIR to a writable directory", dir)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		hint = fmt.Sprintf("the disk that holds the cache dir %s is full; free some space or set KAUTH_CACHE_DIR to another disk", dir)
	case errors.Is(err, fs.ErrPermission):
		hint = fmt.Sprintf("the cache dir %s is not writable by this user; chown it to this user with mode 700, or set KAUTH_CACHE_DIR", dir)
	default:
		return fmt.Errorf("kauth: file store: %s: %w", what, err)
	}
	return fmt.Errorf("kauth: file store: %s: %w: %s (%w)", what, kauth.ErrStoreUnwritable, hint, err)
}

// maxWriters bounds the entry files being written and fsynced at once, by
// every Store of the process. An fsync blocks its OS thread, and the Go
// runtime starts another thread for the goroutines left to run, so an agent
// saving thousands of first tokens at once would otherwise hold a thread
// per save, blocked on the disk; the disk does not finish them sooner.
const maxWriters = 4

var writers = make(chan struct{}, maxWriters)

// maxFileOps bounds the store's other blocking file calls under way at
// once, process-wide (opening and reading entry and counter files, taking
// a flock, writing and renaming without fsync), for the reason maxWriters
// bounds fsyncs: the runtime hands the processor of a call that blocks to
// a new OS thread, and never gives threads back, so 5,000 first issuances
// at once grew an agent to 87 threads.
const maxFileOps = 8

var fileOps = make(chan struct{}, maxFileOps)

// fileOp runs f, one of the store's blocking file calls, once fewer than
// maxFileOps are under way.
func fileOp(f func()) {
	fileOps <- struct{}{}
	defer func() { <-fileOps }()
	f()
}

// syncFile flushes a written file to disk; tests replace it to watch the
// fsyncs.
var syncFile = (*os.File).Sync

// writeAtomic replaces path with data: a temporary file in the same
// directory (so rename cannot cross file systems) is written, synced and
// renamed over path, and the directory is synced so the rename survives a
// power loss. It returns the state of the new file. If set, renaming is
// called with that state just before the rename, and undo if the rename
// then fails.
func writeAtomic(path string, data []byte, renaming func(fileState), undo func()) (fileState, error) {
	dir := filepath.Dir(path)
	writers <- struct{}{}
	st, err := writeFile(dir, path, data, true, renaming, undo)
	<-writers
	if err != nil {
		return fileState{}, err
	}
	// The directory's fsync is shared by the writers waiting for it (see
	// dirSync), so it holds one thread whatever their number.
	return st, syncDir(dir)
}

// writeVisible replaces path with data as writeAtomic does, for other
// processes on this machine to read at once, but without an fsync of the
// file or of the directory: after a power loss the file may be the old one,
// empty, or missing. It is for what only the processes alive now rely on.
func writeVisible(path string, data []byte) (err error) {
	fileOp(func() { _, err = writeFile(filepath.Dir(path), path, data, false, nil, nil) })
	return err
}

// writeFile is writeAtomic up to the rename, included; sync says whether
// the file is fsynced before the rename.
func writeFile(dir, path string, data []byte, sync bool, renaming func(fileState), undo func()) (fileState, error) {
	// CreateTemp makes the file 0600, private from its first byte.
	f, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return fileState{}, err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fileState{}, err
	}
	if sync {
		if err := syncFile(f); err != nil {
			return fileState{}, err
		}
	}
	// rename(2) keeps the inode, size and mtime, so the state taken here is
	// the state of the entry once renamed, with no window for another
	// process's write to be mistaken for ours.
	fi, err := f.Stat()
	if err != nil {
		return fileState{}, err
	}
	if err := f.Close(); err != nil {
		return fileState{}, err
	}
	st := stateOf(fi)
	if renaming != nil {
		renaming(st)
	}
	if err := retry(func() error { return os.Rename(tmp, path) }); err != nil {
		if undo != nil {
			undo()
		}
		return fileState{}, err
	}
	ok = true
	return st, nil
}

// staleTemp is the age after which a temporary file is surely left over
// from a process that died between create and rename.
const staleTemp = time.Hour

// sweepEvery is how often a Store that stays open removes stale temporary
// files when it writes.
const sweepEvery = 10 * time.Minute

// sweepTemps removes stale temporary files, at most once per sweepEvery: a
// process that keeps the store open for days (the agent) thus cleans up
// after the writers killed meanwhile, as New does for what came before.
func (s *Store) sweepTemps() {
	now := time.Now()
	s.mu.Lock()
	due := s.swept.IsZero() || now.Sub(s.swept) >= sweepEvery
	if due {
		s.swept = now
	}
	s.mu.Unlock()
	if due {
		removeStaleTemps(s.dir)
	}
}

// removeStaleTemps removes such leftovers. It is best effort: a failure
// leaves only an unused file behind.
func removeStaleTemps(dir string) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), tmpPrefix) {
			continue
		}
		if fi, err := de.Info(); err == nil && time.Since(fi.ModTime()) > staleTemp {
			os.Remove(filepath.Join(dir, de.Name()))
		}
	}
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for sync there
	}
	v, _ := dirSyncs.LoadOrStore(dir, &dirSync{fsync: fsyncDir})
	return v.(*dirSync).sync(dir)
}

// dirSyncs holds one dirSync per directory.
var dirSyncs sync.Map

// dirSync makes the fsync of a directory a group commit: an fsync that
// starts after a caller's rename makes that rename durable, so the callers
// that arrive while one is running share the next one instead of queueing
// one each. A thousand accounts issuing at start-up then pay a few
// directory fsyncs, not a thousand.
type dirSync struct {
	fsync    func(dir string) error // fsyncDir; tests count the calls
	mu       sync.Mutex
	cond     *sync.Cond
	running  bool
	started  uint64 // fsyncs started
	finished uint64 // the latest fsync that finished
	err      error  // its result
	waiters  int    // callers waiting for a running fsync (for tests)
}

func (d *dirSync) sync(dir string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cond == nil {
		d.cond = sync.NewCond(&d.mu)
	}
	// A running fsync may have started before the caller's rename: only
	// one that starts from now on counts.
	want := d.started + 1
	for d.finished < want {
		if d.running {
			d.waiters++
			d.cond.Wait()
			d.waiters--
			continue
		}
		d.running = true
		d.started++
		gen := d.started
		d.mu.Unlock()
		err := d.fsync(dir)
		d.mu.Lock()
		d.running = false
		d.finished, d.err = gen, err
		d.cond.Broadcast()
	}
	return d.err
}

func fsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Delete implements kauth.Store. Deleting a missing entry is not an error.
// The key's lock file stays: removing it would let two processes lock two
// different files of the same name.
func (s *Store) Delete(ctx context.Context, key kauth.Key) error {
	path, err := s.path(key)
	if err != nil {
		return err
	}
	// Recorded before the removal, for the same reason as in write.
	n := filepath.Base(path)
	s.mu.Lock()
	was, had := s.own[n]
	s.own[n] = fileState{}
	s.mu.Unlock()
	if err := retry(func() error { return os.Remove(path) }); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.mu.Lock()
		if had {
			s.own[n] = was
		} else {
			delete(s.own, n)
		}
		s.mu.Unlock()
		return s.failed("delete", key, err)
	}
	if err := syncDir(s.dir); err != nil {
		return s.failed("delete", key, err)
	}
	return nil
}

// List implements kauth.Lister. It returns the keys of the entry files in
// the directory, sorted, parsed from their names; it does not decrypt them.
func (s *Store) List(ctx context.Context) ([]kauth.Key, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("kauth: file store: list: %w", err)
	}
	var keys []kauth.Key
	for _, de := range des {
		if k, ok := parseName(de.Name()); ok && de.Type().IsRegular() {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b kauth.Key) int { return strings.Compare(a.String(), b.String()) })
	return keys, nil
}
