package kauth

import (
	"context"
	"sync"
)

// MemoryStore is a Store that keeps entries in this process only. Its zero
// value is ready to use.
//
// A Manager whose Config.Store is nil uses a process-wide MemoryStore (one
// per broker URL), so that two Managers built for the same app key in one
// process share their token and their issuance lock, and issue once between
// them.
type MemoryStore struct {
	mu      sync.Mutex
	entries map[Key]Entry
	locks   map[Key]chan struct{}
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return new(MemoryStore) }

// defaultStores holds the process-wide MemoryStores that Managers with a
// nil Config.Store share, one per broker URL.
var defaultStores sync.Map // string → *MemoryStore

// defaultStore returns the shared MemoryStore for p's URL at env. A
// Provider that cannot tell its URL shares the one for "".
func defaultStore(p Provider, env Env) *MemoryStore {
	url := ""
	if u, ok := p.(interface{ URL(Env) string }); ok {
		url = u.URL(env)
	}
	s, _ := defaultStores.LoadOrStore(url, new(MemoryStore))
	return s.(*MemoryStore)
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

// Save implements Store.
func (s *MemoryStore) Save(ctx context.Context, key Key, e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entries == nil {
		s.entries = make(map[Key]Entry)
	}
	s.entries[key] = e
	return nil
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

// Lock implements Locker. The lock is a one-slot channel per key, so that a
// waiter can give up when its ctx is done.
func (s *MemoryStore) Lock(ctx context.Context, key Key) (func(), error) {
	s.mu.Lock()
	if s.locks == nil {
		s.locks = make(map[Key]chan struct{})
	}
	ch, ok := s.locks[key]
	if !ok {
		ch = make(chan struct{}, 1)
		s.locks[key] = ch
	}
	s.mu.Unlock()
	select {
	case ch <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-ch }) }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
