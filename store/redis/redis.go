// Package redis is a kauth.Store that shares token entries through Redis,
// between processes and hosts.
//
// Entries are sealed exactly as the file store seals them (AES-256-GCM bound
// to the key name), so Redis never holds a token in clear; every host must
// use the same 32-byte key (KAUTH_KEY). With the default prefix "kauth",
// one key's data lives under one hash tag, so it stays in one Redis Cluster
// slot:
//
//	kauth:{kis/mock/3f2a9c01d4e5}:entry         the sealed entry, with a TTL
//	kauth:{kis/mock/3f2a9c01d4e5}:entry:fence   the fence it was written under, same TTL
//	kauth:{kis/mock/3f2a9c01d4e5}:lock          the lease lock (random owner token)
//	kauth:{kis/mock/3f2a9c01d4e5}:fence         the fence counter (no TTL)
//	kauth:changes                               pub/sub channel of changed keys (kauth:changes:db<N> on database N > 0)
//
// Lock is a lease: SET NX PX with a random owner token and an INCR of the
// fence counter in one script, renewed while held and released by
// compare-and-delete, so a holder that dies releases it when the lease
// runs out. A lease's Save is one script that checks the owner and the
// fence, writes and publishes. Watch subscribes to the changes channel and
// reports a resync after every reconnection.
package redis

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/seal"
)

// Defaults for the options.
const (
	DefaultPrefix    = "kauth"
	DefaultLease     = 15 * time.Second
	DefaultRetention = 24 * time.Hour
)

// Timeouts that Open gives the client unless the URL sets them: a store
// that cannot reach Redis must fail fast, so the caller can fall back to
// its in-memory token instead of stalling a trading program.
const (
	openDialTimeout = time.Second
	openIOTimeout   = 2 * time.Second
)

// maxTTL bounds an entry's lifetime whatever its times say: tokens live a
// day, and a far-future time must not overflow the TTL.
const maxTTL = 30 * 24 * time.Hour

// Store is a kauth.Store on Redis. It also implements kauth.Lister,
// kauth.Watcher and kauth.BatchLoader. It is safe for concurrent use. Create it with New, Open or
// FromEnv.
type Store struct {
	client     goredis.UniversalClient
	ownsClient bool
	sealer     *seal.Sealer
	prefix     string
	channel    string
	id         string // tells this Store's change messages from others'
	lease      time.Duration
	retention  time.Duration
	ping       time.Duration
	replicas   int           // writes wait for this many replicas to acknowledge them
	replWait   time.Duration // for at most this long
	logger     *slog.Logger

	mu     sync.Mutex
	warned map[kauth.Key][sha256.Size]byte // as in the file store: report each bad value once
}

// An Option configures a Store.
type Option func(*config)

type config struct {
	prefix    string
	lease     time.Duration
	retention time.Duration
	ping      time.Duration
	replicas  int
	replWait  time.Duration
	logger    *slog.Logger
}

// DefaultReplicaWait bounds how long a write waits for its replicas (see
// WithReplicas).
const DefaultReplicaWait = time.Second

// WithReplicas makes every write wait until n replicas have it (Redis
// WAIT), for at most wait (0 means DefaultReplicaWait), and fail if fewer
// did. Redis replicates asynchronously: without it, a write that the
// master acknowledged and lost in a failover before a replica had it is
// gone (a token, or the issuance spacing), and a Sentinel failover leaves a
// window in which the old master still accepts writes that the new one
// never sees. With n ≥ 1, an acknowledged write survives the failover of
// its master. Open sets it from the URL's replicas=N (default 1 for
// redis+sentinel://, 0 otherwise).
func WithReplicas(n int, wait time.Duration) Option {
	return func(c *config) { c.replicas, c.replWait = n, wait }
}

// WithPrefix sets the namespace of the Store's Redis keys and channel
// (default DefaultPrefix). Stores that share entries must use the same
// prefix. It may hold ASCII letters, digits and "_-.:".
func WithPrefix(prefix string) Option { return func(c *config) { c.prefix = prefix } }

