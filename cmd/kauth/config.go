package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/store/file"
	"github.com/kauth/kauth/store/redis"
)

// credentialVars returns the environment variables that hold b's app key
// and secret (kauth.BrokerSpec.KeyVar, SecretVar; Kiwoom calls its secret
// the secretkey).
func credentialVars(b kauth.Broker) [2]string {
	s := brokers.MustGet(b)
	return [2]string{s.KeyVar, s.SecretVar}
}

// credentials reads b's credentials from the environment. A missing one is
// a configuration error that names the variable.
func (c *cli) credentials(b kauth.Broker, e kauth.Env) (kauth.Credentials, error) {
	vars := credentialVars(b)
	key := strings.TrimSpace(c.getenv(vars[0]))
	secret := strings.TrimSpace(c.getenv(vars[1]))
	switch {
	case key == "" && secret == "":
		return kauth.Credentials{}, configErrorf("kauth: %s %s: %s and %s are not set", b, e, vars[0], vars[1])
	case key == "":
		return kauth.Credentials{}, configErrorf("kauth: %s %s: %s is not set", b, e, vars[0])
	case secret == "":
		return kauth.Credentials{}, configErrorf("kauth: %s %s: %s is not set", b, e, vars[1])
	}
	creds := kauth.Credentials{Broker: b, Env: e, AppKey: key, AppSecret: secret}
	if eg := strings.TrimSpace(c.getenv("KAUTH_EGRESS")); eg != "" {
		base, err := c.baseURL(b, e)
		if err != nil {
			return kauth.Credentials{}, err
		}
		if !kauth.BindsTokenToIP(brokers.MustGet(b).New(base, nil, nil)) {
			// Every host shares the tokens of a broker that binds none to
			// the issuing IP.
			return creds, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if creds.Egress, err = kauth.ResolveEgress(ctx, eg, base); err != nil {
			return kauth.Credentials{}, configErrorf("KAUTH_EGRESS: %v", err)
		}
	}
	return creds, nil
}

// baseURL returns the domain that b's requests at e go to: the overriding
// variable, or the broker's published domain.
func (c *cli) baseURL(b kauth.Broker, e kauth.Env) (string, error) {
	spec := brokers.MustGet(b)
	v := spec.BaseURLVar
	s := strings.TrimSpace(c.getenv(v))
	if s == "" {
		return spec.URL(e), nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", configErrorf("kauth: %s %s: %s is not an http(s) URL", b, e, v)
	}
	return strings.TrimRight(s, "/"), nil
}

// httpClient bounds each request by the command's timeout, and by 30 s at
// most, so that a retry still fits in the command's time.
func httpClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: min(timeout, 30*time.Second)}
}

// provider returns the provider of b, aimed at the configured domain.
func (c *cli) provider(b kauth.Broker, e kauth.Env, timeout time.Duration) (kauth.Provider, error) {
	base, err := c.baseURL(b, e)
	if err != nil {
		return nil, err
	}
	return brokers.NewProvider(b, base, httpClient(timeout), nil)
}

// logger returns where the Manager and stores report: nowhere unless
// verbose or --log-level is given, so that an error is one line on stderr.
func (c *cli) logger(verbose bool) *slog.Logger {
	return c.log.newLogger(c.stderr, slog.LevelInfo, !verbose)
}

// openedStore is the store KAUTH_STORE selects, with a name for humans.
type openedStore struct {
	kauth.Store
	name  string       // "file /home/u/.cache/kauth", "memory", "redis://host:6379/0"
	close func() error // releases connections; never nil
	// unkept, if set, is why the file store could not be opened and a
	// memory store stands in: nothing is cached beyond this process.
	unkept error
	// realtime, for a Redis store, lets the agents on it share each app
	// key's real-time session (agent.RealtimeShare); nil otherwise.
	realtime *agent.RealtimeShare
	// hint, if set, adds to a failure of the store what the user can check
	// ("; is Redis running … (KAUTH_STORE)?"), or "".
	hint func(error) string
}

// storeHint returns what the user can check about a failure of s, or "".
func (s *openedStore) storeHint(err error) string {
	if s.hint == nil {
		return ""
	}
	return s.hint(err)
}

