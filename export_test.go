package kauth

import "time"

// WaitIdle blocks until no issuance, background refresh or reload is running, so
// that tests on a virtual clock can advance it deterministically.
func (m *Manager) WaitIdle() {
	for {
		m.mu.Lock()
		busy := m.bg || m.flight != nil || m.reloading
		m.mu.Unlock()
		if !busy {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}