// WithLease sets how long the lock outlives a holder that stops renewing
// it, by dying or losing Redis (default DefaultLease). A live holder renews
// it every third of that.
func WithLease(d time.Duration) Option { return func(c *config) { c.lease = d } }

// WithRetention sets how long an entry is kept past the later of its
// token's expiry and its LastIssue plus the writer's issuance spacing
// (default DefaultRetention, which covers the day during which a broker may
// hand back a token it rejected, recorded in Entry.Rejected).
func WithRetention(d time.Duration) Option { return func(c *config) { c.retention = d } }

// WithWatchPing sets how long Watch waits for a message before it pings
// Redis, and then for the answer, before it takes its connection as dead
// and subscribes again (default DefaultWatchPing): a link that went silent
// without closing is noticed within twice that.
func WithWatchPing(d time.Duration) Option { return func(c *config) { c.ping = d } }

// WithLogger sets the logger for unreadable entries, lost leases and
// watch reconnections; it also receives the Redis client's own log lines
// (see New). Nil, or no option, means slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// New returns a Store that uses client, sealing entries with key (32
// bytes). The Store does not close client. New does no I/O.
//
// The Redis client (go-redis) logs through one process-wide logger, which
// writes raw lines to stderr by default (a line per failed dial while
// Redis is down). New routes those lines into the Store's logger instead,
// as warnings, each distinct line at most once a minute; with several
// Stores, the one created last receives them.
func New(client goredis.UniversalClient, key []byte, opts ...Option) (*Store, error) {
	c := config{prefix: DefaultPrefix, lease: DefaultLease, retention: DefaultRetention, ping: DefaultWatchPing}
	for _, o := range opts {
		o(&c)
	}
	if client == nil {
		return nil, errors.New("kauth: redis store: nil client")
	}
	if c.prefix == "" || strings.TrimFunc(c.prefix, validPrefixRune) != "" {
		return nil, fmt.Errorf("kauth: redis store: invalid prefix %q (want ASCII letters, digits and _-.:)", c.prefix)
	}
	if c.lease < 10*time.Millisecond {
		return nil, fmt.Errorf("kauth: redis store: lease %v is too short", c.lease)
	}
	if c.retention <= 0 {
		return nil, fmt.Errorf("kauth: redis store: retention %v is not positive", c.retention)
	}
	if c.ping < time.Millisecond {
		return nil, fmt.Errorf("kauth: redis store: watch ping interval %v is too short", c.ping)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.replicas < 0 || c.replWait < 0 {
		return nil, fmt.Errorf("kauth: redis store: replicas %d, wait %v: must not be negative", c.replicas, c.replWait)
	}
	if c.replWait == 0 {
		c.replWait = DefaultReplicaWait
	}
	routeClientLog(c.logger)
	sealer, err := seal.New(key)
	if err != nil {
		return nil, fmt.Errorf("kauth: redis store: %w", err)
	}
	return &Store{
		client:    client,
		sealer:    sealer,
		prefix:    c.prefix,
		channel:   changesChannel(c.prefix, client),
		id:        randomToken(),
		lease:     c.lease,
		retention: c.retention,
		ping:      c.ping,
		replicas:  c.replicas,
		replWait:  c.replWait,
		logger:    c.logger,
		warned:    make(map[kauth.Key][sha256.Size]byte),
	}, nil
}

// changesChannel names the pub/sub channel of the Store's changes. Pub/sub
// has no relation to the key space, whatever database is selected
// (https://redis.io/docs/manual/pubsub, "Database & Scoping"), so the
// channel names the database as well as the prefix: a Store is woken only by Stores that share its data. Database 0
// (the only one of a Cluster) keeps the plain "<prefix>:changes".
func changesChannel(prefix string, client goredis.UniversalClient) string {
	if c, ok := client.(*goredis.Client); ok && c.Options().DB != 0 {
		return prefix + ":changes:db" + strconv.Itoa(c.Options().DB)
	}
	return prefix + ":changes"
}

func validPrefixRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.:", r)
}

