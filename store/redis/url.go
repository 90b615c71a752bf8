package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kauth/kauth/internal/seal"
)

// The URL forms Open reads. The multi-node forms are go-redis's own
// (redis.ParseClusterURL, redis.ParseFailoverURL) behind a scheme that says
// which deployment is meant, since a seed list alone cannot tell a Cluster
// from a set of sentinels:
//
//	redis://[user:password@]host:port[/db]         one server (rediss:// for TLS, unix:///path)
//	redis+sentinel://[user:password@]sentinel1:port[/db]?master_name=NAME&addr=sentinel2:port&addr=…
//	redis+cluster://[user:password@]seed1:port?addr=seed2:port&addr=…
//
// replicas=N (kauth's own parameter) makes each write wait until N
// replicas have it, so that it survives a failover (see WithReplicas); it
// defaults to 1 with Sentinel and 0 otherwise. A Cluster whose masters have
// replicas wants replicas=1 too. rediss+sentinel:// and rediss+cluster://
// use TLS. With Sentinel the user
// and password are the data nodes' (sentinel_username and sentinel_password
// set the sentinels'); every other go-redis option may be given as a query
// parameter (dial_timeout=3s, …).
const (
	schemeSentinel = "+sentinel"
	schemeCluster  = "+cluster"
)

// IsURL reports whether s is a URL that Open reads.
func IsURL(s string) bool {
	scheme, _, ok := strings.Cut(s, "://")
	if !ok {
		return false
	}
	// URL schemes are case-insensitive (RFC 3986 §3.1); url.Parse, which
	// Open uses, lowercases them too.
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "unix",
		"redis" + schemeSentinel, "rediss" + schemeSentinel,
		"redis" + schemeCluster, "rediss" + schemeCluster:
		return true
	}
	return false
}

// Open returns a Store on the Redis deployment at rawURL (one server, a
// Sentinel-managed master, or a Cluster: see the forms above), sealing
// entries with key. Unless the URL sets them, a dial times out after 1 s, a
// read or write after 2 s, and a failed command is retried once, so that an
// unreachable Redis fails within seconds. Close closes the connections.
// Errors never repeat the URL's password.
func Open(rawURL string, key []byte, opts ...Option) (*Store, error) {
	rawURL, replicas, err := takeReplicas(rawURL)
	if err != nil {
		return nil, err
	}
	client, err := openClient(rawURL)
	if err != nil {
		return nil, err
	}
	s, err := New(client, key, append([]Option{WithReplicas(replicas, 0)}, opts...)...)
	if err != nil {
		client.Close()
		return nil, err
	}
	s.ownsClient = true
	return s, nil
}

// takeReplicas removes kauth's own replicas=N from rawURL's query (go-redis
// refuses parameters it does not know) and returns it, defaulting to 1 for
// Sentinel, which always has a replica to fail over to, and 0 otherwise.
func takeReplicas(rawURL string) (string, int, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL, 0, nil // openClient reports it without the password
	}
	n := 0
	if strings.HasSuffix(u.Scheme, schemeSentinel) {
		n = 1
	}
	q := u.Query()
	if v, ok := q["replicas"]; ok {
		if len(v) != 1 {
			return "", 0, fmt.Errorf("kauth: redis store: %s: replicas given %d times", u.Redacted(), len(v))
		}
		if n, err = strconv.Atoi(v[0]); err != nil || n < 0 || n > 16 {
			return "", 0, fmt.Errorf("kauth: redis store: %s: replicas=%q: want a number of replicas from 0 to 16", u.Redacted(), v[0])
		}
		q.Del("replicas")
		u.RawQuery = q.Encode()
		rawURL = u.String()
	}
	return rawURL, n, nil
}

