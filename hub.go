package kauth

import (
	"context"
	"reflect"
	"sync"
	"time"
)

// hub carries changes of one Store value to every Manager on it: a single
// Watch per Watcher store (not one per Manager), fanned out by key, and
// the changes that this process's own Managers make, which Watch does not
// report (it skips changes made through the same Store value). Closing a
// Manager leaves the hub; the last one to leave stops the watch.
type hub struct {
	store Store
	group *Group

	mu      sync.Mutex
	members map[Key]map[*Manager]struct{}
	n       int
	cancel  context.CancelFunc
	done    chan struct{}
}

// join adds m to the hub of its Store value in g, starting the hub's watch
// if m is the first member.
func (g *Group) join(m *Manager) *hub {
	g.mu.Lock()
	defer g.mu.Unlock()
	var h *hub
	// Only pointers are shared by identity: a Store of another kind may
	// not even be usable as a map key, and copies of it are distinct.
	shared := reflect.TypeOf(m.store).Kind() == reflect.Pointer
	if shared {
		h = g.hubs[m.store]
	}
	if h == nil {
		h = &hub{store: m.store, group: g, members: make(map[Key]map[*Manager]struct{})}
		if shared {
			if g.hubs == nil {
				g.hubs = make(map[Store]*hub)
			}
			g.hubs[m.store] = h
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.members[m.key] == nil {
		h.members[m.key] = make(map[*Manager]struct{})
	}
	h.members[m.key][m] = struct{}{}
	h.n++
	if w, ok := m.store.(Watcher); ok && h.n == 1 {
		ctx, cancel := context.WithCancel(context.Background())
		h.cancel, h.done = cancel, make(chan struct{})
		go h.watch(ctx, w, m.clock, m.log, h.done)
	}
	return h
}

// leave removes m; the last member stops the watch and waits for it.
func (h *hub) leave(m *Manager) {
	g := h.group
	g.mu.Lock()
	h.mu.Lock()
	if _, ok := h.members[m.key][m]; !ok {
		h.mu.Unlock()
		g.mu.Unlock()
		return
	}
	delete(h.members[m.key], m)
	if len(h.members[m.key]) == 0 {
		delete(h.members, m.key)
	}
	h.n--
	var cancel context.CancelFunc
	var done chan struct{}
	if h.n == 0 {
		cancel, done = h.cancel, h.done
		h.cancel, h.done = nil, nil
		if g.hubs[h.store] == h {
			delete(g.hubs, h.store)
		}
	}
	h.mu.Unlock()
	g.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// of returns the members for key (every member if all), except skip.
func (h *hub) of(key Key, all bool, skip *Manager) []*Manager {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*Manager
	add := func(ms map[*Manager]struct{}) {
		for sib := range ms {
			if sib != skip {
				out = append(out, sib)
			}
		}
	}
	if !all {
		// One key's members, looked up: an agent's thousands of first
		// tokens each tell their key's siblings.
		add(h.members[key])
		return out
	}
	for _, ms := range h.members {
		add(ms)
	}
	return out
}

// changed tells from's siblings on the same key that from wrote the store;
// rejected, if set, is the fingerprint of a token it revoked or found
// rejected, which they drop at once, whether or not the store could record
// it.
func (h *hub) changed(from *Manager, rejected string) {
	for _, sib := range h.of(from.key, false, from) {
		if rejected != "" {
			sib.dropRejected(rejected)
		}
		sib.requestReload()
	}
}

// watch follows other processes' changes to the store until ctx is done.
// After the watch was down, or on a resync, every member reloads.
func (h *hub) watch(ctx context.Context, w Watcher, clock Clock, log interface {
	Warn(msg string, args ...any)
}, done chan struct{}) {
	defer close(done)
	backoff := time.Second
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			// Changes made while the watch was down were not reported.
			for _, m := range h.of(Key{}, true, nil) {
				m.requestReload()
			}
		}
		err := w.Watch(ctx, func(c Change) {
			for _, m := range h.of(c.Key, c.Resync, nil) {
				m.requestReload()
			}
		})
		if ctx.Err() != nil {
			return
		}
		log.Warn("kauth: store watch ended; retrying", "err", err)
		if clock.Sleep(ctx, backoff) != nil {
			return
		}
		backoff = min(backoff*2, time.Minute)
	}
}