// Client returns the Store's Redis client, e.g. for a budget.Shared that
// every process on this Redis draws from.
func (s *Store) Client() goredis.UniversalClient { return s.client }

// Prefix returns the Store's key prefix: keys that other parts of kauth
// keep beside the Store's (the real-time session leases) go under it.
func (s *Store) Prefix() string { return s.prefix }

// BudgetKey returns the Redis key of the call budget of k's app key
// (budget.Config.Key): under the Store's prefix, in k's hash tag.
func (s *Store) BudgetKey(k kauth.Key) string {
	return s.prefix + ":{" + k.String() + "}:budget"
}

// Close closes the Redis client if Open or FromEnv created it. A Store from
// New leaves its client to the caller.
func (s *Store) Close() error {
	if s.ownsClient {
		return s.client.Close()
	}
	return nil
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return s.errorf("ping", nil, err)
	}
	return nil
}

// tag returns the hash-tagged stem of key's Redis keys: only the part in
// braces decides the Cluster slot, so a key's entry and lock share a slot.
func (s *Store) tag(key kauth.Key) (string, error) {
	if err := seal.CheckKey(key); err != nil {
		return "", err
	}
	return s.prefix + ":{" + key.String() + "}", nil
}

func (s *Store) errorf(op string, key *kauth.Key, err error) error {
	what := op
	if key != nil {
		what = op + " " + key.String()
	}
	if hint := unwritable(err); hint != "" {
		return fmt.Errorf("kauth: redis store: %s: %w: %s (%w)", what, kauth.ErrStoreUnwritable, hint, err)
	}
	return fmt.Errorf("kauth: redis store: %s: %w", what, err)
}

// unwritable says what to fix when Redis refused a write for a reason that
// retrying soon does not cure, or "" for any other error.
func unwritable(err error) string {
	switch {
	case goredis.IsOOMError(err):
		return "Redis is out of memory (maxmemory); raise maxmemory or free memory"
	case goredis.IsReadOnlyError(err):
		return "this Redis is a read-only replica; point KAUTH_STORE at the primary"
	case goredis.HasErrorPrefix(err, "MISCONF"):
		return "Redis cannot persist to disk and refuses writes; fix its disk or its save settings"
	case goredis.IsPermissionError(err),
		// Redis 7.0 reports a denied command inside a script this way.
		goredis.HasErrorPrefix(err, "The user executing the script can't run this command"):
		return "the Redis user may not run the commands kauth needs (SET, INCR, DEL, PEXPIRE, PUBLISH, EVALSHA, EVAL); grant them in its ACL"
	}
	return ""
}

// Load implements kauth.Store. A value that cannot be opened (corrupt,
// sealed with another key, or copied from another key's entry) is reported
// once through the logger and treated as missing.
func (s *Store) Load(ctx context.Context, key kauth.Key) (kauth.Entry, error) {
	tag, err := s.tag(key)
	if err != nil {
		return kauth.Entry{}, err
	}
	data, err := s.client.Get(ctx, tag+":entry").Bytes()
	return s.open(key, data, err)
}

// open is Load's answer for key given GET's reply: data, or err.
func (s *Store) open(key kauth.Key, data []byte, err error) (kauth.Entry, error) {
	if errors.Is(err, goredis.Nil) {
		return kauth.Entry{}, kauth.ErrNotFound
	}
	if err != nil {
		return kauth.Entry{}, s.errorf("load", &key, err)
	}
	e, err := s.sealer.Open(key.String(), data)
	if err != nil {
		s.warnOnce(key, data, err)
		return kauth.Entry{}, kauth.ErrNotFound
	}
	s.mu.Lock()
	delete(s.warned, key)
	s.mu.Unlock()
	return e, nil
}

// maxBatch is how many keys LoadBatch asks Redis for in one pipeline, so
// that reading every entry of a large agent never builds one pipeline of
// thousands of commands and replies.
const maxBatch = 500