// openClient builds the go-redis client for rawURL with kauth's timeouts.
func openClient(rawURL string) (goredis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("kauth: redis store: the URL does not parse (want redis://[user:password@]host:port/db, redis+sentinel://… or redis+cluster://…); it is not shown, as it may hold a password")
	}
	base, kind, _ := strings.Cut(u.Scheme, "+")
	fail := func(err error) error {
		// go-redis names the scheme, path or option at fault, never the
		// user info.
		return fmt.Errorf("kauth: redis store: %s: %w", u.Redacted(), err)
	}
	switch "+" + kind {
	case schemeSentinel:
		plain := *u
		plain.Scheme = base
		o, err := goredis.ParseFailoverURL(plain.String())
		if err != nil {
			return nil, fail(err)
		}
		if o.MasterName == "" {
			return nil, fail(errors.New("a sentinel URL needs master_name=NAME"))
		}
		failFast(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries, &o.DialerRetries)
		return goredis.NewFailoverClient(o), nil
	case schemeCluster:
		plain := *u
		plain.Scheme = base
		o, err := goredis.ParseClusterURL(plain.String())
		if err != nil {
			return nil, fail(err)
		}
		failFast(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries, &o.DialerRetries)
		c := goredis.NewClusterClient(o)
		c.AddHook(&reloadOnNetError{client: c})
		return c, nil
	case "+":
		o, err := goredis.ParseURL(rawURL)
		if err != nil {
			return nil, fail(err)
		}
		failFast(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries, &o.DialerRetries)
		return goredis.NewClient(o), nil
	}
	return nil, fail(fmt.Errorf("unknown scheme %q (want redis, rediss, unix, redis+sentinel or redis+cluster)", u.Scheme))
}

// reloadOnNetError asks a Cluster client to reload its slot map after a
// network error. go-redis reloads it on MOVED and ASK answers, but a master
// that died answers nothing: without this, a client goes on dialing the dead
// address after its replica has taken over (seen with go-redis v9.23 against
// redis-server 7.0; see internal/redistopo's failover test).
type reloadOnNetError struct {
	client *goredis.ClusterClient
	last   atomic.Int64 // Unix nanoseconds of the last reload asked for
}

// reloadEvery keeps a storm of failing commands to one reload a moment.
const reloadEvery = 200 * time.Millisecond

func (h *reloadOnNetError) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *reloadOnNetError) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		h.check(err)
		return err
	}
}

func (h *reloadOnNetError) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		err := next(ctx, cmds)
		h.check(err)
		return err
	}
}

func (h *reloadOnNetError) check(err error) {
	var ne net.Error
	if err == nil || !errors.As(err, &ne) {
		return
	}
	now := time.Now().UnixNano()
	last := h.last.Load()
	if now-last < int64(reloadEvery) || !h.last.CompareAndSwap(last, now) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		h.client.ReloadState(ctx)
	}()
}

// failFast gives the options that the URL left unset kauth's values: a
// store that cannot reach Redis must fail within seconds. go-redis would
// dial 5 times per command attempt; MaxRetries already retries once.
func failFast(dial, read, write *time.Duration, retries, dialRetries *int) {
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{{dial, openDialTimeout}, {read, openIOTimeout}, {write, openIOTimeout}} {
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	for _, n := range []*int{retries, dialRetries} {
		if *n == 0 {
			*n = 1
		}
	}
}

// FromEnv returns the Store that the environment describes: Open with the
// URL in KAUTH_STORE (any form above) and the key in KAUTH_KEY, which is
// required, since every host must seal with the same key.
func FromEnv(opts ...Option) (*Store, error) {
	rawURL := os.Getenv("KAUTH_STORE")
	if !IsURL(rawURL) {
		return nil, errors.New("kauth: redis store: KAUTH_STORE is not a redis://, rediss://, unix://, redis+sentinel:// or redis+cluster:// URL")
	}
	env := os.Getenv("KAUTH_KEY")
	if env == "" {
		return nil, errors.New("kauth: redis store: KAUTH_KEY is not set; a shared store needs the same key on every host (generate one with: openssl rand -base64 32)")
	}
	key, err := seal.ParseKey(env)
	if err != nil {
		return nil, fmt.Errorf("kauth: KAUTH_KEY: %w", err)
	}
	defer clear(key)
	return Open(rawURL, key, opts...)
}
