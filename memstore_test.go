package kauth_test

import (
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) kauth.Store { return kauth.NewMemoryStore() })
}

// TestMemoryStoreShared checks that two handles on one MemoryStore (as two
// Managers in one process hold) share entries and the lock.
func TestMemoryStoreShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (a, b kauth.Store) {
		s := kauth.NewMemoryStore()
		return s, s
	})
}

func TestZeroMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) kauth.Store { return new(kauth.MemoryStore) })
}