// LoadBatch implements kauth.BatchLoader: one pipeline of GETs per
// maxBatch keys, each reply opened as Load opens it. Not MGET: each key's
// entry has a hash tag of its own, hence a Cluster slot of its own, and a
// Cluster refuses an MGET across slots (CROSSSLOT); go-redis sends a
// Cluster pipeline to each node its keys live on.
func (s *Store) LoadBatch(ctx context.Context, keys []kauth.Key) ([]kauth.Entry, []error) {
	entries, errs := make([]kauth.Entry, len(keys)), make([]error, len(keys))
	for lo := 0; lo < len(keys); lo += maxBatch {
		hi := min(lo+maxBatch, len(keys))
		s.loadBatch(ctx, keys[lo:hi], entries[lo:hi], errs[lo:hi])
	}
	return entries, errs
}

func (s *Store) loadBatch(ctx context.Context, keys []kauth.Key, entries []kauth.Entry, errs []error) {
	pipe := s.client.Pipeline()
	gets := make([]*goredis.StringCmd, len(keys))
	for i, k := range keys {
		tag, err := s.tag(k)
		if err != nil {
			errs[i] = err
			continue
		}
		gets[i] = pipe.Get(ctx, tag+":entry")
	}
	if pipe.Len() == 0 {
		return
	}
	// Each command holds its own reply or error: a missing key (redis.Nil),
	// or one that cannot be read, fails that key only.
	pipe.Exec(ctx)
	for i, get := range gets {
		if get != nil {
			data, err := get.Bytes()
			entries[i], errs[i] = s.open(keys[i], data, err)
		}
	}
}

func (s *Store) warnOnce(key kauth.Key, data []byte, cause error) {
	sum := sha256.Sum256(data)
	s.mu.Lock()
	seen, ok := s.warned[key]
	s.warned[key] = sum
	s.mu.Unlock()
	if ok && seen == sum {
		return
	}
	s.logger.Warn("kauth: ignoring unreadable token entry in redis; it will be replaced",
		slog.String("key", key.String()),
		slog.Int("size", len(data)),
		slog.String("reason", cause.Error()))
}

// ttl is how long Redis keeps e: until its token expires, and at least
// until the writer's issuance spacing since LastIssue (e.IssueInterval)
// and the broker's rate limit (e.RetryAt) have passed (so both hold
// across processes even when no token is stored), plus the retention.
func (s *Store) ttl(e kauth.Entry, now time.Time) time.Duration {
	until := now
	if e.Token.ExpiresAt.After(until) {
		until = e.Token.ExpiresAt
	}
	if next := e.LastIssue.Add(e.IssueInterval); next.After(until) {
		until = next
	}
	if e.RetryAt.After(until) {
		until = e.RetryAt
	}
	return min(until.Sub(now), maxTTL) + s.retention
}

// Save implements kauth.Store. It sets the entry with its TTL, records its
// fence beside it, and announces the change to other Stores' Watch, in one
// script.
func (s *Store) Save(ctx context.Context, key kauth.Key, e kauth.Entry) error {
	ks, err := s.keys(key)
	if err != nil {
		return err
	}
	_, err = s.save(ctx, key, ks, "", e)
	return err
}

// save runs saveScript: unconditionally without an owner, or guarded by
// the lease of owner. It returns the script's answer (1 written, -1 lock
// not owner's, -2 a later fence stored).
func (s *Store) save(ctx context.Context, key kauth.Key, ks keys, owner string, e kauth.Entry) (int, error) {
	data, err := s.sealer.Seal(key.String(), e)
	if err != nil {
		return 0, s.errorf("save", &key, err)
	}
	ttl := max(s.ttl(e, time.Now()).Milliseconds(), 1)
	keys := []string{ks.lock, ks.entry, ks.entryFence}
	args := []any{owner, strconv.FormatUint(e.Fence, 10), data, strconv.FormatInt(ttl, 10), s.channel, s.id + " " + key.String()}
	if s.replicas == 0 {
		n, err := saveScript.Run(ctx, s.client, keys, args...).Int()
		if err != nil {
			return 0, s.errorf("save", &key, err)
		}
		return n, nil
	}
	n, err := s.replicated(ctx, ks.entry, func(p goredis.Pipeliner) *goredis.Cmd {
		return saveScript.Eval(ctx, p, keys, args...)
	})
	if err != nil {
		return 0, s.errorf("save", &key, err)
	}
	return n, nil
}

