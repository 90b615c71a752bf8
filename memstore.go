package kauth

import (
	"context"
	"fmt"
	"sync"
)

// MemoryStore is a Store that keeps entries in this process only. Its zero
// value is ready to use.
//
// A Manager whose Config.Store is nil uses its Group's MemoryStore for its
// broker URL, so that two Managers built for the same app key in one Group
// share their token and their issuance lock, and issue once between them.
type MemoryStore struct {
	mu      sync.Mutex
	entries map[Key]Entry
	locks   map[Key]*memLock
}

// memLock is the lock of one key: a one-slot channel, so that a waiter can
// give up when its ctx is done, the lease holding it, and the last fence.
type memLock struct {
	slot   chan struct{}
	holder *memLease
	fence  uint64
}

// Group is what the Managers of one group share in a process: the
// MemoryStore that Managers with no Config.Store use, one per broker URL,
// and the hub that carries the changes of one Store value to every Manager
// of the group on it (a single Watch per store, and the writes of the
// group's own Managers, which Watch does not report). Managers that share
// a Group and a broker URL but have no Store share their tokens and issue
// once between them; Managers of different Groups share nothing in
// memory, only what their Stores share. A program creates one Group and
// passes it to every Manager (the agent does so for its accounts). Its
// zero value is ready to use; it is safe for concurrent use.
type Group struct {
	mu     sync.Mutex
	stores map[string]*MemoryStore // broker URL → the store of Managers with no Store
	hubs   map[Store]*hub
}

// NewGroup returns an empty Group.
func NewGroup() *Group { return new(Group) }

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return new(MemoryStore) }

// memoryStore returns g's MemoryStore for p's URL at env. A Provider that
// cannot tell its URL shares the one for "".
func (g *Group) memoryStore(p Provider, env Env) *MemoryStore {
	url := ""
	if u, ok := p.(Locator); ok {
		url = u.URL(env)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.stores[url]
	if !ok {
		s = new(MemoryStore)
		if g.stores == nil {
			g.stores = make(map[string]*MemoryStore)
		}
		g.stores[url] = s
	}
	return s
}

// Load implements Store.
func (s *MemoryStore) Load(ctx context.Context, key Key) (Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok {
		return Entry{}, ErrNotFound
	}
	return e, nil
}

// LoadBatch implements BatchLoader.
func (s *MemoryStore) LoadBatch(ctx context.Context, keys []Key) ([]Entry, []error) {
	entries, errs := make([]Entry, len(keys)), make([]error, len(keys))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range keys {
		e, ok := s.entries[k]
		if !ok {
			errs[i] = ErrNotFound
			continue
		}
		entries[i] = e
	}
	return entries, errs
}

// Save implements Store.
func (s *MemoryStore) Save(ctx context.Context, key Key, e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(key, e)
	return nil
}

func (s *MemoryStore) put(key Key, e Entry) {
	if s.entries == nil {
		s.entries = make(map[Key]Entry)
	}
	s.entries[key] = e
}

// Delete implements Store.
func (s *MemoryStore) Delete(ctx context.Context, key Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, key)
	return nil
}

// List implements Lister.
func (s *MemoryStore) List(ctx context.Context) ([]Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]Key, 0, len(s.entries))
	for k := range s.entries {
		keys = append(keys, k)
	}
	return keys, nil
}

// Lock implements Locker. A MemoryStore's lease is lost only by Unlock.
func (s *MemoryStore) Lock(ctx context.Context, key Key) (Lease, error) {
	s.mu.Lock()
	if s.locks == nil {
		s.locks = make(map[Key]*memLock)
	}
	l, ok := s.locks[key]
	if !ok {
		l = &memLock{slot: make(chan struct{}, 1)}
		s.locks[key] = l
	}
	s.mu.Unlock()
	select {
	case l.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("kauth: memory store: lock %s: %w", key, ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Past the stored entry's fence too: an entry saved with a higher one
	// (copied from another store) must not make every later lease stale.
	l.fence = max(l.fence, s.entries[key].Fence) + 1
	ls := &memLease{LeaseState: NewLeaseState(key, l.fence), store: s, lock: l}
	l.holder = ls
	return ls, nil
}

type memLease struct {
	*LeaseState
	store *MemoryStore
	lock  *memLock
}

// Save implements Lease.
func (l *memLease) Save(ctx context.Context, e Entry) error {
	s := l.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.lock.holder != l {
		return fmt.Errorf("%w: %s: the lock has been released", ErrLeaseLost, l.Key())
	}
	if cur, ok := s.entries[l.Key()]; ok && cur.Fence > l.Fence() {
		return fmt.Errorf("%w: %s: a later lease wrote the entry", ErrLeaseLost, l.Key())
	}
	e.Fence = l.Fence()
	s.put(l.Key(), e)
	return nil
}

// Unlock implements Lease.
func (l *memLease) Unlock() {
	if !l.End(released) {
		return
	}
	s := l.store
	s.mu.Lock()
	if l.lock.holder == l {
		l.lock.holder = nil
	}
	s.mu.Unlock()
	<-l.lock.slot
}