// openStore opens the store that the environment selects.
func (c *cli) openStore(ctx context.Context, log *slog.Logger) (*openedStore, error) {
	kind := strings.TrimSpace(c.getenv("KAUTH_STORE"))
	switch {
	case kind == "" || kind == "file":
		dir, err := c.cacheDir()
		if err != nil {
			return nil, err
		}
		opts := []file.Option{file.WithLogger(log)}
		if s := c.getenv("KAUTH_KEY"); s != "" {
			key, err := file.ParseKey(s)
			if err != nil {
				return nil, configErrorf("kauth: KAUTH_KEY: %v", strings.TrimPrefix(err.Error(), "kauth: "))
			}
			opts = append(opts, file.WithKey(key))
			clear(key)
		}
		st, err := file.New(dir, opts...)
		if err != nil {
			return nil, &configError{err}
		}
		return &openedStore{Store: st, name: "file " + dir, close: func() error { return nil }}, nil
	case kind == "memory":
		return &openedStore{Store: kauth.NewMemoryStore(), name: "memory", close: func() error { return nil }}, nil
	case redis.IsURL(kind):
		return c.openRedis(ctx, kind, log)
	}
	return nil, configErrorf("kauth: KAUTH_STORE=%q: want file, memory or a redis://, redis+sentinel:// or redis+cluster:// URL", redactURL(kind))
}

// openStoreOrMemory is openStore for a command that can do its work
// without a cache (kauth token): when the file store cannot be opened
// because its directory cannot be written — a fresh cache dir on a full or
// read-only disk, where not even the store's key file can be created — it
// returns a memory store whose unkept field says why. Nothing can then be
// cached, and nothing was: without a key file no entry in the directory
// can be opened.
func (c *cli) openStoreOrMemory(ctx context.Context, log *slog.Logger) (*openedStore, error) {
	st, err := c.openStore(ctx, log)
	if kind := strings.TrimSpace(c.getenv("KAUTH_STORE")); kind != "" && kind != "file" {
		return st, err
	}
	if err != nil && errors.Is(err, kauth.ErrStoreUnwritable) {
		return &openedStore{Store: kauth.NewMemoryStore(), name: "memory", close: func() error { return nil }, unkept: err}, nil
	}
	return st, err
}

// cacheDir is KAUTH_CACHE_DIR or the user's cache directory + /kauth.
func (c *cli) cacheDir() (string, error) {
	if d := strings.TrimSpace(c.getenv("KAUTH_CACHE_DIR")); d != "" {
		return d, nil
	}
	d, err := file.DefaultDir()
	if err != nil {
		return "", &configError{err}
	}
	return d, nil
}

// redactURL drops the password from a URL such as redis://:pw@host/0.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if err != nil && strings.Contains(s, "@") {
			return "<unparsable URL>"
		}
		return s
	}
	return u.Redacted()
}

// appClient is what a command that talks to a broker needs: credentials, a
// provider, a store and a Manager over them.
type appClient struct {
	creds   kauth.Credentials
	store   *openedStore
	manager *kauth.Manager

	mu       sync.Mutex
	storeErr error // the first store write that failed, if any
}

// storeFailure returns the first store write that failed, if any.
func (s *appClient) storeFailure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeErr
}

func (s *appClient) Close() {
	s.manager.Close()
	s.store.close()
}

// newAppClient reads the credentials of b at e, opens the store and builds a
// Manager for a command that runs once. With cacheOptional, a file store
// that cannot be opened for want of a writable directory gives way to a
// memory store (see openStoreOrMemory).
func (c *cli) newAppClient(ctx context.Context, b kauth.Broker, e kauth.Env, timeout time.Duration, verbose, cacheOptional bool) (*appClient, error) {
	creds, err := c.credentials(b, e)
	if err != nil {
		return nil, err
	}
	p, err := c.provider(b, e, timeout)
	if err != nil {
		return nil, err
	}
	log := c.logger(verbose)
	open := c.openStore
	if cacheOptional {
		open = c.openStoreOrMemory
	}
	st, err := open(ctx, log)
	if err != nil {
		return nil, err
	}
	ac := &appClient{creds: creds, store: st}
	m, err := kauth.NewManager(kauth.Config{
		Credentials: creds,
		Provider:    p,
		Store:       st,
		Logger:      log,
		OnEvent: func(ev kauth.Event) {
			if ev.Kind != kauth.EventStoreFailed {
				return
			}
			ac.mu.Lock()
			if ac.storeErr == nil {
				ac.storeErr = ev.Err
			}
			ac.mu.Unlock()
		},
		// A command prints its token and exits, and the caller may hold
		// on to the token for a while: rather than hand out a token in its
		// refresh window and refresh in the background (which exiting would
		// cut short), refresh it before answering.
		RefreshAhead: -1,
		ExpiryMargin: kauth.DefaultRefreshAhead,
		IssueTimeout: timeout,
	})
	if err != nil {
		st.close()
		return nil, err
	}
	ac.manager = m
	return ac, nil
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