// errNotReplicated says a write reached the master but not enough replicas.
var errNotReplicated = errors.New("not acknowledged by enough replicas in time (a failover may be under way); nothing is promised of it")

// replicated runs one script and WAIT on the same connection to the master
// that serves slotKey (WAIT counts the writes of its own connection), and
// returns the script's integer answer once s.replicas replicas have it.
func (s *Store) replicated(ctx context.Context, slotKey string, script func(goredis.Pipeliner) *goredis.Cmd) (int, error) {
	var node goredis.Cmdable = s.client
	if cc, ok := s.client.(*goredis.ClusterClient); ok {
		c, err := cc.MasterForKey(ctx, slotKey)
		if err != nil {
			return 0, err
		}
		node = c
	}
	var res *goredis.Cmd
	var acks *goredis.Cmd
	_, err := node.Pipelined(ctx, func(p goredis.Pipeliner) error {
		res = script(p)
		acks = p.Do(ctx, "WAIT", s.replicas, s.replWait.Milliseconds())
		return nil
	})
	if err != nil {
		return 0, err
	}
	n, err := res.Int()
	if err != nil {
		return 0, err
	}
	if got, _ := acks.Int64(); n > 0 && got < int64(s.replicas) {
		return 0, fmt.Errorf("%w (%d of %d replicas)", errNotReplicated, got, s.replicas)
	}
	return n, nil
}

// Delete implements kauth.Store and announces the change to other Stores'
// Watch. Deleting a missing entry is not an error.
func (s *Store) Delete(ctx context.Context, key kauth.Key) error {
	ks, err := s.keys(key)
	if err != nil {
		return err
	}
	_, err = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		// One hash tag: one slot, so one DEL may name both.
		p.Del(ctx, ks.entry, ks.entryFence)
		p.Publish(ctx, s.channel, s.id+" "+key.String())
		return nil
	})
	if err != nil {
		return s.errorf("delete", &key, err)
	}
	return nil
}

// List implements kauth.Lister with SCAN (on every master of a Cluster).
// The keys are sorted.
func (s *Store) List(ctx context.Context) ([]kauth.Key, error) {
	var (
		mu   sync.Mutex
		keys []kauth.Key
	)
	scan := func(ctx context.Context, c goredis.Cmdable) error {
		it := c.Scan(ctx, 0, s.prefix+":{*}:entry", 100).Iterator()
		for it.Next(ctx) {
			if k, ok := s.parseEntryKey(it.Val()); ok {
				mu.Lock()
				keys = append(keys, k)
				mu.Unlock()
			}
		}
		return it.Err()
	}
	var err error
	if cc, ok := s.client.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.client)
	}
	if err != nil {
		return nil, s.errorf("list", nil, err)
	}
	slices.SortFunc(keys, func(a, b kauth.Key) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(keys), nil
}

// parseEntryKey is the inverse of tag+":entry".
func (s *Store) parseEntryKey(rk string) (kauth.Key, bool) {
	inner, ok := strings.CutPrefix(rk, s.prefix+":{")
	if !ok {
		return kauth.Key{}, false
	}
	inner, ok = strings.CutSuffix(inner, "}:entry")
	if !ok {
		return kauth.Key{}, false
	}
	return parseKey(inner)
}

// parseKey parses kauth.Key.String's form.
func parseKey(s string) (kauth.Key, bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return kauth.Key{}, false
	}
	k := kauth.Key{Broker: kauth.Broker(parts[0]), Env: kauth.Env(parts[1]), Fingerprint: parts[2]}
	return k, seal.CheckKey(k) == nil
}

// randomToken returns 128 random bits in hex.
func randomToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
